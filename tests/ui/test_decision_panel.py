"""The decision panel: approve by keyboard with a signature, blocked approvals refused on every path,
warnings acknowledged with a reason, reject and return with a code and a comment, wrong PINs retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QMessageBox, QWidget
from sqlalchemy import func, select

from pytestqt.qtbot import QtBot

from tests.conftest import PASSWORD, PIN, Pharmacy
from tests.support import SHARED
from ui import messages
from ui.context import AppContext
from ui.decision_panel import DecisionPanel
from ui.signing_dialog import SigningDialog
from ui.tasks import TaskRunner
from workstation.adapters.db import orm
from workstation.services.claims import current_version

# Qt warnings fail these tests; the offscreen platform's note that it cannot pass size hints to a window
# system it does not have is not about this code.
pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]

SIGN_TIMEOUT = 30_000  # the first signature derives the key from the PIN: allow a slow shared machine


@dataclass
class Shown:
    icon: QMessageBox.Icon
    title: str
    text: str


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    boxes: list[Shown] = []

    def capture(box: QMessageBox) -> int:
        boxes.append(Shown(box.icon(), box.windowTitle(), box.text()))
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(messages, "_show", capture)
    return boxes


@pytest.fixture
def ctx(pharmacy: Pharmacy) -> Iterator[AppContext]:
    runner = TaskRunner()
    context = AppContext(ws=pharmacy.ws, tasks=runner, principal=pharmacy.pharmacist)
    try:
        yield context
    finally:
        runner.wait()


@pytest.fixture
def panel(qtbot: QtBot, ctx: AppContext) -> DecisionPanel:
    widget = DecisionPanel(ctx)
    qtbot.addWidget(widget)
    widget.resize(420, 560)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget)
    return widget


def open_in(panel: DecisionPanel, pharmacy: Pharmacy, number: str) -> None:
    """What the main window does: claim, judge (the detail view's result), show."""
    pharmacy.ws.claims.claim(pharmacy.pharmacist, number)
    result = pharmacy.ws.decisions.review(pharmacy.pharmacist, number)
    with pharmacy.ws.uow() as uow:
        row = current_version(uow, number)
        version, digest = row.version, row.content_sha256
    panel.set_prescription(number, version, digest, result)


def decisions_of(pharmacy: Pharmacy, number: str) -> list[orm.Decision]:
    with pharmacy.ws.uow() as uow:
        rows = list(uow.session.scalars(select(orm.Decision).where(orm.Decision.prescription_number == number)))
        for row in rows:
            uow.session.expunge(row)
        return rows


def count(pharmacy: Pharmacy, table: type[orm.Base]) -> int:
    with pharmacy.ws.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(table)) or 0)


def activate(qtbot: QtBot, widget: QWidget) -> None:
    """Make the widget's window the active one, as the main window is again once a dialog closes."""
    window = widget.window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    activate(qtbot, widget)
    qtbot.keyClick(widget, key, modifier)


def open_dialog(qtbot: QtBot, panel: DecisionPanel) -> SigningDialog:
    press(qtbot, panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Return
    dialog = panel.signing_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.isVisible() and QApplication.activeWindow() is dialog)
    return dialog


def typed_into_focus(qtbot: QtBot, text: str) -> None:
    focus = QApplication.focusWidget()
    assert focus is not None
    qtbot.keyClicks(focus, text)


def return_in_focus(qtbot: QtBot) -> None:
    focus = QApplication.focusWidget()
    assert focus is not None
    qtbot.keyClick(focus, Qt.Key.Key_Return)


