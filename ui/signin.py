"""Sign-in (登录): licence number and password, checked by the account service off the GUI thread.

In demo mode the ready demo accounts, their password and signing PIN are shown on the screen — and
only in demo mode; a real pharmacy never sees them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from workstation.domain.accounts import AuthenticationFailed, Principal
from workstation.domain.errors import DomainError

from ui import messages
from ui.context import AppContext


class PasswordCheck(QWidget):
    """A licence + password form that authenticates in the background; shared by sign-in and unlock."""

    authenticated = Signal(object)  # Principal

    def __init__(self, ctx: AppContext, *, where: str, fixed_licence: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx, self._where = ctx, where
        form = QFormLayout(self)
        self.licence = QLineEdit(self)
        self.licence.setObjectName("licence")
        self.licence.setPlaceholderText(self.tr("Licence number, e.g. YS-DEMO-0001"))
        if fixed_licence is not None:
            self.licence.setText(fixed_licence)
            self.licence.setReadOnly(True)
        self.password = QLineEdit(self)
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.status = QLabel(self)
        self.status.setObjectName("signin-status")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        form.addRow(self.tr("&Licence number:"), self.licence)
        form.addRow(self.tr("&Password:"), self.password)
        form.addRow(self.status)
        self.password.returnPressed.connect(self.submit)
        self.licence.returnPressed.connect(self.password.setFocus)
        self._busy = False

    def submit(self) -> None:
        licence, password = self.licence.text().strip(), self.password.text()
        if self._busy:
            return
        if not licence or not password:
            self.status.setText(self.tr("Enter your licence number and password."))
            return
        self._busy = True
        self.status.setText(self.tr("Checking…"))
        accounts = self._ctx.ws.accounts
        self._ctx.tasks.submit(lambda: accounts.authenticate(licence, password, where=self._where),
                               on_done=self._done, on_error=self._failed)

    def _done(self, principal: Principal) -> None:
        self._busy = False
        self.password.clear()
        self.status.clear()
        self.authenticated.emit(principal)

    def _failed(self, exc: BaseException, tb: str) -> None:
        self._busy = False
        self.password.clear()
        self.password.setFocus()
        if isinstance(exc, (AuthenticationFailed, DomainError)):
            self.status.setText(str(exc))
        else:
            self.status.setText(self.tr("Sign-in failed."))
            messages.error(self, self.tr("Sign-in failed: %1").replace("%1", str(exc)), detail=tb)


class SignInDialog(QDialog):
    """The first screen. ``principal`` is set when it is accepted."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signin")
        self.setWindowTitle(self.tr("Rx Review Workstation — sign in"))
        self.principal: Principal | None = None
        layout = QVBoxLayout(self)
        title = QLabel(self.tr("Rx Review Workstation"), self)
        title.setObjectName("signin-title")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        pharmacy = ctx.pharmacy_name
        if pharmacy:
            where = QLabel(pharmacy, self)
            where.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(where)
        self.check = PasswordCheck(ctx, where="window", parent=self)
        layout.addWidget(self.check)
        if ctx.demo:
            layout.addWidget(self._demo_hint())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(self.tr("Sign in"))
        ok.setDefault(True)
        buttons.accepted.connect(self.check.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.check.authenticated.connect(self._signed_in)
        self.check.licence.setFocus()
        self.setMinimumWidth(460)

    def _demo_hint(self) -> QLabel:
        from workstation.services import demo

        lines = [self.tr("Demo mode — made-up patients; nothing here is real. Demo accounts:")]
        for account in demo.DEMO_ACCOUNTS:
            lines.append(f"  {account.licence}  {account.name}  ({self._role_label(account.role)})")
        lines.append(self.tr("Password %1 · signing PIN %2").replace("%1", demo.DEMO_PASSWORD).replace("%2", demo.DEMO_PIN))
        hint = QLabel("\n".join(lines), self)
        hint.setObjectName("demo-accounts")
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint.setFrameShape(QLabel.Shape.StyledPanel)
        hint.setMargin(8)
        return hint

    def _role_label(self, role: object) -> str:
        value = getattr(role, "value", role)
        return {"pharmacist": self.tr("pharmacist"), "lead": self.tr("pharmacy lead"),
                "admin": self.tr("administrator")}.get(str(value), str(value))

    def _signed_in(self, principal: Principal) -> None:
        self.principal = principal
        self.accept()
