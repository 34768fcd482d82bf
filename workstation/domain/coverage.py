"""On-duty coverage (药师在岗): business hours against the roster and against who was actually reviewing.

The internet-hospital rules require a pharmacist reviewing prescriptions through all business hours.
This module is pure (no database, no clock): given the business calendar, the rostered shifts and the
presence intervals of each pharmacist, :func:`coverage` computes, for any period,

* the *planned gaps*: business hours with no reviewing pharmacist rostered;
* the *actual gaps*: business hours with no pharmacist on duty — rostered *and* present (signed in at a
  workstation that is not locked, with a fresh heartbeat).

Intervals are half-open ``[start, end)`` of aware datetimes. Business hours are written in the
pharmacy's local time (a span may run past midnight: ``08:00``–``01:00`` closes the next morning).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

REVIEWING_ROLES = frozenset({"审方", "review"})  # the shifts that count as a reviewing pharmacist


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an interval needs aware datetimes (with a UTC offset)")

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class Shift:
    licence: str
    start: datetime
    end: datetime
    role: str = "审方"

    def interval(self) -> Interval:
        return Interval(self.start, self.end)


Span = tuple[time, time]  # open, close in local time; close <= open means after midnight


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Opening hours per weekday (0 = Monday), and the days that differ: a public holiday (no spans) or an
    adjusted working day (调休, with its own spans)."""

    zone: str
    weekly: Mapping[int, tuple[Span, ...]]
    days: Mapping[date, tuple[Span, ...]] = field(default_factory=dict)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        return self.days[day] if day in self.days else self.weekly.get(day.weekday(), ())

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Business hours within ``[start, end)``."""
        zone = ZoneInfo(self.zone)
        first = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's late hours may run into today
        last = end.astimezone(zone).date()
        found: list[Interval] = []
        day = first
        while day <= last:
            for opens, closes in self.spans_on(day):
                a = datetime.combine(day, opens, zone)
                b = datetime.combine(day + timedelta(days=1) if closes <= opens else day, closes, zone)
                found.append(Interval(a, b))
            day += timedelta(days=1)
        return clip(union(found), start, end)


@dataclass(frozen=True, slots=True)
class Coverage:
    start: datetime
    end: datetime
    business_seconds: float
    covered_seconds: float  # business hours with a pharmacist on duty
    planned_gaps: tuple[Interval, ...]
    actual_gaps: tuple[Interval, ...]

    @property
    def coverage_pct(self) -> float:
        return 100.0 if self.business_seconds == 0 else round(100.0 * self.covered_seconds / self.business_seconds, 2)

    def as_json(self) -> dict[str, object]:
        def gaps(found: Sequence[Interval]) -> list[dict[str, object]]:
            return [{"start": g.start.isoformat(), "end": g.end.isoformat(), "seconds": int(round(g.seconds))}
                    for g in found]
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "business_seconds": int(round(self.business_seconds)),
                "covered_seconds": int(round(self.covered_seconds)), "coverage_pct": self.coverage_pct,
                "planned_gaps": gaps(self.planned_gaps), "actual_gaps": gaps(self.actual_gaps)}


# --------------------------------------------------------------------------- interval arithmetic
# Done on (start, end) pairs of POSIX seconds: sorting and comparing floats is an order of magnitude
# cheaper than datetimes, and a year of 50 pharmacists' shifts is tens of thousands of intervals.

Pair = tuple[float, float]


def _pairs(intervals: Iterable[Interval]) -> list[Pair]:
    return [(iv.start.timestamp(), iv.end.timestamp()) for iv in intervals]


def _intervals(pairs: Iterable[Pair], zone: tzinfo = UTC) -> list[Interval]:
    return [Interval(datetime.fromtimestamp(a, zone), datetime.fromtimestamp(b, zone)) for a, b in pairs]


def _union(pairs: Iterable[Pair]) -> list[Pair]:
    merged: list[Pair] = []
    for a, b in sorted(p for p in pairs if p[1] > p[0]):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _intersect(a: Sequence[Pair], b: Sequence[Pair]) -> list[Pair]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _subtract(a: Sequence[Pair], b: Sequence[Pair]) -> list[Pair]:
    out: list[Pair] = []
    starts = [p[0] for p in b]
    for lo, hi in a:
        cursor = lo
        k = max(bisect.bisect_right(starts, lo) - 1, 0)
        while k < len(b) and b[k][0] < hi:
            cut_lo, cut_hi = b[k]
            if cut_hi > cursor:
                if cut_lo > cursor:
                    out.append((cursor, min(cut_lo, hi)))
                cursor = max(cursor, cut_hi)
            if cursor >= hi:
                break
            k += 1
        if cursor < hi:
            out.append((cursor, hi))
    return out


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, merged, without empty intervals; touching intervals merge."""
    return _intervals(_union(_pairs(intervals)))


def clip(merged: Sequence[Interval], start: datetime, end: datetime) -> list[Interval]:
    """``merged`` (sorted, disjoint) within ``[start, end)``."""
    out = []
    for iv in merged:
        a, b = max(iv.start, start), min(iv.end, end)
        if b > a:
            out.append(Interval(a, b))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The intersection of two sorted, disjoint lists."""
    return _intervals(_intersect(_pairs(a), _pairs(b)))


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """``a`` minus ``b``, both sorted and disjoint."""
    return _intervals(_subtract(_pairs(a), _pairs(b)))


def seconds(intervals: Iterable[Interval]) -> float:
    return sum(iv.seconds for iv in intervals)


# --------------------------------------------------------------------------- coverage


def _on_duty(shifts: Iterable[tuple[str, Pair]], presence: Mapping[str, Sequence[Interval]]) -> list[Pair]:
    by_licence: dict[str, list[Pair]] = {}
    for licence, pair in shifts:
        by_licence.setdefault(licence, []).append(pair)
    duty: list[Pair] = []
    for licence, rostered in by_licence.items():
        duty += _intersect(_union(rostered), _union(_pairs(presence.get(licence, ()))))
    return _union(duty)


def _reviewing(shifts: Iterable[Shift], roles: frozenset[str]) -> list[tuple[str, Pair]]:
    return [(s.licence, (s.start.timestamp(), s.end.timestamp())) for s in shifts if s.role in roles]


def on_duty(shifts: Iterable[Shift], presence: Mapping[str, Sequence[Interval]],
            roles: frozenset[str] = REVIEWING_ROLES) -> list[Interval]:
    """When at least one pharmacist was rostered to review and present at the same time."""
    return _intervals(_on_duty(_reviewing(shifts, roles), presence))


def coverage(calendar: BusinessCalendar, shifts: Sequence[Shift], presence: Mapping[str, Sequence[Interval]],
             start: datetime, end: datetime, *, roles: frozenset[str] = REVIEWING_ROLES) -> Coverage:
    """Business hours in ``[start, end)`` against the roster (planned) and against who was on duty (actual).
    Gaps are given in the calendar's time zone."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    zone = ZoneInfo(calendar.zone)
    business = _pairs(calendar.intervals(start, end))
    reviewing = _reviewing(shifts, roles)
    planned = _subtract(business, _union(pair for _, pair in reviewing))
    actual = _subtract(business, _on_duty(reviewing, presence))
    total = sum(b - a for a, b in business)
    uncovered = sum(b - a for a, b in actual)
    return Coverage(start, end, total, total - uncovered, tuple(_intervals(planned, zone)),
                    tuple(_intervals(actual, zone)))
