"""The prescription view shows what the detail service gives, and says what it hides and why."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QLabel
from sqlalchemy import select

from workstation.adapters.db import orm
from workstation.bootstrap import Workstation
from workstation.services import demo
from workstation.services.detail import PrescriptionDetail

from ui.prescription_view import PrescriptionView

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]

CLEAN, NARCOTIC, CHILD_NO_GUARDIAN = 1, 7, 11


def _detail(ws: Workstation, series: str, case: int, *, claim: bool) -> PrescriptionDetail:
    number = f"RXDEMO{series}{case:03d}"
    who = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD)
    if claim:
        ws.claims.claim(who, number)
    with ws.uow() as uow:
        pid = uow.session.scalar(select(orm.Prescription.id).where(orm.Prescription.number == number))
    assert pid is not None
    return ws.detail.open(who, pid)


def _view(qtbot: Any, detail: PrescriptionDetail) -> PrescriptionView:
    view = PrescriptionView()
    qtbot.addWidget(view)
    view.resize(960, 1400)
    view.show()
    view.show_detail(detail)
    return view


def _cell(view: PrescriptionView, row: int, column: int) -> str:
    item = view.items.item(row, column)
    assert item is not None
    return item.text()


def _text(view: PrescriptionView) -> str:
    return "\n".join(label.text() for label in view.findChildren(QLabel) if label.isVisibleTo(view))


def test_a_claimed_clean_prescription_shows_history_matches_and_signature(
        qtbot: Any, qtmodeltester: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    detail = _detail(ws, series, CLEAN, claim=True)
    view = _view(qtbot, detail)
    assert not view.masked_banner.isVisibleTo(view)
    assert detail.patient.name and detail.patient.name in view.patient_line.text()
    assert not view.under_six_badge.isVisibleTo(view)
    model = view.timeline_model
    assert view.timeline.isVisibleTo(view) and model.rowCount() == 2
    confirmed = model.item(0)
    assert confirmed.rowCount() == sum(d.confirmed for d in detail.diagnoses) > 0
    assert any(d.institution and d.institution in confirmed.child(0, 2).text() for d in detail.diagnoses)
    assert view.items.rowCount() == len(detail.items)
    assert all(_cell(view, r, 8).startswith("✔") for r in range(view.items.rowCount()))
    assert view.signature.text().startswith("✔")
    assert detail.prescriber.licence and detail.prescriber.licence in view.prescriber.text()
    qtmodeltester.check(view.items.model())
    qtmodeltester.check(view.timeline_model)
    view.grab().save("/tmp/rxws-prescription-view.png")


def test_without_the_claim_the_view_says_what_is_hidden(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    detail = _detail(ws, series, CLEAN, claim=False)
    view = _view(qtbot, detail)
    assert view.masked_banner.isVisibleTo(view)
    assert "*" in view.patient_line.text()
    assert str(detail.diagnosis_count) in view.diagnosis_hidden.text()
    assert not view.timeline.isVisibleTo(view) and not view.earlier.isVisibleTo(view)
    assert "1958" not in _text(view), "no birth date without the claim"


def test_a_child_without_guardian_shows_the_badge_and_what_is_missing(
        qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    detail = _detail(ws, series, CHILD_NO_GUARDIAN, claim=True)
    view = _view(qtbot, detail)
    assert view.under_six_badge.isVisibleTo(view) and view.under_six_badge.text()
    assert "MISSING" in view.people.text() or "缺" in view.people.text()
    assert "pediatric.no_guardian" in view.findings.text()


def test_a_narcotic_shows_its_badge_list_entry_and_citation(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    detail = _detail(ws, series, NARCOTIC, claim=True)
    view = _view(qtbot, detail)
    assert _cell(view, 0, 7) == "麻"
    assert "麻" in view.marks.text() and any(m.evidence in view.marks.text() for i in detail.items for m in i.marks)
    finding = next(f for f in detail.findings["block"] if f.rule_id == "special_drug.narcotic")
    assert finding.citation in view.findings.text()
    assert view.findings.text().startswith("✖")


def test_clear_hides_everything(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    view = _view(qtbot, _detail(ws, series, CLEAN, claim=False))
    view.clear()
    assert view.detail is None and view.empty.isVisibleTo(view) and not view.header.isVisibleTo(view)


def test_earlier_prescriptions_and_decisions_are_listed_for_the_claim_holder(
        qtbot: Any, qtmodeltester: Any, demo_ws: tuple[Workstation, str]) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.support import earlier_today, signed_prescription

    ws, _series = demo_ws
    now = datetime.now(UTC)
    for i, number in enumerate(("RXEARLIER01", "RXEARLIER02", "RXEARLIER03")):
        report = ws.intake.ingest(signed_prescription(number, earlier_today(timedelta(minutes=30 - i), now)), f"test:{number}")
        assert report.outcome == "stored"
    who = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD)
    ws.claims.claim(who, "RXEARLIER01")
    ws.decisions.reject(who, "RXEARLIER01", code="incomplete", comment="no allergy record")
    ws.claims.claim(who, "RXEARLIER03")
    with ws.uow() as uow:
        pid = uow.session.scalar(select(orm.Prescription.id).where(orm.Prescription.number == "RXEARLIER03"))
    assert pid is not None
    view = _view(qtbot, ws.detail.open(who, pid))
    model = view.earlier.model()
    qtmodeltester.check(model)
    rows = [[str(model.data(model.index(r, c))) for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert [r[1] for r in rows] == ["RXEARLIER02", "RXEARLIER01"]  # newest first, this one not among them
    assert rows[1][4].startswith("rejected") and "李药师" in rows[1][5]
    assert rows[0][4] == "—"
    assert view.earlier.isVisibleTo(view) and not view.earlier_hidden.isVisibleTo(view)
    # the timeline names the source document in words, not its code
    timeline = view.timeline.model()
    confirmed = timeline.index(0, 0)
    assert timeline.data(timeline.index(0, 3, confirmed)) == "outpatient record"
