"""First run on an empty database outside demo mode (首次设置): pharmacy name, first administrator, enrolment.

The services decide: :func:`workstation.services.site.create_first_admin` works exactly once (guarded in
the database, audited); the pharmacy CA needs a secure OS keyring, and where there is none the last page
says so and how pharmacists get their signing credentials instead. The administrator account does not
sign prescriptions (separation of duties): pharmacists are added and enrolled under Administration.
"""

from __future__ import annotations

import getpass

from cryptography import x509

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from workstation.adapters import secrets
from workstation.services import site
from workstation.services.accounts import MIN_PASSWORD_CHARS, PharmacistInfo

from ui import messages
from ui.context import AppContext


def _plain(parent: QWidget, name: str = "") -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


class _AdminPage(QWizardPage):
    """Pharmacy name and the first administrator; the account is created when the page is left."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.w = wizard
        self.setTitle(self.tr("Pharmacy and first administrator"))
        self.setSubTitle(self.tr("The workstation's database is empty. Name the pharmacy and create the account of "
                                 "the administrator who will add the pharmacists."))
        self.pharmacy_edit = QLineEdit(self)
        self.pharmacy_edit.setObjectName("setup-pharmacy")
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("setup-admin-name")
        self.licence_edit = QLineEdit(self)
        self.licence_edit.setObjectName("setup-admin-licence")
        self.licence_edit.setPlaceholderText(self.tr("e.g. IT-0001 (the sign-in name)"))
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("setup-password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(self.tr("at least %1 characters").replace("%1", str(MIN_PASSWORD_CHARS)))
        self.repeat_edit = QLineEdit(self)
        self.repeat_edit.setObjectName("setup-password-repeat")
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._password = ""
        self.problem = _plain(self, "setup-problem")
        self.problem.setStyleSheet("color:#a4262c;")
        form = QFormLayout(self)
        form.addRow(self.tr("Pharmacy name"), self.pharmacy_edit)
        form.addRow(self.tr("Administrator's name"), self.name_edit)
        form.addRow(self.tr("Sign-in licence / staff number"), self.licence_edit)
        form.addRow(self.tr("Password"), self.password_edit)
        form.addRow(self.tr("Password again"), self.repeat_edit)
        form.addRow(self.problem)
        for edit in (self.pharmacy_edit, self.name_edit, self.licence_edit, self.password_edit, self.repeat_edit):
            edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return all(e.text().strip() for e in (self.pharmacy_edit, self.name_edit, self.licence_edit)) \
            and bool(self.password_edit.text())

    def validatePage(self) -> bool:  # noqa: N802
        if self.w.admin is not None:
            return True
        if self.password_edit.text() != self.repeat_edit.text():
            self.problem.setText(self.tr("The two passwords differ."))
            return False
        # Off the GUI thread (the password hash is slow on purpose); the page moves on when it is done.
        ws, w = self.w.ctx.ws, self.w
        name, licence, password, pharmacy = (self.name_edit.text(), self.licence_edit.text(), self.password_edit.text(),
                                             self.pharmacy_edit.text())
        self.problem.setText(self.tr("Creating the account…"))
        self.setEnabled(False)
        w.ctx.tasks.submit(lambda: site.create_first_admin(ws.uow, name=name, licence=licence, password=password,
                                                           os_user=getpass.getuser(), pharmacy=pharmacy),
                           on_done=self._created, on_error=self._failed)
        self._password = password
        return False

    def _created(self, info: PharmacistInfo) -> None:
        self.setEnabled(True)
        self.w.admin, self.w.password = info, self._password
        self._password = ""
        self.password_edit.clear()
        self.repeat_edit.clear()
        self.problem.clear()
        self.w.ctx.pharmacy_name = site.pharmacy_name(self.w.ctx.ws.uow())
        self.w.next()

    def _failed(self, exc: BaseException, tb: str) -> None:
        self.setEnabled(True)
        self._password = ""
        if isinstance(exc, site.SetupRefused):
            messages.error(self, str(exc), title=self.tr("Setup refused"))
            self.w.reject()
            return
        messages.log.error("setup failed: %s\n%s", exc, tb)
        self.problem.setText(str(exc))  # a policy or database error: said on the page, the input kept


class _EnrolPage(QWizardPage):
    """The pharmacy CA that issues the pharmacists' signing credentials, or how to do without one."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__(wizard)
        self.w = wizard
        self.setTitle(self.tr("Signing credentials"))
        self.text = _plain(self, "setup-enrolment")
        self.ca_button = QPushButton(self.tr("Create the pharmacy CA now"), self)
        self.ca_button.setObjectName("setup-create-ca")
        self.ca_button.clicked.connect(self.create_ca)
        self.status = _plain(self, "setup-ca-status")
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.ca_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        common = self.tr("Every approval carries the reviewing pharmacist's own e-signature. Next: sign in as the "
                         "administrator, open Workstation → Administration, add each pharmacist and enrol them (the "
                         "pharmacist types their password and chooses a signing PIN).")
        if secrets.secure_backend_available():
            self.text.setText(common + "\n\n" + self.tr(
                "The pharmacy CA issues those credentials; its key's passphrase goes to this computer's OS keyring."))
            self.ca_button.setVisible(True)
        else:
            self.text.setText(common + "\n\n" + self.tr(
                "This computer has no secure OS keyring (found: %1), so the pharmacy CA cannot be created here. "
                "Either create it on a computer that has one (rxws ca init), or import credentials issued by a "
                "CA you trust (rxws pharmacist import).").replace("%1", secrets.backend_description()))
            self.ca_button.setVisible(False)

    def create_ca(self) -> None:
        admin, password = self.w.admin, self.w.password
        if admin is None or password is None:
            return
        ws = self.w.ctx.ws
        self.ca_button.setEnabled(False)
        self.w.ctx.tasks.submit(lambda: ws.signing.ensure_ca(ws.accounts.authenticate(admin.licence, password,
                                                                                      where="setup")),
                                on_done=self._ca_ready, on_error=self._ca_failed)

    def _ca_ready(self, cert: x509.Certificate) -> None:
        self.status.setText(self.tr("Pharmacy CA ready: %1").replace("%1", cert.subject.rfc4514_string()))

    def _ca_failed(self, exc: BaseException, tb: str) -> None:
        messages.log.error("pharmacy CA not created: %s\n%s", exc, tb)
        self.status.setText(str(exc))
        self.ca_button.setEnabled(True)


class SetupWizard(QWizard):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("setup-wizard")
        self.setWindowTitle(self.tr("Set up the Rx Review Workstation"))
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.admin: PharmacistInfo | None = None
        self.password: str | None = None
        self.admin_page = _AdminPage(self)
        self.enrol_page = _EnrolPage(self)
        self.addPage(self.admin_page)
        self.addPage(self.enrol_page)
        self.resize(640, 460)

    def done(self, result: int) -> None:
        self.password = None
        super().done(result)
