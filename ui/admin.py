"""Administration (系统管理): accounts and signing credentials, behind an administrator's own sign-in.

Whoever is signed in at the window, the dialog first asks for an administrator's licence and password
(re-authentication, audited as a sign-in) and refuses anyone else with the reason. Every action goes
through the account and signing services, which check the role again and write the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workstation.domain.accounts import ROLE_LABELS, Action, Principal, Role
from workstation.services.accounts import PharmacistInfo

from ui import messages
from ui.context import AppContext
from ui.tables import Index, TitledTableModel

translate = QCoreApplication.translate


class AccountsModel(TitledTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__([translate("AccountsModel", "Licence"), translate("AccountsModel", "Name"),
                          translate("AccountsModel", "Roles"), translate("AccountsModel", "Status"),
                          translate("AccountsModel", "Signing credential")], parent)
        self.rows: list[PharmacistInfo] = []

    def set_rows(self, rows: list[PharmacistInfo]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self.rows) or role != Qt.ItemDataRole.DisplayRole:
            return None
        r = self.rows[index.row()]
        col = index.column()
        if col == 0:
            return r.licence
        if col == 1:
            return r.name
        if col == 2:
            return "、".join(ROLE_LABELS[x] for x in sorted(r.roles, key=lambda x: x.value))
        if col == 3:
            if not r.active:
                return self.tr("locked")
            if r.locked_until is not None:
                return self.tr("locked out after failed sign-ins")
            return self.tr("active")
        if col == 4:
            return self.tr("enrolled") if r.enrolled else self.tr("none")
        return None


class AdminDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.admin: Principal | None = None
        self.setObjectName("admin-dialog")
        self.setWindowTitle(self.tr("Administration"))
        self.stack = QStackedWidget(self)

        # Page 1: the administrator signs in again.
        gate = QWidget(self)
        gl = QFormLayout(gate)
        self.gate_text = QLabel(self.tr("Administration needs an administrator's own sign-in."), gate)
        self.licence_edit = QLineEdit(gate)
        self.licence_edit.setObjectName("admin-licence")
        p = ctx.principal
        if p is not None and p.can(Action.MANAGE_ACCOUNTS) and p.licence:
            self.licence_edit.setText(p.licence)
        self.password_edit = QLineEdit(gate)
        self.password_edit.setObjectName("admin-password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.gate_status = QLabel(gate)
        self.gate_status.setObjectName("admin-gate-status")
        self.gate_status.setTextFormat(Qt.TextFormat.PlainText)
        self.gate_status.setWordWrap(True)
        self.gate_button = QPushButton(self.tr("Sign in"), gate)
        self.gate_button.setObjectName("admin-sign-in")
        self.gate_button.setDefault(True)
        self.gate_button.clicked.connect(self.sign_in)
        self.password_edit.returnPressed.connect(self.sign_in)
        gl.addRow(self.gate_text)
        gl.addRow(self.tr("Licence / staff number"), self.licence_edit)
        gl.addRow(self.tr("Password"), self.password_edit)
        gl.addRow(self.gate_status)
        gl.addRow(self.gate_button)

        # Page 2: accounts.
        work = QWidget(self)
        wl = QVBoxLayout(work)
        self.model = AccountsModel(self)
        self.table = QTableView(work)
        self.table.setObjectName("admin-accounts")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        self.add_button = self._button(work, "admin-add", self.tr("Add account…"), self.add_account)
        self.lock_button = self._button(work, "admin-lock", self.tr("Lock"), self.lock_selected)
        self.unlock_button = self._button(work, "admin-unlock", self.tr("Unlock"), self.unlock_selected)
        self.enrol_button = self._button(work, "admin-enrol", self.tr("Enrol signing credential…"), self.enrol_selected)
        for b in (self.add_button, self.lock_button, self.unlock_button, self.enrol_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.work_status = QLabel(work)
        self.work_status.setObjectName("admin-status")
        self.work_status.setTextFormat(Qt.TextFormat.PlainText)
        self.work_status.setWordWrap(True)
        wl.addWidget(self.table, 1)
        wl.addLayout(buttons)
        wl.addWidget(self.work_status)

        self.stack.addWidget(gate)
        self.stack.addWidget(work)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addWidget(close)
        self.resize(760, 460)
        (self.password_edit if self.licence_edit.text() else self.licence_edit).setFocus()

    def _button(self, parent: QWidget, name: str, text: str, slot: Callable[[], None]) -> QPushButton:
        b = QPushButton(text, parent)
        b.setObjectName(name)
        b.clicked.connect(slot)
        return b

    # -- the gate

    def sign_in(self) -> None:
        accounts, licence, password = self.ctx.ws.accounts, self.licence_edit.text().strip(), self.password_edit.text()
        self.password_edit.clear()
        self.gate_button.setEnabled(False)
        self.gate_status.setText(self.tr("Checking…"))
        self.ctx.tasks.submit(lambda: accounts.authenticate(licence, password, where="admin"),
                              on_done=self._signed_in, on_error=self._refused)

    def _signed_in(self, principal: Principal) -> None:
        self.gate_button.setEnabled(True)
        if not principal.can(Action.MANAGE_ACCOUNTS):
            self.gate_status.setText(self.tr("%1 is not an administrator: administration is refused.")
                                     .replace("%1", principal.name))
            return
        self.admin = principal
        self.gate_status.clear()
        self.stack.setCurrentIndex(1)
        self.reload()

    def _refused(self, exc: BaseException, tb: str) -> None:
        self.gate_button.setEnabled(True)
        messages.log.warning("administration sign-in refused: %s", exc)
        self.gate_status.setText(str(exc))

    # -- accounts

    def reload(self) -> None:
        admin, accounts = self.admin, self.ctx.ws.accounts
        if admin is None:
            return
        self.ctx.tasks.submit(lambda: accounts.list(admin), on_done=self.model.set_rows, on_error=self._failed)

    def selected(self) -> PharmacistInfo | None:
        index = self.table.currentIndex()
        return self.model.rows[index.row()] if index.isValid() and index.row() < len(self.model.rows) else None

    def _run(self, work: Callable[[], Any], done_text: str) -> None:
        def done(_result: Any) -> None:
            self.work_status.setText(done_text)
            self.reload()

        self.ctx.tasks.submit(work, on_done=done, on_error=self._failed)

    def _failed(self, exc: BaseException, tb: str) -> None:
        messages.error(self, str(exc), detail=tb)
        self.reload()

    def add_account(self) -> None:
        admin = self.admin
        if admin is None:
            return
        form = AddAccountDialog(self)
        if form.exec() != QDialog.DialogCode.Accepted:
            return
        name, licence, roles, password = form.values()
        accounts = self.ctx.ws.accounts
        self._run(lambda: accounts.add(admin, name=name, licence=licence, roles=roles, password=password),
                  self.tr("Account %1 added.").replace("%1", licence))

    def lock_selected(self) -> None:
        admin, row = self.admin, self.selected()
        if admin is None or row is None:
            return
        reason, ok = QInputDialog.getText(self, self.tr("Lock %1").replace("%1", row.licence),
                                          self.tr("Why is this account locked?"))
        if not ok or not reason.strip():
            return
        accounts = self.ctx.ws.accounts
        self._run(lambda: accounts.lock(admin, row.licence, reason=reason.strip()),
                  self.tr("%1 locked.").replace("%1", row.licence))

    def unlock_selected(self) -> None:
        admin, row = self.admin, self.selected()
        if admin is None or row is None:
            return
        accounts = self.ctx.ws.accounts
        self._run(lambda: accounts.unlock(admin, row.licence), self.tr("%1 unlocked.").replace("%1", row.licence))

    def enrol_selected(self) -> None:
        admin, row = self.admin, self.selected()
        if admin is None or row is None:
            return
        form = EnrolDialog(row, self)
        if form.exec() != QDialog.DialogCode.Accepted:
            return
        password, pin = form.values()
        signing = self.ctx.ws.signing
        self._run(lambda: signing.enroll(admin, row.licence, password=password, pin=pin),
                  self.tr("%1 enrolled: a signing credential was issued.").replace("%1", row.licence))


class AddAccountDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("admin-add-dialog")
        self.setWindowTitle(self.tr("Add account"))
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("add-name")
        self.licence_edit = QLineEdit(self)
        self.licence_edit.setObjectName("add-licence")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("add-password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.role_checks = {role: QCheckBox(ROLE_LABELS[role], self) for role in (Role.PHARMACIST, Role.LEAD, Role.ADMIN)}
        self.role_checks[Role.PHARMACIST].setChecked(True)
        form = QFormLayout(self)
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Licence / staff number"), self.licence_edit)
        form.addRow(self.tr("First password (the user changes it)"), self.password_edit)
        roles = QHBoxLayout()
        for check in self.role_checks.values():
            roles.addWidget(check)
        form.addRow(self.tr("Roles"), roles)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[str, str, frozenset[Role], str]:
        roles = frozenset(r for r, c in self.role_checks.items() if c.isChecked())
        return self.name_edit.text().strip(), self.licence_edit.text().strip(), roles, self.password_edit.text()


class EnrolDialog(QDialog):
    """The pharmacist types their own password and chooses the signing PIN (the administrator does not see it)."""

    def __init__(self, row: PharmacistInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("admin-enrol-dialog")
        self.setWindowTitle(self.tr("Enrol %1").replace("%1", row.name))
        note = QLabel(self.tr("Hand the keyboard to %1: they type their password and choose a signing PIN.")
                      .replace("%1", row.name), self)
        note.setTextFormat(Qt.TextFormat.PlainText)
        note.setWordWrap(True)
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("enrol-password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit = QLineEdit(self)
        self.pin_edit.setObjectName("enrol-pin")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit(self)
        self.repeat_edit.setObjectName("enrol-pin-repeat")
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel(self)
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout(self)
        form.addRow(note)
        form.addRow(self.tr("Password"), self.password_edit)
        form.addRow(self.tr("Signing PIN"), self.pin_edit)
        form.addRow(self.tr("Signing PIN again"), self.repeat_edit)
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _check(self) -> None:
        if self.pin_edit.text() != self.repeat_edit.text():
            self.problem.setText(self.tr("The two PINs differ."))
            return
        self.accept()

    def values(self) -> tuple[str, str]:
        return self.password_edit.text(), self.pin_edit.text()
