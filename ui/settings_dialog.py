"""Settings (设置): this user's language and font size; this machine's database and endpoints; secrets.

Per-user choices (language, font size) are saved in QSettings and the font size applies at once; the
language applies at the next start. Machine settings go to the settings file through
:func:`workstation.settings_writer.save_settings` (checked by the real loader, written atomically) and
need an administrator; they take effect at the next start. Secrets (the PostgreSQL password, the FHIR
and release tokens) go to the OS keyring only. Where there is no secure keyring the dialog says so and
what to do, and keeps the secret fields closed — the demo needs none.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workstation.adapters import secrets
from workstation.domain.accounts import Action
from workstation.domain.errors import DomainError
from workstation.settings_writer import save_settings

from ui import fonts, i18n, messages
from ui.context import AppContext

FONT_SIZE_KEY = "font_size"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}


def _plain(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class SettingsDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("settings-dialog")
        self.setWindowTitle(self.tr("Settings"))
        settings = ctx.ws.settings
        principal = ctx.principal
        self.machine_allowed = principal is not None and principal.can(Action.MANAGE_ACCOUNTS)
        self.keyring_available = secrets.secure_backend_available()

        # -- this user
        user_box = QGroupBox(self.tr("For me on this computer"), self)
        uf = QFormLayout(user_box)
        self.language_combo = QComboBox(user_box)
        self.language_combo.setObjectName("settings-language")
        for code in ("zh_CN", "en"):
            self.language_combo.addItem(LANGUAGE_NAMES[code], code)
        self.language_combo.setCurrentIndex(self.language_combo.findData(i18n.saved_language()))
        self.font_spin = QDoubleSpinBox(user_box)
        self.font_spin.setObjectName("settings-font-size")
        self.font_spin.setRange(8.0, 24.0)
        self.font_spin.setSingleStep(0.5)
        self.font_spin.setSuffix(" pt")
        app = QApplication.instance()
        self._font_before = app.font().pointSizeF() if isinstance(app, QApplication) else 10.0
        self.font_spin.setValue(self._font_before)
        self.font_spin.valueChanged.connect(self._preview_font)
        uf.addRow(self.tr("Language (at the next start)"), self.language_combo)
        uf.addRow(self.tr("Font size"), self.font_spin)

        # -- this machine
        machine_box = QGroupBox(self.tr("This workstation (administrators; at the next start)"), self)
        mf = QFormLayout(machine_box)
        self.database_edit = QLineEdit(settings.database_url, machine_box)
        self.database_edit.setObjectName("settings-database-url")
        self.database_edit.setToolTip(self.tr("sqlite:///path or postgresql://user@host/dbname — never a password"))
        self.inbox_edit = QLineEdit(str(settings.inbox_dir), machine_box)
        self.inbox_edit.setObjectName("settings-inbox")
        self.fhir_edit = QLineEdit(settings.fhir_server.base_url or "", machine_box)
        self.fhir_edit.setObjectName("settings-fhir-url")
        self.fhir_edit.setPlaceholderText("https://ih.example.cn/fhir")
        self.dispensing_edit = QLineEdit(settings.release.dispensing_url or "", machine_box)
        self.dispensing_edit.setObjectName("settings-dispensing-url")
        self.delivery_edit = QLineEdit(settings.release.delivery_url or "", machine_box)
        self.delivery_edit.setObjectName("settings-delivery-url")
        mf.addRow(self.tr("Database URL"), self.database_edit)
        mf.addRow(self.tr("Inbox folder"), self.inbox_edit)
        mf.addRow(self.tr("Internet hospital FHIR server"), self.fhir_edit)
        mf.addRow(self.tr("Dispensing endpoint"), self.dispensing_edit)
        mf.addRow(self.tr("Delivery endpoint"), self.delivery_edit)
        self.machine_note = _plain(machine_box, "settings-machine-note")
        self.machine_note.setText(
            self.tr("Saved to %1.").replace("%1", str(settings.settings_file)) if self.machine_allowed else
            self.tr("Only an administrator can change these (sign in as one)."))
        self.machine_note.setMinimumWidth(640)
        mf.addRow(self.machine_note)
        for edit in self._machine_edits():
            edit.setReadOnly(not self.machine_allowed)

        # -- secrets
        secret_box = QGroupBox(self.tr("Secrets (kept in the OS keyring only)"), self)
        sf = QFormLayout(secret_box)
        self.db_password_edit = self._secret(secret_box, "settings-db-password")
        self.fhir_token_edit = self._secret(secret_box, "settings-fhir-token")
        self.dispensing_token_edit = self._secret(secret_box, "settings-dispensing-token")
        self.delivery_token_edit = self._secret(secret_box, "settings-delivery-token")
        sf.addRow(self.tr("PostgreSQL password"), self.db_password_edit)
        sf.addRow(self.tr("FHIR server token"), self.fhir_token_edit)
        sf.addRow(self.tr("Dispensing token"), self.dispensing_token_edit)
        sf.addRow(self.tr("Delivery token"), self.delivery_token_edit)
        self.keyring_missing = _plain(secret_box, "keyring-missing")
        self.keyring_missing.setStyleSheet("background:#fff4ce; color:#5c4400; padding:4px;")
        self.keyring_missing.setText(self.tr(
            "This computer has no secure OS keyring (found: %1), so no password or token can be stored here. "
            "Install and unlock one — GNOME Keyring or KWallet (Secret Service) on Linux, Windows Credential "
            "Manager, macOS Keychain — and open Settings again. The workstation never stores secrets in plain "
            "text. The demo (SQLite, demo accounts) needs none.").replace("%1", secrets.backend_description()))
        self.keyring_missing.setVisible(not self.keyring_available)
        self.keyring_missing.setMinimumWidth(640)
        sf.addRow(self.keyring_missing)
        for edit in self._secret_edits():
            edit.setEnabled(self.keyring_available and self.machine_allowed)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # wrapped notes get their full height
        for w in (user_box, machine_box, secret_box):
            layout.addWidget(w)
        layout.addWidget(buttons)
        self.setMinimumWidth(720)

    def _secret(self, parent: QWidget, name: str) -> QLineEdit:
        edit = QLineEdit(parent)
        edit.setObjectName(name)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText(self.tr("unchanged"))
        return edit

    def _machine_edits(self) -> list[QLineEdit]:
        return [self.database_edit, self.inbox_edit, self.fhir_edit, self.dispensing_edit, self.delivery_edit]

    def _secret_edits(self) -> list[QLineEdit]:
        return [self.db_password_edit, self.fhir_token_edit, self.dispensing_token_edit, self.delivery_token_edit]

    def _preview_font(self, size: float) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            fonts.apply_font(app, size)

    def reject(self) -> None:
        self._preview_font(self._font_before)
        super().reject()

    def machine_changes(self) -> dict[str, Any]:
        """What differs from the loaded settings, as settings-file keys (an empty field: back to the default)."""
        s = self.ctx.ws.settings
        fields: list[tuple[str, str, str]] = [
            ("database.url", self.database_edit.text().strip(), s.database_url),
            ("intake.inbox_dir", self.inbox_edit.text().strip(), str(s.inbox_dir)),
            ("fhir_server.base_url", self.fhir_edit.text().strip(), s.fhir_server.base_url or ""),
            ("release.dispensing_url", self.dispensing_edit.text().strip(), s.release.dispensing_url or ""),
            ("release.delivery_url", self.delivery_edit.text().strip(), s.release.delivery_url or ""),
        ]
        return {key: (new or None) for key, new, old in fields if new != old}

    def save(self) -> None:
        user = QSettings(i18n.SETTINGS_ORG, i18n.SETTINGS_APP)
        user.setValue(FONT_SIZE_KEY, self.font_spin.value())
        user.sync()
        i18n.save_language(str(self.language_combo.currentData()))
        self._font_before = self.font_spin.value()
        try:
            if self.machine_allowed:
                changes = self.machine_changes()
                if changes:
                    save_settings(self.ctx.ws.settings.settings_file, changes)
                self._save_secrets()
        except (DomainError, secrets.SecretStoreError) as exc:
            messages.error(self, str(exc), title=self.tr("Settings not saved"))
            return
        self.accept()

    def _save_secrets(self) -> None:
        s = self.ctx.ws.settings
        wanted: list[tuple[str, str]] = []
        if self.db_password_edit.text():
            try:
                url = make_url(self.database_edit.text().strip() or s.database_url)
            except ArgumentError:
                raise DomainError(self.tr("The database URL is not a database URL.")) from None
            if url.get_backend_name() == "sqlite":
                raise DomainError(self.tr("A SQLite database has no password: leave the PostgreSQL password empty."))
            wanted.append((secrets.database_secret_name(url.username, url.host, url.port, url.database),
                           self.db_password_edit.text()))
        for edit, name in ((self.fhir_token_edit, s.fhir_server.token_name),
                           (self.dispensing_token_edit, s.release.dispensing_token_name),
                           (self.delivery_token_edit, s.release.delivery_token_name)):
            if edit.text():
                wanted.append((name, edit.text()))
        for name, value in wanted:
            secrets.set_secret(name, value)
        for edit in self._secret_edits():
            edit.clear()
