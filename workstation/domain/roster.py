"""The roster (排班) and the business hours (营业时间) as pharmacy leads write them in CSV.

``roster.csv``: ``licence,start,end,role`` — ISO 8601 times with a UTC offset (``2026-12-07T08:00:00+08:00``),
the role defaulting to 审方. ``hours.csv``: ``date_or_weekday,open,close`` — a weekday (``mon`` … ``sun``,
``1``–``7``, ``周一`` … ``周日``) or a date (``2026-10-01``), local ``HH:MM`` times; a date with empty open
and close is a holiday, a date with times an adjusted working day (调休); a close at or before the open
is the next morning. Both are read whole or not at all: every problem is reported with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from workstation.domain.errors import DomainError
from workstation.domain.special_drugs import (
    CsvRowError,
    check_import_size,
    decode_csv_bytes,
    in_file_order,
    read_csv_table,
    summarise_errors,
)

ROSTER_COLUMNS = ("licence", "start", "end")
ROSTER_OPTIONAL = ("role",)
HOURS_COLUMNS = ("date_or_weekday", "open", "close")
DEFAULT_ROLE = "审方"
MAX_SHIFT_HOURS = 24

_WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                         "sunday"))},
    **{str(i + 1): i for i in range(7)},
    **{name: i for i, name in enumerate(("周一", "周二", "周三", "周四", "周五", "周六", "周日"))},
    **{name: i for i, name in enumerate(("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"))},
    "周天": 6, "星期天": 6,
}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class RosterImportError(DomainError):
    """A roster or hours file cannot be imported; ``errors`` lists every problem, by line."""

    def __init__(self, what: str, errors: tuple[CsvRowError, ...], source: str = "") -> None:
        self.errors = errors
        self.source = source
        super().__init__(summarise_errors(what, source, errors))


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int
    licence: str
    start: datetime
    end: datetime
    role: str


@dataclass(frozen=True, slots=True)
class HoursRow:
    line: int
    weekday: int | None
    day: date | None
    opens: time | None  # None with closes: closed (a holiday)
    closes: time | None


def _text(data: bytes, source: str, what: str) -> str:
    size = check_import_size(data)
    if size is not None:
        raise RosterImportError(what, (size,), source)
    text = decode_csv_bytes(data, allow_gb18030=True)
    if isinstance(text, CsvRowError):
        raise RosterImportError(what, (text,), source)
    return text


def _instant(raw: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse_roster_csv(data: bytes, source: str) -> list[RosterRow]:
    """The shifts of a roster file, all or none (RosterImportError lists every problem)."""
    what = "排班表无法导入 / roster import rejected"
    errors: list[CsvRowError] = []
    records = read_csv_table(_text(data, source, what), ROSTER_COLUMNS, ROSTER_OPTIONAL, errors)
    if records is None:
        raise RosterImportError(what, tuple(errors), source)
    rows: list[RosterRow] = []
    for r in records:
        found = len(errors)
        licence = r.cell("licence")
        if not licence:
            errors.append(CsvRowError(r.line, "licence", "缺少药师执业证号", "no licence"))
        times = []
        for column in ("start", "end"):
            value = _instant(r.cell(column))
            if value is None:
                errors.append(CsvRowError(
                    r.line, column, f"“{r.cell(column)}”不是带时区的 ISO 8601 时间（如 2026-12-07T08:00:00+08:00）",
                    f"{r.cell(column)!r} is not an ISO 8601 time with a UTC offset (e.g. 2026-12-07T08:00:00+08:00)"))
            times.append(value)
        start, end = times
        if start is not None and end is not None:
            if end <= start:
                errors.append(CsvRowError(r.line, "end", "结束时间须晚于开始时间", "the end must be after the start"))
            elif (end - start).total_seconds() > MAX_SHIFT_HOURS * 3600:
                errors.append(CsvRowError(r.line, "end", f"一个班次不超过 {MAX_SHIFT_HOURS} 小时",
                                          f"a shift is at most {MAX_SHIFT_HOURS} hours"))
        role = r.cell("role") or DEFAULT_ROLE
        if len(role) > 32:
            errors.append(CsvRowError(r.line, "role", "岗位名称过长（最多 32 字）", "the role is longer than 32 characters"))
        if len(errors) == found and start is not None and end is not None:
            rows.append(RosterRow(r.line, licence, start, end, role))
    by_licence: dict[str, list[RosterRow]] = {}
    for row in rows:
        by_licence.setdefault(row.licence, []).append(row)
    for shifts in by_licence.values():
        shifts.sort(key=lambda s: s.start)
        for before, after in zip(shifts, shifts[1:]):
            if after.start < before.end:
                errors.append(CsvRowError(after.line, "start", f"与第 {before.line} 行同一药师的班次重叠",
                                          f"overlaps the same pharmacist's shift on line {before.line}"))
    if not records and not errors:
        errors.append(CsvRowError(None, None, "文件只有表头，没有任何班次", "the file has a header but no shifts"))
    if errors:
        raise RosterImportError(what, in_file_order(errors), source)
    return rows


def parse_hours_csv(data: bytes, source: str) -> list[HoursRow]:
    """The business hours of an hours file, all or none."""
    what = "营业时间无法导入 / business hours import rejected"
    errors: list[CsvRowError] = []
    records = read_csv_table(_text(data, source, what), HOURS_COLUMNS, (), errors)
    if records is None:
        raise RosterImportError(what, tuple(errors), source)
    rows = []
    for r in records:
        found = len(errors)
        key = r.cell("date_or_weekday").strip()
        weekday, day = _WEEKDAYS.get(key.lower()), None
        if weekday is None:
            try:
                day = date.fromisoformat(key)
            except ValueError:
                errors.append(CsvRowError(r.line, "date_or_weekday",
                                          f"“{key}”既不是星期（mon…sun、1–7、周一…周日）也不是日期（2026-10-01）",
                                          f"{key!r} is neither a weekday (mon…sun, 1–7) nor a date (2026-10-01)"))
        opens_raw, closes_raw = r.cell("open"), r.cell("close")
        opens = closes = None
        if bool(opens_raw) != bool(closes_raw):
            errors.append(CsvRowError(r.line, "close" if opens_raw else "open", "开门与关门时间须同时填写或同时留空（休息日）",
                                      "give both open and close, or neither (closed that day)"))
        elif opens_raw:
            parsed: list[time | None] = []
            for column, raw in (("open", opens_raw), ("close", closes_raw)):
                m = _HHMM.match(raw)
                if m is None:
                    errors.append(CsvRowError(r.line, column, f"“{raw}”不是 HH:MM 时间", f"{raw!r} is not an HH:MM time"))
                    parsed.append(None)
                else:
                    parsed.append(time(int(m[1]), int(m[2])))
            opens, closes = parsed
            if opens is not None and opens == closes:
                errors.append(CsvRowError(r.line, "close", "开门与关门时间相同", "open and close are the same"))
        elif weekday is not None:
            errors.append(CsvRowError(r.line, "open", "星期行须有营业时间；不营业的星期不写即可",
                                      "a weekday row needs hours; leave out a weekday that is closed"))
        if len(errors) == found:
            rows.append(HoursRow(r.line, weekday, day, opens, closes))
    if not records and not errors:
        errors.append(CsvRowError(None, None, "文件只有表头，没有任何营业时间", "the file has a header but no hours"))
    if errors:
        raise RosterImportError(what, in_file_order(errors), source)
    return rows
