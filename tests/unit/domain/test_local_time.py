"""Times shown to people: in the pharmacy's zone, with the zone named."""

from __future__ import annotations

from datetime import UTC, datetime

from workstation.domain.local_time import shown


def test_utc_is_shown_in_the_pharmacy_zone_with_the_zone_named() -> None:
    assert shown(datetime(2026, 12, 6, 16, 5, tzinfo=UTC), "Asia/Shanghai") == "2026-12-07 00:05 CST (Asia/Shanghai)"
    assert shown(datetime(2026, 12, 6, 16, 5, 9, tzinfo=UTC), "Asia/Urumqi", seconds=True) == \
        "2026-12-06 22:05:09 +06 (Asia/Urumqi)"


def test_a_naive_time_is_utc_and_none_is_a_dash() -> None:
    assert shown(datetime(2026, 12, 6, 16, 5), "Asia/Shanghai") == "2026-12-07 00:05 CST (Asia/Shanghai)"
    assert shown(None, "Asia/Shanghai") == "—"