def test_a_clean_prescription_is_approved_by_keyboard_and_the_next_asks_for_the_pin_only(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, ctx: AppContext, shown: list[Shown]) -> None:
    pharmacy.receive("RXUI1")
    pharmacy.receive("RXUI2")
    open_in(panel, pharmacy, "RXUI1")
    assert panel.approve_button.isEnabled() and panel.approve_action.isEnabled()
    assert "Ctrl+Return" in panel.approve_action.toolTip() and "Ctrl+Return" in panel.approve_button.toolTip()

    dialog = open_dialog(qtbot, panel)
    assert dialog.needs_password  # first signature of the session: password and PIN
    assert QApplication.focusWidget() is dialog.password_edit
    assert dialog.number_label.text() == "RXUI1"
    with pharmacy.ws.uow() as uow:
        digest = current_version(uow, "RXUI1").content_sha256
    assert dialog.digest_label.text().replace(" ", "").replace("\n", "") == digest
    typed_into_focus(qtbot, PASSWORD)
    return_in_focus(qtbot)  # Return in the password field goes on to the PIN
    assert QApplication.focusWidget() is dialog.pin_edit
    typed_into_focus(qtbot, PIN)
    with qtbot.waitSignal(panel.decided, timeout=SIGN_TIMEOUT) as first:
        return_in_focus(qtbot)
    assert first.args[0].kind == "approve" and first.args[0].number == "RXUI1"
    assert panel.signing_dialog is None and not dialog.isVisible()
    [row] = decisions_of(pharmacy, "RXUI1")
    assert row.kind == "approve" and row.signature_jws and json.loads(row.statement or "")["content_sha256"] == digest
    assert not panel.approve_action.isEnabled()  # decided: nothing more to do until the next one is shown
    assert ctx.session is not None and shown == []

    # The next one: Ctrl+Return, the PIN, Return.
    open_in(panel, pharmacy, "RXUI2")
    dialog = open_dialog(qtbot, panel)
    assert not dialog.needs_password and not dialog.password_edit.isVisible()
    assert QApplication.focusWidget() is dialog.pin_edit
    assert dialog.values() == (None, "")
    typed_into_focus(qtbot, PIN)
    with qtbot.waitSignal(panel.decided, timeout=SIGN_TIMEOUT) as second:
        return_in_focus(qtbot)
    assert second.args[0].number == "RXUI2"
    assert [r.kind for r in decisions_of(pharmacy, "RXUI2")] == ["approve"]
    assert shown == []


def _narcotic(pharmacy: Pharmacy) -> str:
    raw = (SHARED / "examples" / "ex-narcotic.json").read_bytes()
    report = pharmacy.ws.intake.ingest(raw, "test:ex-narcotic")
    assert report.outcome == "stored", report
    return "RXEXNARCOTIC"


def test_a_blocked_prescription_cannot_be_approved_by_any_path(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, shown: list[Shown]) -> None:
    number = _narcotic(pharmacy)
    open_in(panel, pharmacy, number)
    assert not panel.approve_button.isEnabled() and not panel.approve_action.isEnabled()
    reason = panel.approve_reason.text()
    assert "special_drug.narcotic" in reason and "blocking finding" in reason
    assert panel.reject_button.isEnabled() and panel.return_button.isEnabled()

    # shortcut, button and action: nothing happens
    press(qtbot, panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    panel.approve_button.click()
    panel.approve_action.trigger()
    assert panel.signing_dialog is None
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, SigningDialog) and w.isVisible()]

    # the panel's approve path called directly: the service refuses, the refusal is shown, nothing is stored
    panel.approve()
    dialog = panel.signing_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClicks(dialog.pin_edit, PIN)
    with qtbot.waitSignal(panel.failed, timeout=SIGN_TIMEOUT) as failed:
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert "blocking findings" in failed.args[0]
    assert len(shown) == 1 and shown[0].icon is QMessageBox.Icon.Warning
    assert "special_drug.narcotic" in shown[0].text
    assert panel.signing_dialog is None
    assert decisions_of(pharmacy, number) == [] and count(pharmacy, orm.Outbox) == 0


