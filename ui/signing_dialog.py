"""The signing dialog (电子签名): shows exactly what is signed and asks for what the continuous-session rule requires.

Password and signing PIN on the first signature of a session, after 10 idle minutes or after a lock; the PIN
alone otherwise. The PIN field is focused and Return signs, so an open session signs with PIN + Return. The
dialog never logs or keeps what was typed: the caller reads ``values()`` and then calls ``wipe()``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def group_digest(digest: str, *, group: int = 4, per_line: int = 8) -> str:
    """A hex digest in groups of four, eight groups a line, for reading aloud and comparing by eye."""
    groups = [digest[i:i + group] for i in range(0, len(digest), group)]
    return "\n".join(" ".join(groups[i:i + per_line]) for i in range(0, len(groups), per_line))


def _plain(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # numbers and names come from data: never rich text
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class SigningDialog(QDialog):
    """Sign one decision. With ``defer=True`` Sign emits ``sign_requested`` and waits: the caller signs in the
    background and then calls ``accept()`` on success or ``show_error()`` on failure (the dialog stays open, so a
    wrong PIN can be typed again). Without it, Sign accepts the dialog."""

    sign_requested = Signal()

    def __init__(self, parent: QWidget | None, *, needs_password: bool, number: str, version: int,
                 content_sha256: str, decision_label: str, signer_name: str, licence: str,
                 defer: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("signing-dialog")
        self.setWindowTitle(self.tr("Sign the decision"))
        self.setModal(True)
        self._defer = defer
        self._needs_password = needs_password
        self._busy = False

        what = QFormLayout()
        what.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.decision_label = _plain(decision_label)
        font = self.decision_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.decision_label.setFont(font)
        self.decision_label.setObjectName("signing-decision")
        self.number_label = _plain(number)
        self.number_label.setObjectName("signing-number")
        self.version_label = _plain(self.tr("version %1").replace("%1", str(version)))
        self.digest_label = _plain(group_digest(content_sha256))
        self.digest_label.setObjectName("signing-digest")
        self.digest_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.signer_label = _plain(f"{signer_name} ({licence})")
        self.signer_label.setObjectName("signing-signer")
        what.addRow(self.tr("Decision:"), self.decision_label)
        what.addRow(self.tr("Prescription:"), self.number_label)
        what.addRow(self.tr("Version:"), self.version_label)
        what.addRow(self.tr("Content digest (SHA-256):"), self.digest_label)
        what.addRow(self.tr("Signed by:"), self.signer_label)

        self.rule_label = QLabel()
        self.rule_label.setTextFormat(Qt.TextFormat.PlainText)
        self.rule_label.setWordWrap(True)
        self.rule_label.setObjectName("signing-rule")

        secrets = QFormLayout()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setObjectName("signing-password")
        self.password_caption = QLabel(self.tr("Password:"))
        self.password_caption.setBuddy(self.password_edit)
        self.pin_edit = QLineEdit()
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setObjectName("signing-pin")
        self.pin_edit.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly | Qt.InputMethodHint.ImhSensitiveData)
        pin_caption = QLabel(self.tr("Signing PIN:"))
        pin_caption.setBuddy(self.pin_edit)
        secrets.addRow(self.password_caption, self.password_edit)
        secrets.addRow(pin_caption, self.pin_edit)

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # service errors may quote data
        self.error_label.setWordWrap(True)
        self.error_label.setObjectName("signing-error")
        self.error_label.setStyleSheet("color: #a40000; font-weight: bold;")
        self.error_label.hide()

        self.sign_button = QPushButton(self.tr("Sign (Return)"))
        self.sign_button.setObjectName("signing-sign")
        self.cancel_button = QPushButton(self.tr("Cancel (Esc)"))
        # Return is handled by the fields themselves (PIN: sign; password: go on to the PIN), never by a
        # default button that would sign from the password field with an empty PIN.
        for button in (self.sign_button, self.cancel_button):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.sign_button.clicked.connect(self._sign)
        self.cancel_button.clicked.connect(self.reject)
        self.pin_edit.returnPressed.connect(self._sign)
        self.password_edit.returnPressed.connect(self._password_entered)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.sign_button)
        buttons.addWidget(self.cancel_button)

        intro = QLabel(self.tr("You are signing this decision for exactly this content:"))
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(what)
        layout.addWidget(self.rule_label)
        layout.addLayout(secrets)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)
        self._apply_mode()
        self.setMinimumWidth(self.sizeHint().width())

    # -- what the caller uses

    @property
    def needs_password(self) -> bool:
        return self._needs_password

    def values(self) -> tuple[str | None, str]:
        """(password, or None when the session rule does not ask for it; PIN)."""
        return (self.password_edit.text() if self._needs_password else None), self.pin_edit.text()

    def wipe(self) -> None:
        """Forget what was typed (called once the values have been read)."""
        self.password_edit.clear()
        self.pin_edit.clear()

    def show_error(self, text: str, *, needs_password: bool | None = None) -> None:
        """A failed signature: say why, clear the PIN and put the cursor back where typing resumes."""
        self.set_busy(False)
        if needs_password is not None and needs_password != self._needs_password:
            self._needs_password = needs_password
            self._apply_mode()
        self.error_label.setText(text)
        self.error_label.show()
        self.pin_edit.clear()
        if self._needs_password and not self.password_edit.text():
            self.password_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.pin_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def wrong_password(self, text: str) -> None:
        """The password was refused: clear both fields, the password first."""
        self.password_edit.clear()
        self.show_error(text)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (self.password_edit, self.pin_edit, self.sign_button, self.cancel_button):
            w.setEnabled(not busy)
        self.sign_button.setText(self.tr("Signing…") if busy else self.tr("Sign (Return)"))

    # -- internals

    def _apply_mode(self) -> None:
        self.password_caption.setVisible(self._needs_password)
        self.password_edit.setVisible(self._needs_password)
        if self._needs_password:
            self.rule_label.setText(self.tr(
                "First signature of this session, after 10 idle minutes or after a lock: type your password "
                "and your signing PIN."))
            self.password_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.password_edit.clear()
            self.rule_label.setText(self.tr("Your signing session is open: your signing PIN is enough."))
            self.pin_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.adjustSize()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        first = self.password_edit if self._needs_password and not self.password_edit.text() else self.pin_edit
        first.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def reject(self) -> None:
        if not self._busy:  # a signature under way finishes first; its outcome decides what happens next
            super().reject()

    def _password_entered(self) -> None:
        if self.pin_edit.text():
            self._sign()
        else:
            self.pin_edit.setFocus(Qt.FocusReason.TabFocusReason)

    def _sign(self) -> None:
        if self._busy:
            return
        if self._needs_password and not self.password_edit.text():
            self.show_error(self.tr("Type your password."))
            return
        if not self.pin_edit.text():
            self.error_label.setText(self.tr("Type your signing PIN."))
            self.error_label.show()
            self.pin_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        if not self._defer:
            self.accept()
            return
        self.error_label.hide()
        self.set_busy(True)
        self.sign_requested.emit()
