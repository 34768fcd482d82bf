"""JSON encoding of the frozen snapshots, exact both ways (Decimal as text, dates as ISO 8601)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


_PLAIN = frozenset({str, int, float, bool, type(None)})


@cache
def _field_names(cls: Any) -> tuple[str, ...] | None:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for a snapshot. Dispatches on the exact type: this runs for every stored row."""
    cls: Any = type(value)
    if cls in _PLAIN:
        return value
    if cls is tuple or cls is list:
        return [to_jsonable(v) for v in value]
    names = _field_names(cls)
    if names is not None:
        return {n: to_jsonable(getattr(value, n)) for n in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def loads(cls: type[T], text: str) -> T:
    return typing.cast(T, _decode(cls, json.loads(text)))


@cache
def _defaulted(cls: Any) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(inner[0], value)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        return tuple(_decode(inner, v) for v in value)
    names = _field_names(tp) if isinstance(tp, type) else None
    if names is not None:
        hints = _hints(tp)
        # A field missing from older stored JSON takes its default (fields are only ever added with one).
        defaulted = _defaulted(tp)
        return tp(**{n: _decode(hints[n], value.get(n)) for n in names if n in value or n not in defaulted})
    if isinstance(tp, type):
        if issubclass(tp, Enum):
            return tp(value)
        if tp is datetime:
            return datetime.fromisoformat(value)
        if tp is date:
            return date.fromisoformat(value)
        if tp is Decimal:
            return Decimal(value)
    return value
