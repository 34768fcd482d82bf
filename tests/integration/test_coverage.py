"""Roster and business hours imported all or nothing, presence kept by heartbeats, coverage from the database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import Pharmacy
from workstation.adapters.db import orm
from workstation.domain.roster import RosterImportError
from workstation.services.coverage import CoverageService

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 12, 7, tzinfo=SH)
HOURS = "date_or_weekday,open,close\nmon,08:00,22:00\ntue,08:00,22:00\n2026-12-08,,\n"
ROSTER = ("licence,start,end,role\n"
          "PH0001,2026-12-07T08:00:00+08:00,2026-12-07T15:00:00+08:00,审方\n"
          "PH0002,2026-12-07T14:00:00+08:00,2026-12-07T20:00:00+08:00,审方\n")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_coverage_from_imported_hours_roster_and_heartbeats(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    assert ws.coverage.import_hours(pharmacy.lead, HOURS.encode(), "hours.csv") == (2, 1)
    assert ws.coverage.import_roster(pharmacy.lead, ROSTER.encode(), "roster.csv") == 2
    clock = Clock(MONDAY + timedelta(hours=8))
    service = CoverageService(ws.uow, time_zone="Asia/Shanghai", clock=clock)
    # PH0001 reviews 08:00–12:00, then the window is locked 12:00–13:00, then closed.
    while clock.at < MONDAY + timedelta(hours=12):
        service.beat(pharmacy.pharmacist, "ws-1", "reviewing")
        clock.at += timedelta(seconds=15)
    while clock.at < MONDAY + timedelta(hours=13):
        service.beat(pharmacy.pharmacist, "ws-1", "locked")
        clock.at += timedelta(seconds=15)
    service.leave("ws-1")
    clock.at = MONDAY + timedelta(hours=14)
    assert service.on_duty_now() == []  # PH0002 is rostered now but not signed in
    service.beat(pharmacy.lead, "ws-2", "idle")  # PH0002 from 14:00, heartbeat lost after 19:00
    while clock.at < MONDAY + timedelta(hours=19):
        clock.at += timedelta(seconds=15)
        service.beat(pharmacy.lead, "ws-2", "reviewing" if clock.at.minute % 2 else "idle")
    assert service.on_duty_now() == ["PH0002"]
    clock.at = MONDAY + timedelta(hours=23)

    result = service.coverage(pharmacy.lead, MONDAY, MONDAY + timedelta(days=2))
    gaps = [(g.start.astimezone(SH).strftime("%H:%M"), g.end.astimezone(SH).strftime("%H:%M"))
            for g in result.actual_gaps]
    assert [(g.start, g.end) for g in result.planned_gaps] == [(MONDAY + timedelta(hours=20), MONDAY + timedelta(hours=22))]
    assert gaps == [("12:00", "14:00"), ("19:00", "22:00")]  # Tuesday is a holiday
    assert result.business_seconds == 14 * 3600
    assert abs(result.covered_seconds - 9 * 3600) <= 60  # 08–12 and 14–19, the last heartbeat within 45 s
    with ws.uow() as uow:
        actions = list(uow.session.scalars(select(orm.AuditEvent.action).where(
            orm.AuditEvent.action.in_(("roster.imported", "hours.imported")))))
    assert actions == ["hours.imported", "roster.imported"]


def test_a_bad_roster_imports_nothing_and_names_every_line(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    ws.coverage.import_roster(pharmacy.lead, ROSTER.encode(), "roster.csv")
    bad = ("licence,start,end\n"
           "PH0001,2026-12-07T10:00:00+08:00,2026-12-07T11:00:00+08:00\n"  # overlaps a stored shift
           "PH9999,2026-12-08T08:00:00+08:00,2026-12-08T12:00:00+08:00\n"  # unknown
           "PH0002,2026-12-09T08:00:00,2026-12-09T12:00:00+08:00\n"  # no offset
           "PH0002,2026-12-10T12:00:00+08:00,2026-12-10T08:00:00+08:00\n")  # ends before it starts
    with pytest.raises(RosterImportError) as err:
        ws.coverage.import_roster(pharmacy.lead, bad.encode(), "bad.csv")
    assert [e.line for e in err.value.errors] == [4, 5]  # the file's own problems first, all or nothing
    good_lines = bad.splitlines()[:3]
    with pytest.raises(RosterImportError) as err:
        ws.coverage.import_roster(pharmacy.lead, ("\n".join(good_lines) + "\n").encode(), "bad.csv")
    assert [(e.line, e.column) for e in err.value.errors] == [(2, "start"), (3, "licence")]
    assert len(ws.coverage.shifts(MONDAY, MONDAY + timedelta(days=7))) == 2


def test_hours_rows_are_checked(pharmacy: Pharmacy) -> None:
    bad = "date_or_weekday,open,close\nfunday,08:00,22:00\nmon,8am,22:00\n2026-10-01,08:00,\nwed,,\n"
    with pytest.raises(RosterImportError) as err:
        pharmacy.ws.coverage.import_hours(pharmacy.lead, bad.encode(), "hours.csv")
    assert [e.line for e in err.value.errors] == [2, 3, 4, 5]


def test_the_command_line_imports_exports_and_reports(pharmacy: Pharmacy, cli: Any, tmp_path: Any) -> None:
    (tmp_path / "hours.csv").write_text(HOURS, encoding="utf-8")
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    code, out, err = cli("hours", "import", str(tmp_path / "hours.csv"))
    assert code == 0 and "2 weekday spans, 1 dates" in out, err
    code, out, err = cli("roster", "import", str(tmp_path / "roster.csv"), "--as", "PH0002")
    assert code == 0 and "2 shifts" in out, err
    code, out, _ = cli("roster", "export", "--from", "2026-12-07", "--to", "2026-12-08")
    assert out.splitlines() == ["licence,start,end,role", "PH0001,2026-12-07T08:00:00+08:00,2026-12-07T15:00:00+08:00,审方",
                                "PH0002,2026-12-07T14:00:00+08:00,2026-12-07T20:00:00+08:00,审方"]
    code, out, _ = cli("coverage", "--from", "2026-12-07T00:00:00+08:00", "--to", "2026-12-08T00:00:00+08:00", "--json")
    body = json.loads(out)
    assert code == 0 and body["business_seconds"] == 14 * 3600 and body["covered_seconds"] == 0
    assert body["coverage_pct"] == 0.0 and [g["seconds"] for g in body["planned_gaps"]] == [7200]
    assert body["actual_gaps"] == [{"start": "2026-12-07T08:00:00+08:00", "end": "2026-12-07T22:00:00+08:00",
                                    "seconds": 14 * 3600}]
    code, out, _ = cli("coverage", "--from", "2026-12-07", "--to", "2026-12-08")
    assert code == 0 and "0.0%" in out and "(Asia/Shanghai)" in out
    (tmp_path / "bad.csv").write_text("licence,start,end\nPH0001,x,y\n", encoding="utf-8")
    code, _, err = cli("roster", "import", str(tmp_path / "bad.csv"))
    assert code == 1 and "line 2" in err


def test_leads_are_alerted_to_a_gap_coming_and_to_one_begun(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    ws.coverage.import_hours(pharmacy.lead, HOURS.encode(), "hours.csv")
    ws.coverage.import_roster(pharmacy.lead, ROSTER.encode(), "roster.csv")
    clock = Clock(MONDAY + timedelta(hours=19, minutes=45))
    service = CoverageService(ws.uow, time_zone="Asia/Shanghai", clock=clock)
    service.beat(pharmacy.lead, "ws-2", "reviewing")
    [coming] = service.alerts()  # PH0002 is on until 20:00; nobody after
    assert coming.kind == "gap_coming" and coming.start == MONDAY + timedelta(hours=20)
    assert "gap is coming" in coming.text("Asia/Shanghai")
    pharmacy.receive("RXGAP1")
    clock.at = MONDAY + timedelta(hours=20, minutes=5)
    kinds = {a.kind: a for a in service.alerts()}
    assert set(kinds) == {"gap_begun", "gap_coming"} and kinds["gap_begun"].waiting == 1
    clock.at += timedelta(minutes=5)
    later = {a.kind: a for a in service.alerts()}
    assert later["gap_begun"].start == kinds["gap_begun"].start  # one gap, one start, however often asked
    clock.at = MONDAY + timedelta(hours=23)  # closed: no alert
    assert service.alerts() == []
    with ws.uow() as uow:  # and nothing was decided for it
        assert uow.session.scalars(select(orm.Decision)).all() == []


def test_the_leads_view_of_today_counts_workload_and_waiting(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    pharmacy.receive("RXDASH1")
    pharmacy.receive("RXDASH2")
    pharmacy.receive("RXDASH3")
    pharmacy.approve("RXDASH1")
    ws.claims.claim(pharmacy.pharmacist, "RXDASH2")
    ws.decisions.reject(pharmacy.pharmacist, "RXDASH2", code="other", comment="dashboard test")
    ws.coverage.beat(pharmacy.pharmacist, "ws-1", "idle")
    today = ws.coverage.today(pharmacy.lead)
    assert today.waiting == 1 and today.waiting_p50_seconds is not None and today.waiting_p50_seconds >= 0
    assert today.present == ("李药师",) and today.on_duty == ()  # signed in, but not rostered
    [mine] = today.workload
    assert (mine.licence, mine.approved, mine.rejected, mine.returned) == ("PH0001", 1, 1, 0)
    assert mine.median_decision_seconds is not None and mine.median_decision_seconds >= 0
    with pytest.raises(Exception, match="may not view coverage"):
        ws.coverage.today(pharmacy.pharmacist)


def test_shifts_are_added_moved_swapped_and_removed_with_who_and_why(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    c = ws.coverage
    a = c.add_shift(pharmacy.lead, "PH0001", MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=15), reason="周计划")
    b = c.add_shift(pharmacy.lead, "PH0002", MONDAY + timedelta(hours=15), MONDAY + timedelta(hours=22), reason="周计划")
    with pytest.raises(Exception, match="overlaps"):
        c.add_shift(pharmacy.lead, "PH0001", MONDAY + timedelta(hours=14), MONDAY + timedelta(hours=16), reason="x")
    with pytest.raises(Exception, match="needs a reason"):
        c.remove_shift(pharmacy.lead, a, reason="  ")
    with pytest.raises(Exception, match="may not manage roster"):
        c.add_shift(pharmacy.pharmacist, "PH0001", MONDAY, MONDAY + timedelta(hours=1), reason="mine")
    c.swap_shifts(pharmacy.lead, a, b, reason="李药师下午有课")
    c.change_shift(pharmacy.lead, a, MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=15), reason="晚到一小时")
    week = (MONDAY, MONDAY + timedelta(days=7))
    assert [(e.id, e.licence, e.start.astimezone(SH).hour) for e in c.entries(pharmacy.lead, *week)] == [
        (a, "PH0002", 9), (b, "PH0001", 15)]
    assert [e.id for e in c.entries(pharmacy.pharmacist, *week, mine=True)] == [b]  # a pharmacist sees their own
    c.remove_shift(pharmacy.lead, b, reason="病假")
    with ws.uow() as uow:
        trail = [(action, json.loads(details).get("reason")) for action, details in uow.session.execute(
            select(orm.AuditEvent.action, orm.AuditEvent.details).where(orm.AuditEvent.action.startswith("roster."))
            .order_by(orm.AuditEvent.id))]
    assert trail == [("roster.shift_added", "周计划"), ("roster.shift_added", "周计划"),
                     ("roster.shifts_swapped", "李药师下午有课"), ("roster.shift_changed", "晚到一小时"),
                     ("roster.shift_removed", "病假")]


def test_the_monthly_report_lists_every_gap_with_its_reason_and_the_leads_sign_off(
        pharmacy: Pharmacy, cli: Any, tmp_path: Any) -> None:
    import hashlib
    import io

    import pypdf

    from printing.coverage_report import render_report
    from resources.fonts import font_path
    from workstation.services import site

    ws = pharmacy.ws
    site.set_pharmacy_name(ws.uow, pharmacy.admin, "示范药房")
    ws.coverage.import_hours(pharmacy.lead, HOURS.encode(), "hours.csv")
    ws.coverage.import_roster(pharmacy.lead, ROSTER.encode(), "roster.csv")
    ws.coverage.note_gap(pharmacy.lead, MONDAY + timedelta(hours=20), MONDAY + timedelta(hours=22), "晚班药师病假")
    report = CoverageService(ws.uow, time_zone="Asia/Shanghai", clock=Clock(MONDAY + timedelta(days=1))) \
        .month_report(pharmacy.lead, 2026, 12)
    planned = [g for g in report.gaps if g.kind == "planned"]
    assert [(g.start, g.reason) for g in planned if g.start.day == 7] == [(MONDAY + timedelta(hours=20), "晚班药师病假")]
    assert report.coverage.business_seconds == 2 * 14 * 3600  # Tue 1st and Mon 7th: the rest is not yet lived
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(
        render_report(report, font_path=font_path()))).pages).replace("\n", "")
    for field in ("药师在岗覆盖月报 2026年12月", "示范药房", "在岗覆盖率", "0.0%", "晚班药师病假", "周主任", report.sha256):
        assert field in text, field
    with ws.uow() as uow:
        signed = json.loads(uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "coverage.report_signed_off")).one())
    assert signed["sha256"] == report.sha256 == hashlib.sha256(
        __import__("workstation.domain.canonical", fromlist=["jcs"]).jcs(report.content())).hexdigest()

    code, out, err = cli("coverage-report", "--month", "2026-12", "--as", "PH0002", "--out", str(tmp_path / "r.pdf"))
    assert code == 0 and (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF"), err
    code, _, err = cli("coverage-report", "--month", "2026-13", "--as", "PH0002")
    assert code == 2 and "YYYY-MM" in err


def test_a_planned_week_is_the_template_of_the_next(pharmacy: Pharmacy) -> None:
    c = pharmacy.ws.coverage
    c.import_roster(pharmacy.lead, ROSTER.encode(), "roster.csv")
    assert c.copy_week(pharmacy.lead, MONDAY.date(), (MONDAY + timedelta(days=7)).date(), reason="同上周") == 2
    nxt = c.entries(pharmacy.lead, MONDAY + timedelta(days=7), MONDAY + timedelta(days=14))
    assert [(e.licence, e.start) for e in nxt] == [("PH0001", MONDAY + timedelta(days=7, hours=8)),
                                                   ("PH0002", MONDAY + timedelta(days=7, hours=14))]
    with pytest.raises(Exception, match="overlaps"):  # copied once: a second copy would double the shifts
        c.copy_week(pharmacy.lead, MONDAY.date(), (MONDAY + timedelta(days=9)).date(), reason="again")
    with pytest.raises(Exception, match="no shifts"):
        c.copy_week(pharmacy.lead, (MONDAY + timedelta(days=21)).date(), (MONDAY + timedelta(days=28)).date(), reason="x")
    assert len(c.entries(pharmacy.lead, MONDAY, MONDAY + timedelta(days=28))) == 4
