"""The signing dialog shows what is signed and asks for exactly what the continuous-session rule requires."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ui.signing_dialog import SigningDialog, group_digest

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]

DIGEST = hashlib.sha256(b"RXSIGN1").hexdigest()


def make(qtbot: QtBot, *, needs_password: bool, defer: bool = False) -> SigningDialog:
    dialog = SigningDialog(None, needs_password=needs_password, number="RXSIGN1", version=2, content_sha256=DIGEST,
                           decision_label="审核通过", signer_name="李药师", licence="PH0001", defer=defer)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    return dialog


def test_the_digest_is_grouped_for_reading_and_nothing_is_lost() -> None:
    grouped = group_digest(DIGEST)
    lines = grouped.split("\n")
    assert len(lines) == 2 and all(len(line.split(" ")) == 8 for line in lines)
    assert all(len(g) == 4 for line in lines for g in line.split(" "))
    assert grouped.replace(" ", "").replace("\n", "") == DIGEST


def test_it_shows_what_is_signed(qtbot: QtBot) -> None:
    dialog = make(qtbot, needs_password=False)
    assert dialog.decision_label.text() == "审核通过"
    assert dialog.number_label.text() == "RXSIGN1" and "2" in dialog.version_label.text()
    assert dialog.digest_label.text() == group_digest(DIGEST)
    assert dialog.signer_label.text() == "李药师 (PH0001)"
    assert dialog.decision_label.textFormat() is Qt.TextFormat.PlainText


def test_pin_only_session_return_signs(qtbot: QtBot) -> None:
    dialog = make(qtbot, needs_password=False)
    assert not dialog.password_edit.isVisible() and QApplication.focusWidget() is dialog.pin_edit
    qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)  # an empty PIN signs nothing
    assert dialog.isVisible() and dialog.error_label.isVisible()
    qtbot.keyClicks(dialog.pin_edit, "246810")
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert dialog.values() == (None, "246810")
    dialog.wipe()
    assert dialog.values() == (None, "")


def test_first_signature_asks_for_the_password_then_the_pin(qtbot: QtBot) -> None:
    dialog = make(qtbot, needs_password=True)
    assert dialog.password_edit.isVisible() and QApplication.focusWidget() is dialog.password_edit
    qtbot.keyClicks(dialog.password_edit, "demo-2026")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and QApplication.focusWidget() is dialog.pin_edit  # Return went on, did not sign
    qtbot.keyClicks(dialog.pin_edit, "246810")
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert dialog.values() == ("demo-2026", "246810")


def test_deferred_signing_waits_for_the_outcome_and_a_failure_keeps_the_dialog(qtbot: QtBot) -> None:
    dialog = make(qtbot, needs_password=False, defer=True)
    qtbot.keyClicks(dialog.pin_edit, "111111")
    with qtbot.waitSignal(dialog.sign_requested, timeout=2000):
        qtbot.keyClick(dialog.pin_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.pin_edit.isEnabled()  # busy while the service signs
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()  # a signature under way is not walked away from
    dialog.show_error("签名PIN错误 / wrong signing PIN")
    assert dialog.error_label.text() == "签名PIN错误 / wrong signing PIN"
    assert dialog.pin_edit.text() == "" and dialog.pin_edit.isEnabled()
    assert QApplication.focusWidget() is dialog.pin_edit
    dialog.show_error("需要密码 / password needed", needs_password=True)  # the session was locked meanwhile
    assert dialog.needs_password and dialog.password_edit.isVisible()
    assert QApplication.focusWidget() is dialog.password_edit
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
