"""Benchmark: on-duty coverage for a year with 50 pharmacists, beside a bare sort of the same intervals.

Run alone: ``python -m tests.perf.bench_coverage``. 50 pharmacists each work about five 8-hour shifts a
week through a year (13,000 shifts), present for most of each with random breaks (about 26,000 presence
intervals); business hours 08:00–22:00 every day with public holidays. The baseline is what any
computation must do at least: sort all the shift and presence intervals once. Target: under 100 ms.
The last line prints the figures and the ratio.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from statistics import median
from zoneinfo import ZoneInfo

from workstation.domain.coverage import BusinessCalendar, Interval, Shift, coverage

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 1, tzinfo=SH)
END = datetime(2027, 1, 1, tzinfo=SH)


def year(pharmacists: int = 50, seed: int = 11) -> tuple[BusinessCalendar, list[Shift], dict[str, list[Interval]]]:
    rng = random.Random(seed)
    holidays = {date(2026, 1, 1): (), date(2026, 10, 1): (), date(2026, 10, 2): (), date(2026, 10, 3): ()}
    calendar = BusinessCalendar("Asia/Shanghai", {d: ((clock(8), clock(22)),) for d in range(7)}, holidays)
    shifts: list[Shift] = []
    presence: dict[str, list[Interval]] = {}
    for p in range(pharmacists):
        licence = f"YS{p:04d}"
        day = START
        while day < END:
            if rng.random() < 5 / 7:
                begin = day + timedelta(hours=rng.choice((8, 10, 14)))
                shift = Shift(licence, begin, begin + timedelta(hours=8))
                shifts.append(shift)
                t = shift.start + timedelta(minutes=rng.randint(0, 20))
                for _ in range(2):  # present in two stretches, a break between
                    stretch = timedelta(minutes=rng.randint(150, 230))
                    presence.setdefault(licence, []).append(Interval(t, t + stretch))
                    t += stretch + timedelta(minutes=rng.randint(5, 60))
            day += timedelta(days=1)
    # As the database gives them back: in UTC.
    shifts = [Shift(s.licence, s.start.astimezone(UTC), s.end.astimezone(UTC)) for s in shifts]
    presence = {k: [Interval(iv.start.astimezone(UTC), iv.end.astimezone(UTC)) for iv in v] for k, v in presence.items()}
    return calendar, shifts, presence


def main() -> None:
    calendar, shifts, presence = year()
    n_presence = sum(len(v) for v in presence.values())
    runs, bares = [], []
    for _ in range(7):
        everything = [s.interval() for s in shifts] + [iv for v in presence.values() for iv in v]
        t0 = time.perf_counter()
        sorted(everything)
        bares.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = coverage(calendar, shifts, presence, START, END)
        runs.append(time.perf_counter() - t0)
    ours, bare = median(runs) * 1000, median(bares) * 1000
    print(f"{len(shifts):,} shifts and {n_presence:,} presence intervals of 50 pharmacists over 2026")
    print(f"coverage {result.coverage_pct}% of {result.business_seconds / 3600:,.0f} business hours; "
          f"{len(result.planned_gaps)} planned and {len(result.actual_gaps)} actual gaps")
    verdict = "met" if ours < 100 else "NOT met"
    print(f"coverage of a year {ours:.1f} ms (median of 7) | bare sort of the intervals {bare:.1f} ms | "
          f"ratio {ours / bare:.1f}x (target < 100 ms: {verdict})")


if __name__ == "__main__":
    main()
