"""Times as people read them: in the pharmacy's time zone, with the zone shown.

The database keeps UTC; every time printed for a person (claim leases, locks, the release list, formulary
versions, signature checks) goes through :func:`shown`, so a pharmacist in Urumqi or Shanghai never has to
work out which clock a time was written in.

>>> from datetime import UTC, datetime
>>> shown(datetime(2026, 12, 6, 16, 5, tzinfo=UTC), "Asia/Shanghai")
'2026-12-07 00:05 CST (Asia/Shanghai)'
>>> shown(datetime(2026, 12, 6, 16, 5, 9, tzinfo=UTC), "UTC", seconds=True)
'2026-12-06 16:05:09 UTC (UTC)'
>>> shown(None, "Asia/Shanghai")
'—'
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def shown(moment: datetime | None, zone: str, *, seconds: bool = False) -> str:
    """``moment`` in ``zone``, its abbreviation and name shown; a naive moment is taken as UTC; None is a dash."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone(_zone(zone))
    return f"{local.strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')} {local.tzname()} ({zone})"
