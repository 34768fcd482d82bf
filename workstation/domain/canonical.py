"""Canonical prescription content: the exact bytes a prescriber signs and the pharmacy hashes.

Intake profile §7: the RFC 8785 (JCS) canonical JSON of the array of a prescription's
MedicationRequests sorted by ``id``, each without ``meta`` and ``text``. The same bytes give the
prescription's ``content_sha256`` (versioning, the approval signature, release checks).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785

_VOLATILE = ("meta", "text")


def prescription_content(medication_requests: Iterable[Mapping[str, Any]]) -> bytes:
    """Return the JCS bytes of the MedicationRequests, sorted by id, without meta/text."""
    stripped = [{k: v for k, v in mr.items() if k not in _VOLATILE} for mr in medication_requests]
    stripped.sort(key=lambda mr: str(mr.get("id", "")))
    return jcs(stripped)


_MAX_EXACT_INT = 2**53 - 1


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``.

    For JSON without floats, with integers a double holds exactly and with keys in the Basic
    Multilingual Plane, RFC 8785 output is what ``json.dumps`` writes with sorted keys and no
    whitespace (same escapes, and UTF-16 order equals code-point order for BMP keys). That covers
    nearly every prescription and is several times faster than the general serializer, which
    handles everything else. tests/unit/domain/test_canonical.py holds the two to the same bytes.
    """
    if _plain(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 judge it
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is dict:
            for k in v:
                if type(k) is not str or (not k.isascii() and max(map(ord, k)) > 0xFFFF):
                    return False
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t is int:
            if not -_MAX_EXACT_INT <= v <= _MAX_EXACT_INT:
                return False
        else:  # floats and anything else take the general path
            return False
    return True


def content_sha256(medication_requests: Iterable[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of :func:`prescription_content`."""
    return hashlib.sha256(prescription_content(medication_requests)).hexdigest()