def test_a_warning_needs_its_acknowledgement_and_the_decision_keeps_the_reason(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, shown: list[Shown]) -> None:
    pharmacy.receive("RXUIWARN", supply_days=14, note="患者行动不便，病情稳定")
    open_in(panel, pharmacy, "RXUIWARN")
    rule = "supply.over_limit_justified"
    assert not panel.approve_action.isEnabled() and rule in panel.approve_reason.text()
    assert panel.warnings_box.isVisible()

    # the service refuses an unacknowledged warning too
    panel.approve()
    dialog = panel.signing_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClicks(dialog.pin_edit, PIN)
    with qtbot.waitSignal(panel.failed, timeout=SIGN_TIMEOUT):
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert rule in shown[-1].text and decisions_of(pharmacy, "RXUIWARN") == []

    press(qtbot, panel, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # Ctrl+K
    combo = panel.findChild(QComboBox, f"ack-reason-{rule}")
    assert combo is not None and QApplication.focusWidget() is combo
    press(qtbot, combo, Qt.Key.Key_Down)  # the card's first override reason
    picked = combo.currentData()
    assert picked == "已与开方医师确认 / confirmed with the prescriber"  # the card's text, whichever half is shown
    assert combo.currentText() in ("已与开方医师确认", "confirmed with the prescriber")
    assert panel.approve_action.isEnabled()
    edit = panel.findChild(QLineEdit, f"ack-text-{rule}")
    assert edit is not None
    edit.insert("患者行动不便")  # (QTest types Latin-1 only: Chinese comes by input method)
    assert panel.acknowledgements() == {rule: f"{picked}；患者行动不便"}

    dialog = open_dialog(qtbot, panel)
    assert dialog.needs_password  # the refusal came before any signature: the session is not open yet
    typed_into_focus(qtbot, PASSWORD)
    return_in_focus(qtbot)
    typed_into_focus(qtbot, PIN)
    with qtbot.waitSignal(panel.decided, timeout=SIGN_TIMEOUT):
        return_in_focus(qtbot)
    [row] = decisions_of(pharmacy, "RXUIWARN")
    assert row.kind == "approve" and json.loads(row.acknowledged) == {rule: f"{picked}；患者行动不便"}


def test_a_free_text_reason_is_an_acknowledgement_too(panel: DecisionPanel, pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXUIWARN2", supply_days=14, note="病情稳定")
    open_in(panel, pharmacy, "RXUIWARN2")
    edit = panel.findChild(QLineEdit, "ack-text-supply.over_limit_justified")
    assert edit is not None and not panel.approve_action.isEnabled()
    edit.setText("   ")
    assert not panel.approve_action.isEnabled()
    edit.setText("随访稳定，医师已说明")
    assert panel.approve_action.isEnabled() and panel.approval_blocker() is None


@pytest.mark.parametrize(("key", "kind", "code"), [(Qt.Key.Key_R, "reject", "diagnosis_mismatch"),
                                                   (Qt.Key.Key_B, "return", "incomplete")])
def test_reject_and_return_need_a_reason_code_and_a_comment(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, shown: list[Shown],
        key: Qt.Key, kind: str, code: str) -> None:
    number = _narcotic(pharmacy)
    open_in(panel, pharmacy, number)
    shortcut = "Ctrl+Shift+R" if kind == "reject" else "Ctrl+Shift+B"
    action = panel.reject_action if kind == "reject" else panel.return_action
    assert shortcut in action.toolTip()
    press(qtbot, panel, key, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert panel.refusal_box.isVisible() and QApplication.focusWidget() is panel.reason_combo
    assert not panel.confirm_refusal.isEnabled()
    panel.reason_combo.setCurrentIndex(panel.reason_combo.findData(code))
    assert not panel.confirm_refusal.isEnabled()  # a comment is required too
    panel.submit_refusal()  # refused in the panel: nothing submitted
    assert QApplication.focusWidget() is panel.comment_edit and decisions_of(pharmacy, number) == []
    panel.comment_edit.insert("口服阿片类不得线上开具，请线下就诊")  # QTest types Latin-1 only
    assert panel.confirm_refusal.isEnabled()
    with qtbot.waitSignal(panel.decided, timeout=SIGN_TIMEOUT) as done:
        qtbot.keyClick(panel.comment_edit, Qt.Key.Key_Return)
    assert done.args[0].kind == kind
    [row] = decisions_of(pharmacy, number)
    assert (row.kind, row.reason_code, row.comment) == (kind, code, "口服阿片类不得线上开具，请线下就诊")
    assert not panel.refusal_box.isVisible() and not panel.reject_action.isEnabled() and shown == []


def test_reason_codes_are_offered_with_their_labels(panel: DecisionPanel) -> None:
    from workstation.services.decisions import REASON_CODES

    codes = [panel.reason_combo.itemData(i) for i in range(1, panel.reason_combo.count())]
    assert codes == list(REASON_CODES)
    labels = [panel.reason_combo.itemText(i) for i in range(1, panel.reason_combo.count())]
    assert all(labels) and len(set(labels)) == len(labels)


def test_a_wrong_pin_is_shown_in_the_dialog_and_nothing_is_stored(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, shown: list[Shown],
        caplog: pytest.LogCaptureFixture) -> None:
    pharmacy.receive("RXUIPIN")
    pharmacy.receive("RXUIPIN2")
    open_in(panel, pharmacy, "RXUIPIN")
    wrong = "917364"
    dialog = open_dialog(qtbot, panel)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClicks(dialog.pin_edit, wrong)
    qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible() and dialog.pin_edit.isEnabled(), timeout=SIGN_TIMEOUT)
    assert "PIN" in dialog.error_label.text()
    assert dialog.isVisible() and dialog.pin_edit.text() == "" and QApplication.focusWidget() is dialog.pin_edit
    assert decisions_of(pharmacy, "RXUIPIN") == [] and shown == []
    qtbot.keyClicks(dialog.pin_edit, PIN)  # the password is still there: the PIN again is enough
    with qtbot.waitSignal(panel.decided, timeout=SIGN_TIMEOUT):
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert len(decisions_of(pharmacy, "RXUIPIN")) == 1

    # with the session open, a wrong PIN is refused the same way
    open_in(panel, pharmacy, "RXUIPIN2")
    dialog = open_dialog(qtbot, panel)
    typed_into_focus(qtbot, wrong)
    return_in_focus(qtbot)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible() and dialog.pin_edit.isEnabled(), timeout=SIGN_TIMEOUT)
    assert dialog.pin_edit.text() == "" and QApplication.focusWidget() is dialog.pin_edit
    assert decisions_of(pharmacy, "RXUIPIN2") == []
    press(qtbot, dialog, Qt.Key.Key_Escape)
    assert panel.signing_dialog is None and panel.approve_action.isEnabled()
    assert wrong not in caplog.text and PIN not in caplog.text and PASSWORD not in caplog.text


def test_a_wrong_password_keeps_the_dialog_open(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, shown: list[Shown]) -> None:
    pharmacy.receive("RXUIPW")
    open_in(panel, pharmacy, "RXUIPW")
    dialog = open_dialog(qtbot, panel)
    qtbot.keyClicks(dialog.password_edit, "not-the-password")
    qtbot.keyClicks(dialog.pin_edit, PIN)
    qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible() and dialog.pin_edit.isEnabled(), timeout=SIGN_TIMEOUT)
    assert dialog.password_edit.text() == "" and QApplication.focusWidget() is dialog.password_edit
    assert decisions_of(pharmacy, "RXUIPW") == [] and shown == []


