"""The coverage function: business hours against the roster and against who was on duty."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.domain.coverage import (
    BusinessCalendar,
    Interval,
    Shift,
    coverage,
    intersect,
    on_duty,
    seconds,
    subtract,
    union,
)

SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {d: ((time(8), time(22)),) for d in range(5)} | {5: ((time(9), time(17)),), 6: ((time(9), time(12)),)}
MONDAY = datetime(2026, 12, 7, tzinfo=SH)


def at(hours: float) -> datetime:
    return MONDAY + timedelta(hours=hours)


def test_business_hours_follow_the_week_the_holidays_and_the_adjusted_working_days() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", WEEKDAYS, {date(2026, 12, 8): (), date(2026, 12, 13): ((time(8), time(22)),)})
    week = calendar.intervals(MONDAY, MONDAY + timedelta(days=7))
    hours = [(iv.start.astimezone(SH).date().day, iv.seconds / 3600) for iv in week]
    assert hours == [(7, 14), (9, 14), (10, 14), (11, 14), (12, 8), (13, 14)]  # Tuesday a holiday, Sunday 调休


def test_late_hours_run_past_midnight_and_a_period_cuts_them() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", {0: ((time(18), time(1)),)})
    [late] = calendar.intervals(MONDAY, MONDAY + timedelta(days=2))
    assert (late.start, late.end) == (at(18), at(25))
    [cut] = calendar.intervals(at(24), at(30))
    assert (cut.start, cut.end) == (at(24), at(25))


def test_planned_and_actual_gaps() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", {0: ((time(8), time(22)),)})
    shifts = [Shift("A", at(8), at(15)), Shift("B", at(14), at(20)), Shift("C", at(20), at(22), role="调剂")]
    presence = {"A": [Interval(at(8), at(12))], "B": [Interval(at(13), at(22))], "C": [Interval(at(8), at(22))]}
    result = coverage(calendar, shifts, presence, at(0), at(24))
    assert [(g.start, g.end) for g in result.planned_gaps] == [(at(20), at(22))]  # C does not review
    assert [(g.start, g.end) for g in result.actual_gaps] == [(at(12), at(14)), (at(20), at(22))]
    assert result.business_seconds == 14 * 3600 and result.covered_seconds == 10 * 3600
    assert result.coverage_pct == pytest.approx(71.43)
    body = result.as_json()
    assert body["planned_gaps"] == [{"start": at(20).isoformat(), "end": at(22).isoformat(), "seconds": 7200}]
    assert set(body) >= {"business_seconds", "covered_seconds", "coverage_pct", "planned_gaps", "actual_gaps"}


def test_no_business_hours_is_full_coverage_and_a_reversed_period_is_refused() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", {})
    assert coverage(calendar, [], {}, at(0), at(24)).coverage_pct == 100.0
    with pytest.raises(ValueError):
        coverage(calendar, [], {}, at(2), at(1))
    with pytest.raises(ValueError):
        Interval(datetime(2026, 1, 1), datetime(2026, 1, 2))


# --------------------------------------------------------------------------- properties

minutes = st.integers(min_value=0, max_value=24 * 60 * 2)


@st.composite
def intervals(draw: st.DrawFn, max_size: int = 8) -> list[Interval]:
    pairs = draw(st.lists(st.tuples(minutes, st.integers(min_value=1, max_value=600)), max_size=max_size))
    return [Interval(MONDAY + timedelta(minutes=a), MONDAY + timedelta(minutes=a + d)) for a, d in pairs]


@st.composite
def rosters(draw: st.DrawFn) -> tuple[list[Shift], dict[str, list[Interval]]]:
    shifts, presence = [], {}
    for licence in draw(st.lists(st.sampled_from("ABCD"), unique=True, max_size=4)):
        shifts += [Shift(licence, iv.start, iv.end) for iv in draw(intervals(5))]
        presence[licence] = draw(intervals(5))
    return shifts, presence


def covered_minutes(iv: list[Interval]) -> set[int]:
    return {m for i in iv for m in range(int((i.start - MONDAY).total_seconds() // 60),
                                          int((i.end - MONDAY).total_seconds() // 60))}


CALENDAR = BusinessCalendar("Asia/Shanghai", WEEKDAYS)


@settings(max_examples=150, deadline=None)
@given(rosters())
def test_a_gap_is_never_reported_where_a_pharmacist_is_on_duty(roster: tuple[list[Shift], dict[str, list[Interval]]]) -> None:
    shifts, presence = roster
    result = coverage(CALENDAR, shifts, presence, MONDAY, MONDAY + timedelta(days=2))
    duty = on_duty(shifts, presence)
    assert intersect(list(result.actual_gaps), duty) == []
    assert intersect(list(result.planned_gaps), union(s.interval() for s in shifts)) == []
    # …and every minute of business hours is either covered or in a gap, never both.
    business = CALENDAR.intervals(MONDAY, MONDAY + timedelta(days=2))
    assert covered_minutes(list(result.actual_gaps)) | covered_minutes(intersect(business, duty)) == covered_minutes(business)
    assert result.covered_seconds == pytest.approx(seconds(intersect(business, duty)))


@settings(max_examples=150, deadline=None)
@given(rosters(), st.data())
def test_merging_and_splitting_shifts_does_not_change_coverage(
        roster: tuple[list[Shift], dict[str, list[Interval]]], data: st.DataObject) -> None:
    shifts, presence = roster
    end = MONDAY + timedelta(days=2)
    before = coverage(CALENDAR, shifts, presence, MONDAY, end)
    split: list[Shift] = []
    for s in shifts:  # each shift cut at a point in it
        minutes_long = int((s.end - s.start).total_seconds() // 60)
        cut = s.start + timedelta(minutes=data.draw(st.integers(min_value=0, max_value=minutes_long)))
        split += [Shift(s.licence, s.start, cut), Shift(s.licence, cut, s.end)]
    merged = [Shift(licence, iv.start, iv.end) for licence in {s.licence for s in shifts}
              for iv in union(s.interval() for s in shifts if s.licence == licence)]
    for other in (split, merged):
        after = coverage(CALENDAR, other, presence, MONDAY, end)
        assert (after.planned_gaps, after.actual_gaps, after.covered_seconds) == (
            before.planned_gaps, before.actual_gaps, before.covered_seconds)


@settings(max_examples=200, deadline=None)
@given(intervals(), intervals())
def test_interval_arithmetic_agrees_with_counting_minutes(a: list[Interval], b: list[Interval]) -> None:
    ua, ub = union(a), union(b)
    assert covered_minutes(union(a + b)) == covered_minutes(a) | covered_minutes(b)
    assert covered_minutes(intersect(ua, ub)) == covered_minutes(a) & covered_minutes(b)
    assert covered_minutes(subtract(ua, ub)) == covered_minutes(a) - covered_minutes(b)
    assert all(x.end < y.start for x, y in zip(union(a), union(a)[1:]))  # merged: disjoint, not touching
    assert all(iv.start.tzinfo is not None for iv in subtract(ua, ub))
