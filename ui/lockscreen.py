"""The screen lock (锁屏): after 10 idle minutes or on demand; it drops the signing session and hides patient data.

Unlocking needs the signed-in pharmacist's password (checked by the account service, so failures count
towards the account lock like any other). Another person at the workstation signs out instead.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workstation.domain.accounts import Principal

from ui.context import AppContext
from ui.signin import PasswordCheck

IDLE_LOCK_SECONDS = 10 * 60

_INPUT_EVENTS = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                           QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.ShortcutOverride})


class IdleWatch(QObject):
    """Watches the application's input events; emits ``idle`` once after ``seconds`` without any."""

    idle = Signal()

    def __init__(self, seconds: float = IDLE_LOCK_SECONDS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self._last = time.monotonic()
        self._fired = False
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._check)
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT_EVENTS:
            self.touch()
        return False

    def touch(self) -> None:
        self._last = time.monotonic()
        self._fired = False

    def idle_for(self) -> float:
        return time.monotonic() - self._last

    def _check(self) -> None:
        if not self._fired and self.idle_for() >= self.seconds:
            self._fired = True
            self.idle.emit()


class LockScreen(QWidget):
    """Shown instead of the work area while the workstation is locked."""

    unlocked = Signal(object)  # Principal
    sign_out_requested = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockscreen")
        self._ctx = ctx
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        self.title = QLabel(self)
        self.title.setObjectName("lock-title")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.title.setFont(font)
        outer.addWidget(self.title)
        self.check: PasswordCheck | None = None
        self._box = QVBoxLayout()
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(self._box)
        row.addStretch(1)
        outer.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.unlock_button = QPushButton(self.tr("Unlock"), self)
        self.sign_out_button = QPushButton(self.tr("Sign out"), self)
        buttons.addWidget(self.unlock_button)
        buttons.addWidget(self.sign_out_button)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        outer.addStretch(2)
        self.sign_out_button.clicked.connect(self.sign_out_requested)
        self.unlock_button.clicked.connect(self._submit)

    def prepare(self, principal: Principal, *, reason: str) -> None:
        """Set the form up for ``principal`` (the password is theirs alone)."""
        self.title.setText(self.tr("Locked — %1\n%2").replace("%1", principal.name).replace("%2", reason))
        if self.check is not None:
            self.check.setParent(None)
            self.check.deleteLater()
        self.check = PasswordCheck(self._ctx, where="unlock", fixed_licence=principal.licence or principal.name, parent=self)
        self.check.setMinimumWidth(360)
        self._box.addWidget(self.check)
        self.check.authenticated.connect(self._authenticated)
        self.check.password.setFocus()

    def _submit(self) -> None:
        if self.check is not None:
            self.check.submit()

    def _authenticated(self, principal: Principal) -> None:
        if self._ctx.principal is not None and principal.pharmacist_id != self._ctx.principal.pharmacist_id:
            return  # a fixed licence cannot change; this is defence in depth
        self.unlocked.emit(principal)