def test_an_expired_session_asks_for_the_password_again(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy, ctx: AppContext) -> None:
    pharmacy.receive("RXUILOCK")
    session = pharmacy.ws.signing.begin(pharmacy.pharmacist)
    pharmacy.ws.signing.signer(session, pin=PIN, password=PASSWORD)
    ctx.session = session
    open_in(panel, pharmacy, "RXUILOCK")
    dialog = open_dialog(qtbot, panel)
    assert not dialog.needs_password
    press(qtbot, dialog, Qt.Key.Key_Escape)
    session.lock()  # the screen lock drops the key
    dialog = open_dialog(qtbot, panel)
    assert dialog.needs_password and QApplication.focusWidget() is dialog.password_edit


def test_the_panel_shortcuts_work_while_typing_in_its_fields(
        qtbot: QtBot, panel: DecisionPanel, pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXUIKEYS", supply_days=14, note="病情稳定")
    open_in(panel, pharmacy, "RXUIKEYS")
    press(qtbot, panel, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    panel.comment_edit.setFocus()
    qtbot.keyClicks(panel.comment_edit, "abc")
    qtbot.keyClick(panel.comment_edit, Qt.Key.Key_Home)
    qtbot.keyClick(panel.comment_edit, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    combo = panel.findChild(QComboBox, "ack-reason-supply.over_limit_justified")
    assert panel.comment_edit.text() == "abc" and QApplication.focusWidget() is combo
    edit = panel.findChild(QLineEdit, "ack-text-supply.over_limit_justified")
    assert edit is not None
    edit.setFocus()
    qtbot.keyClicks(edit, "stable")
    qtbot.keyClick(edit, Qt.Key.Key_Home)
    qtbot.keyClick(edit, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert edit.text() == "stable" and panel.confirm_refusal.text().endswith(panel.return_action.text())


class _ClaimsCtrlK(QLineEdit):
    """A line edit as on Linux and macOS desktops, where Ctrl+K is "delete to the end of the line"."""

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent) and e.key() == Qt.Key.Key_K:
            e.accept()
            return True
        return super().event(e)


def test_a_field_that_binds_ctrl_k_itself_does_not_swallow_the_shortcut(qtbot: QtBot, panel: DecisionPanel) -> None:
    edit = _ClaimsCtrlK()
    qtbot.addWidget(edit)

    def override(key: Qt.Key, modifiers: Qt.KeyboardModifier) -> bool:
        event = QKeyEvent(QEvent.Type.ShortcutOverride, key, modifiers)
        event.ignore()  # as Qt sends it: the shortcut fires unless the focus widget accepts the override
        QApplication.sendEvent(edit, event)
        return event.isAccepted()

    assert override(Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # the field alone takes Ctrl+K
    edit.installEventFilter(panel._keys)  # what the panel does to its own fields
    assert not override(Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert not override(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
