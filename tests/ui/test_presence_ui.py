"""The window keeps its pharmacist's presence: a heartbeat with the state, locked while locked, ended on close."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.ui.test_workflow import CLEAN, make_window, number, open_claimed
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation


def rows(ws: Workstation) -> list[tuple[str, bool]]:
    with ws.uow() as uow:
        return [(r.state, r.ended_at is not None) for r in uow.session.scalars(
            select(orm.Presence).order_by(orm.Presence.id))]


def test_the_heartbeat_follows_idle_reviewing_locked_and_closing(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    qtbot.waitUntil(lambda: rows(ws) == [("idle", False)], timeout=10_000)
    assert window._heartbeat.interval() == 15_000
    open_claimed(qtbot, window, number(series, CLEAN))
    window.beat()
    qtbot.waitUntil(lambda: rows(ws) == [("idle", True), ("reviewing", False)], timeout=10_000)
    assert ws.coverage.present_now() == ["YS-DEMO-0001"]
    window.lock(reason="test")
    qtbot.waitUntil(lambda: rows(ws)[-1] == ("locked", False), timeout=10_000)
    assert ws.coverage.present_now() == []  # a locked screen is nobody on duty
    window.close()
    qtbot.waitUntil(lambda: all(ended for _, ended in rows(ws)), timeout=10_000)


def test_a_leads_window_announces_a_coming_gap_once(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                    monkeypatch: Any) -> None:
    from ui.main_window import MainWindow
    from tests.ui.test_workflow import LEAD

    ws, _ = demo_ws
    hours = "date_or_weekday,open,close\n" + "".join(f"{d},00:00,23:59\n" for d in range(1, 8))
    ws.coverage.import_hours(ws.accounts.authenticate(LEAD, "demo-2026", where="test"), hours.encode(), "h.csv")
    told: list[str] = []
    monkeypatch.setattr(MainWindow, "_notify", lambda self, text: told.append(text))
    window = make_window(qtbot, ws, LEAD)
    qtbot.waitUntil(lambda: bool(window.coverage_alerts), timeout=20_000)
    assert window.coverage_alerts[0].kind in ("gap_coming", "gap_begun")
    window.poll()
    qtbot.waitUntil(lambda: not window._polling, timeout=20_000)
    assert len([t for t in told if "gap is coming" in t]) == 1  # announced once, however often it is polled


def test_on_postgresql_a_notification_from_another_workstation_refreshes_the_queue(
        qtbot: Any, demo_ws: tuple[Workstation, str], monkeypatch: Any) -> None:
    import threading

    from ui import main_window

    made: list[Any] = []

    class FakeListener:  # the demo database is SQLite: stand in for PostgreSQL's LISTEN
        def __init__(self, engine: Any, on_change: Any) -> None:
            self.on_change, self.stopped = on_change, False
            made.append(self)

        def start(self) -> FakeListener:
            return self

        def stop(self) -> None:
            self.stopped = True

    ws, _ = demo_ws
    monkeypatch.setattr(main_window, "QueueListener", FakeListener)
    monkeypatch.setattr(main_window, "listens_for_queue", lambda ws: True)
    window = make_window(qtbot, ws)
    [listener] = made
    polls: list[int] = []
    window.queue_changed.disconnect()
    window.queue_changed.connect(lambda: polls.append(1))
    threading.Thread(target=listener.on_change).start()  # from the listener's thread, queued to the window
    qtbot.waitUntil(lambda: polls == [1], timeout=5_000)
    window.close()
    assert listener.stopped


def test_the_leads_dashboard_shows_today_and_the_timeline(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                          tmp_path: Any) -> None:
    from datetime import datetime, timedelta

    from tests.ui.test_workflow import LEAD

    ws, _ = demo_ws
    lead = ws.accounts.authenticate(LEAD, "demo-2026", where="test")
    ws.coverage.import_hours(lead, ("date_or_weekday,open,close\n" + "".join(
        f"{d},00:00,23:59\n" for d in range(1, 8))).encode(), "h.csv")
    now = datetime.now().astimezone()
    roster = ("licence,start,end\n"
              f"{LEAD},{(now - timedelta(hours=1)).isoformat()},{(now + timedelta(hours=2)).isoformat()}\n")
    ws.coverage.import_roster(lead, roster.encode(), "r.csv")
    pharmacist_window = make_window(qtbot, ws)
    assert not pharmacist_window.dashboard_action.isEnabled()  # a pharmacist has no dashboard
    window = make_window(qtbot, ws, LEAD)
    window.open_dashboard()
    dashboard = window.dashboard
    qtbot.waitUntil(lambda: dashboard.loaded, timeout=20_000)
    assert "王主任" in dashboard.values["on_duty"].text()  # rostered and signed in
    assert int(dashboard.values["waiting"].text()) > 0
    assert len(dashboard.timeline.bands) == 3 and dashboard.timeline.bands[1][1]
    dashboard.period.setCurrentIndex(2)  # the month
    qtbot.waitUntil(lambda: dashboard.timeline.end - dashboard.timeline.start > timedelta(days=27), timeout=20_000)
    dashboard.resize(1200, 700)
    dashboard.grab().save(str(tmp_path / "dashboard.png"))

    assert dashboard.report_button.isVisible()  # the month's report, signed off by the lead
    dashboard.monthly_report()
    qtbot.waitUntil(lambda: getattr(dashboard, "report_preview", None) is not None
                    and dashboard.report_preview.isVisible(), timeout=20_000)
    assert len(dashboard.report_preview.images) >= 1
    from sqlalchemy import select

    from workstation.adapters.db import orm

    with ws.uow() as uow:
        assert uow.session.scalars(select(orm.AuditEvent.actor).where(
            orm.AuditEvent.action == "coverage.report_signed_off")).all() == [f"pharmacist:{LEAD}"]


def test_the_roster_editor_shows_the_week_and_records_why_each_change_was_made(
        qtbot: Any, demo_ws: tuple[Workstation, str], monkeypatch: Any, shown_messages: list[str]) -> None:
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from PySide6.QtWidgets import QInputDialog
    from sqlalchemy import select

    from tests.ui.test_workflow import LEAD, PHARMACIST

    ws, _ = demo_ws
    zone = ZoneInfo(ws.settings.pharmacy_time_zone)
    lead = ws.accounts.authenticate(LEAD, "demo-2026", where="test")
    today = datetime.now(zone).date()
    at = datetime.combine(today, time(8), zone)
    first = ws.coverage.add_shift(lead, PHARMACIST, at, at + timedelta(hours=7), reason="周计划")
    second = ws.coverage.add_shift(lead, LEAD, at + timedelta(hours=7), at + timedelta(hours=14), reason="周计划")
    window = make_window(qtbot, ws, LEAD)
    window.open_roster()
    editor = window.roster
    qtbot.waitUntil(lambda: editor.loaded, timeout=20_000)
    column = today.weekday()
    rows = {editor.licences[r]: r for r in range(len(editor.licences))}
    assert "08:00–15:00 审方" in editor.table.item(rows[PHARMACIST], column).text()
    editor.table.clearSelection()
    editor.table.item(rows[PHARMACIST], column).setSelected(True)
    editor.table.item(rows[LEAD], column).setSelected(True)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("李药师下午请假", True))
    editor.loaded = False
    editor.swap()
    qtbot.waitUntil(lambda: editor.loaded, timeout=20_000)
    assert "08:00–15:00" in editor.table.item(rows[LEAD], column).text()
    from workstation.adapters.db import orm

    with ws.uow() as uow:
        swapped = uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "roster.shifts_swapped")).one()
    assert "李药师下午请假" in swapped and str(first) in swapped
    editor.loaded = False
    editor.copy_week()  # this week, the template of the next
    qtbot.waitUntil(lambda: editor.loaded, timeout=20_000)
    assert len(ws.coverage.entries(lead, at + timedelta(days=7 - today.weekday()),
                                   at + timedelta(days=14 - today.weekday()))) == 2
    window.close()

    mine = make_window(qtbot, ws, PHARMACIST)  # a pharmacist sees their own shifts, read-only
    mine.open_roster()
    own = mine.roster
    qtbot.waitUntil(lambda: own.loaded, timeout=20_000)
    assert own.licences == [PHARMACIST] and not own.add_button.isVisible()
    assert "15:00–22:00" in own.table.item(0, column).text()
