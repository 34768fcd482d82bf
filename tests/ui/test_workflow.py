"""The window as a pharmacist uses it, on freshly made demo data: sign in, claim, review, decide, next.

Every step goes through the window (keys, buttons, the status bar); the database is read afterwards to
prove what was stored. Qt warnings fail these tests.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select, update

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.bootstrap import Workstation
from workstation.services import demo

from ui.context import AppContext
from ui.main_window import MainWindow
from ui.signin import SignInDialog
from ui.tasks import TaskRunner

PHARMACIST, LEAD = "YS-DEMO-0001", "YS-DEMO-0002"
CLEAN, WARFARIN_WARN, NARCOTIC = 1, 10, 7


def number(series: str, case: int) -> str:
    return f"RXDEMO{series}{case:03d}"


def make_window(qtbot: Any, ws: Workstation, licence: str = PHARMACIST, **kwargs: Any) -> MainWindow:
    ctx = AppContext(ws, TaskRunner())
    ctx.principal = ws.accounts.authenticate(licence, demo.DEMO_PASSWORD, where="test")
    window = MainWindow(ctx, poll_seconds=None, **kwargs)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitUntil(window.queue.loaded, timeout=20_000)
    return window


def open_claimed(qtbot: Any, window: MainWindow, num: str) -> Any:
    with qtbot.waitSignal(window.opened, timeout=20_000, check_params_cb=lambda d: d.number == num and d.holds_claim):
        window._claim_then_open(num)
    return window.current


def decisions(ws: Workstation) -> list[orm.Decision]:
    with ws.uow() as uow:
        rows = list(uow.session.scalars(select(orm.Decision).order_by(orm.Decision.decided_at)))
        uow.session.expunge_all()
        return rows


def sign(qtbot: Any, window: MainWindow, *, password: bool) -> None:
    panel = window.panel
    qtbot.waitUntil(lambda: panel.signing_dialog is not None and panel.signing_dialog.isVisible(), timeout=10_000)
    dialog = panel.signing_dialog
    assert dialog is not None
    if password:
        qtbot.keyClicks(dialog.focusWidget(), demo.DEMO_PASSWORD)
        qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.focusWidget(), demo.DEMO_PIN)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)


def test_sign_in_shows_the_demo_accounts_and_signs_in(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, _ = demo_ws
    dialog = SignInDialog(AppContext(ws, TaskRunner()))
    qtbot.addWidget(dialog)
    dialog.show()
    hint = dialog.findChild(type(dialog.check.status), "demo-accounts")
    assert hint is not None and PHARMACIST in hint.text() and demo.DEMO_PIN in hint.text()
    qtbot.keyClicks(dialog.check.licence, PHARMACIST)
    qtbot.keyClick(dialog.check.licence, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.check.password, "wrong-password")
    qtbot.keyClick(dialog.check.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "错误" in dialog.check.status.text() or "wrong" in dialog.check.status.text(), timeout=10_000)
    assert dialog.principal is None
    qtbot.keyClicks(dialog.check.password, demo.DEMO_PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.keyClick(dialog.check.password, Qt.Key.Key_Return)
    assert dialog.principal is not None and dialog.principal.licence == PHARMACIST


def test_claim_approve_with_signing_and_the_next_one_opens(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                           shown_messages: list[str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    first = open_claimed(qtbot, window, number(series, CLEAN))
    assert window.panel.approve_action.isEnabled()
    # Ctrl+Return, then password (first signature of the session) and PIN.
    with qtbot.waitSignal(window.opened, timeout=30_000,
                          check_params_cb=lambda d: d.number != first.number and d.holds_claim):
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        sign(qtbot, window, password=True)
    stored = decisions(ws)
    assert [(d.prescription_number, d.kind) for d in stored] == [(first.number, "approve")]
    assert stored[0].signature_jws and json.loads(stored[0].statement or "{}")["content_sha256"] == first.content_sha256
    assert window.status.claim.text() and window.current.number in window.status.claim.text()
    assert not shown_messages


def test_second_approval_in_the_session_needs_the_pin_only(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    for case, password in ((CLEAN, True), (2, False)):
        open_claimed(qtbot, window, number(series, case))
        with qtbot.waitSignal(window.panel.decided, timeout=30_000):
            qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            sign(qtbot, window, password=password)
    assert [d.kind for d in decisions(ws)] == ["approve", "approve"]


def test_a_blocked_narcotic_cannot_be_approved_by_any_path(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                           shown_messages: list[str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    open_claimed(qtbot, window, number(series, NARCOTIC))
    assert not window.panel.approve_action.isEnabled()
    assert "special_drug.narcotic" in (window.panel.approval_blocker() or "")
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # the shortcut
    window.panel.approve_action.trigger()  # the menu entry
    assert window.panel.signing_dialog is None or not window.panel.signing_dialog.isVisible()
    window.panel.approve()  # the panel's own path, past the disabled action: signing, then the service refuses
    with qtbot.waitSignal(window.panel.failed, timeout=20_000):
        sign(qtbot, window, password=True)
    assert decisions(ws) == []
    assert any("special_drug.narcotic" in m for m in shown_messages)


def test_reject_with_a_reason_and_comment(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    num = number(series, NARCOTIC)
    open_claimed(qtbot, window, num)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    panel = window.panel
    with qtbot.waitSignal(panel.decided, timeout=20_000):
        panel.reason_combo.setCurrentIndex(panel.reason_combo.findData("special_drug"))
        panel.comment_edit.insert("麻醉药品不得在线开具，请线下就诊")
        panel.submit_refusal()
    stored = decisions(ws)
    assert [(d.prescription_number, d.kind, d.reason_code) for d in stored] == [(num, "reject", "special_drug")]


def test_a_warning_needs_its_acknowledgement(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    open_claimed(qtbot, window, number(series, WARFARIN_WARN))
    assert not window.panel.approve_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    focused = window.focusWidget()
    assert focused is not None and window.panel.isAncestorOf(focused)
    qtbot.keyClick(focused, Qt.Key.Key_Down)  # Ctrl+K lands on the card's override reasons: pick the first
    qtbot.waitUntil(window.panel.approve_action.isEnabled, timeout=5_000)
    with qtbot.waitSignal(window.panel.decided, timeout=30_000):
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        sign(qtbot, window, password=True)
    (stored,) = decisions(ws)
    assert "special_drug.online_sale_prohibited" in json.loads(stored.acknowledged)


def test_opening_without_the_claim_shows_masked_data_only(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    num = number(series, CLEAN)
    with ws.uow() as uow:
        pid = uow.session.scalar(select(orm.Prescription.id).where(orm.Prescription.number == num))
    assert pid is not None
    with qtbot.waitSignal(window.opened, timeout=20_000) as blocker:
        window.open_prescription(pid)
    detail = blocker.args[0]
    assert not detail.holds_claim
    assert "*" in (detail.patient.name or "")
    assert not window.panel.approve_action.isEnabled()
    with ws.uow() as uow:
        opened = uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "prescription.opened")).all()
    assert opened, "every opening is an audit event"


def test_an_expired_lease_takes_the_decision_away(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                  shown_messages: list[str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    detail = open_claimed(qtbot, window, number(series, CLEAN))
    with ws.uow() as uow:
        uow.session.execute(update(orm.Claim).where(orm.Claim.prescription_id == detail.prescription_id)
                            .values(expires_at=utcnow() - timedelta(seconds=1)))
        uow.commit()
    with qtbot.waitSignal(window.opened, timeout=20_000, check_params_cb=lambda d: not d.holds_claim):
        window._renew_claim()
    assert any("expired" in m or "过期" in m for m in shown_messages)
    assert not window.panel.approve_action.isEnabled()
    assert decisions(ws) == []


def approved_with_failed_release(ws: Workstation, series: str) -> Any:
    """The lead approves the clean demo prescription; both its releases then fail for good."""
    lead = ws.accounts.authenticate(LEAD, demo.DEMO_PASSWORD)
    num = number(series, CLEAN)
    ws.claims.claim(lead, num)
    info = ws.decisions.approve(lead, ws.signing.begin(lead), num, pin=demo.DEMO_PIN, password=demo.DEMO_PASSWORD)
    with ws.uow() as uow:
        uow.session.execute(update(orm.Outbox).where(orm.Outbox.decision_id == info.id)
                            .values(status="release_failed", attempts=8, last_error="connection refused"))
        uow.commit()
    return info


def test_a_failed_release_is_retried_from_the_status_bar(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    info = approved_with_failed_release(ws, series)
    window = make_window(qtbot, ws, LEAD)
    qtbot.waitUntil(window.status.retry.isVisible, timeout=20_000)
    assert "2" in window.status.outbox.text()
    qtbot.mouseClick(window.status.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.status.retry.isVisible(), timeout=20_000)
    with ws.uow() as uow:
        assert set(uow.session.scalars(select(orm.Outbox.status).where(orm.Outbox.decision_id == info.id))) == {"pending"}
        assert uow.session.scalars(select(orm.AuditEvent.id).where(orm.AuditEvent.action == "release.retried")).first()


def test_a_pharmacist_sees_failures_but_no_retry_button(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    approved_with_failed_release(ws, series)
    window = make_window(qtbot, ws)
    qtbot.waitUntil(lambda: "2" in window.status.outbox.text(), timeout=20_000)
    assert not window.status.retry.isVisible()


def test_idle_lock_drops_the_signing_session_and_the_password_unlocks(qtbot: Any,
                                                                      demo_ws: tuple[Workstation, str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws, idle_seconds=1.0)
    open_claimed(qtbot, window, number(series, CLEAN))
    window.ctx.session = ws.signing.begin(window.ctx.principal)  # type: ignore[arg-type]
    session = window.ctx.session
    qtbot.waitUntil(lambda: window.locked, timeout=10_000)
    assert window.stack.currentWidget() is window.lockscreen
    assert session.needs_password(utcnow())
    assert not window.claim_next_action.isEnabled()
    check = window.lockscreen.check
    assert check is not None and check.licence.text() == PHARMACIST and check.licence.isReadOnly()
    qtbot.keyClicks(check.password, demo.DEMO_PASSWORD)
    with qtbot.waitSignal(window.lockscreen.unlocked, timeout=10_000):
        qtbot.keyClick(check.password, Qt.Key.Key_Return)
    assert not window.locked and window.claim_next_action.isEnabled()


def test_lock_on_demand(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, _ = demo_ws
    window = make_window(qtbot, ws)
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.locked


def test_every_action_has_a_shortcut_in_its_tooltip(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, _ = demo_ws
    window = make_window(qtbot, ws)
    keyed = {a.objectName(): a for a in window.all_actions() if a.shortcuts()}
    for name in ("claim-next", "open", "refresh", "search", "lock", "settings"):
        action = keyed[name]
        assert action.shortcuts()[0].toString() in action.toolTip().replace("Return", "Return"), name
    for action in (window.panel.approve_action, window.panel.reject_action, window.panel.return_action,
                   window.panel.acknowledge_action):
        assert action.shortcuts() and action.shortcuts()[0].toString(action.shortcuts()[0].SequenceFormat.NativeText) \
            in action.toolTip()
