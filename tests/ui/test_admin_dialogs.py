"""Settings, first-run setup and administration, as an IT person and a pharmacist would meet them."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QInputDialog
from sqlalchemy import select

from tests.conftest import PASSWORD, PIN, Pharmacy
from tests.support import MemoryKeyring
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation, open_workstation
from workstation.domain.accounts import Role
from workstation.services import site
from workstation.settings import load_settings

from ui import admin as admin_ui
from ui import i18n, messages
from ui.admin import AdminDialog
from ui.context import AppContext
from ui.settings_dialog import SettingsDialog
from ui.setup_wizard import SetupWizard
from ui.tasks import TaskRunner

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]


@pytest.fixture(autouse=True)
def user_settings(tmp_path: Path) -> None:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(messages, "_show", lambda box: seen.append(box.text()) or 0)
    return seen


@pytest.fixture
def it_admin(pharmacy: Pharmacy) -> Any:
    pharmacy.ws.accounts.add(pharmacy.admin, name="信息科管理员", licence="IT-0001", roles=frozenset({Role.ADMIN}),
                             password=PASSWORD)
    return pharmacy.ws.accounts.authenticate("IT-0001", PASSWORD)


def ctx_for(ws: Workstation, principal: Any) -> AppContext:
    ctx = AppContext(ws, TaskRunner())
    ctx.principal = principal
    return ctx


# -- settings


def test_a_pharmacist_sets_language_and_font_but_not_the_machine(qtbot: Any, pharmacy: Pharmacy) -> None:
    dialog = SettingsDialog(ctx_for(pharmacy.ws, pharmacy.pharmacist))
    qtbot.addWidget(dialog)
    assert all(e.isReadOnly() for e in dialog._machine_edits())
    assert not any(e.isEnabled() for e in dialog._secret_edits())
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("en"))
    dialog.font_spin.setValue(13.5)
    dialog.save()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert i18n.saved_language() == "en"
    assert float(QSettings(i18n.SETTINGS_ORG, i18n.SETTINGS_APP).value("font_size")) == 13.5
    assert not pharmacy.ws.settings.settings_file.exists()


def test_an_admin_saves_endpoints_to_the_file_and_tokens_to_the_keyring(
        qtbot: Any, pharmacy: Pharmacy, it_admin: Any, memory_keyring: MemoryKeyring) -> None:
    dialog = SettingsDialog(ctx_for(pharmacy.ws, it_admin))
    qtbot.addWidget(dialog)
    assert not dialog.keyring_missing.isVisibleTo(dialog)
    dialog.fhir_edit.setText("https://ih.example.cn/fhir")
    dialog.dispensing_edit.setText("https://dispense.example.cn/api")
    dialog.fhir_token_edit.setText("s3cret-token")
    dialog.save()
    assert dialog.result() == QDialog.DialogCode.Accepted
    text = pharmacy.ws.settings.settings_file.read_text("utf-8")
    saved = tomllib.loads(text)
    assert saved["fhir_server"]["base_url"] == "https://ih.example.cn/fhir"
    assert saved["release"]["dispensing_url"] == "https://dispense.example.cn/api"
    assert "s3cret-token" not in text and "database" not in saved, "only what changed, and never a secret"
    assert memory_keyring.get_password("rxws", pharmacy.ws.settings.fhir_server.token_name) == "s3cret-token"


def test_a_database_url_with_a_password_is_refused_and_nothing_written(
        qtbot: Any, pharmacy: Pharmacy, it_admin: Any, shown: list[str]) -> None:
    dialog = SettingsDialog(ctx_for(pharmacy.ws, it_admin))
    qtbot.addWidget(dialog)
    dialog.database_edit.setText("postgresql://rxws:hunter2@db/rxws")
    dialog.save()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert shown and "password" in shown[0]
    assert not pharmacy.ws.settings.settings_file.exists()


def test_without_a_keyring_the_dialog_explains_and_closes_the_secret_fields(qtbot: Any, pharmacy: Pharmacy,
                                                                           it_admin: Any) -> None:
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        dialog = SettingsDialog(ctx_for(pharmacy.ws, it_admin))
        qtbot.addWidget(dialog)
        assert dialog.keyring_missing.isVisibleTo(dialog) and "keyring" in dialog.keyring_missing.text()
        assert not any(e.isEnabled() for e in dialog._secret_edits())
        dialog.resize(760, 700)
        dialog.grab().save("/tmp/rxws-settings-dialog.png")
    finally:
        keyring.set_keyring(before)


# -- first run


@pytest.fixture
def empty_ws(tmp_path: Path, fast_kdfs: None) -> Iterator[Workstation]:
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "config"), "RXWS_DATA_DIR": str(tmp_path / "data")}
    ws = open_workstation(load_settings(env))
    try:
        yield ws
    finally:
        ws.close()


def fill_setup(wizard: SetupWizard) -> None:
    page = wizard.admin_page
    page.pharmacy_edit.setText("浦东示范医院互联网医院药房")
    page.name_edit.setText("赵信息")
    page.licence_edit.setText("IT-0001")
    page.password_edit.setText(PASSWORD)
    page.repeat_edit.setText(PASSWORD)


def test_setup_creates_the_pharmacy_and_the_first_admin_once(qtbot: Any, empty_ws: Workstation,
                                                            shown: list[str]) -> None:
    assert site.needs_setup(empty_ws.uow())
    wizard = SetupWizard(ctx_for(empty_ws, None))
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.admin_page
    fill_setup(wizard)
    page.repeat_edit.setText("something else")
    wizard.next()
    assert "differ" in page.problem.text() and wizard.currentPage() is page
    page.repeat_edit.setText(PASSWORD)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.enrol_page, timeout=10_000)
    assert not site.needs_setup(empty_ws.uow())
    assert site.pharmacy_name(empty_ws.uow()) == "浦东示范医院互联网医院药房"
    admin = empty_ws.accounts.authenticate("IT-0001", PASSWORD)
    assert admin.roles == frozenset({Role.ADMIN})
    assert "keyring" in wizard.enrol_page.text.text() or "Administration" in wizard.enrol_page.text.text()
    wizard.grab().save("/tmp/rxws-setup-wizard.png")

    again = SetupWizard(ctx_for(empty_ws, None))
    qtbot.addWidget(again)
    again.show()
    fill_setup(again)
    again.next()
    qtbot.waitUntil(lambda: not again.isVisible(), timeout=10_000)
    assert again.result() == QDialog.DialogCode.Rejected and shown
    with empty_ws.uow() as uow:
        assert uow.session.scalars(select(orm.AuditEvent.id).where(orm.AuditEvent.action == "setup.refused")).first()
        assert len(uow.session.scalars(select(orm.Pharmacist.id)).all()) == 1


# -- administration


def test_administration_refuses_a_pharmacist(qtbot: Any, pharmacy: Pharmacy) -> None:
    dialog = AdminDialog(ctx_for(pharmacy.ws, pharmacy.pharmacist))
    qtbot.addWidget(dialog)
    dialog.licence_edit.setText(pharmacy.pharmacist.licence or "")
    dialog.password_edit.setText(PASSWORD)
    dialog.sign_in()
    qtbot.waitUntil(lambda: "administrator" in dialog.gate_status.text() or "管理员" in dialog.gate_status.text(),
                    timeout=10_000)
    assert dialog.admin is None and dialog.stack.currentIndex() == 0
    dialog.password_edit.setText("wrong-password")
    dialog.sign_in()
    qtbot.waitUntil(lambda: dialog.gate_button.isEnabled() and "Checking" not in dialog.gate_status.text(),
                    timeout=10_000)
    assert dialog.admin is None


def test_an_admin_adds_locks_unlocks_and_enrols(qtbot: Any, qtmodeltester: Any, pharmacy: Pharmacy, it_admin: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = pharmacy.ws
    dialog = AdminDialog(ctx_for(ws, it_admin))
    qtbot.addWidget(dialog)
    assert dialog.licence_edit.text() == "IT-0001"
    dialog.password_edit.setText(PASSWORD)
    dialog.sign_in()
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 3, timeout=10_000)
    qtmodeltester.check(dialog.model)

    def add_exec(form: admin_ui.AddAccountDialog) -> int:
        form.name_edit.setText("孙药师")
        form.licence_edit.setText("PH0009")
        form.password_edit.setText(PASSWORD)
        return int(QDialog.DialogCode.Accepted.value)

    monkeypatch.setattr(admin_ui.AddAccountDialog, "exec", add_exec)
    dialog.add_account()
    qtbot.waitUntil(lambda: any(r.licence == "PH0009" for r in dialog.model.rows), timeout=10_000)

    def select(licence: str) -> None:
        row = next(i for i, r in enumerate(dialog.model.rows) if r.licence == licence)
        dialog.table.setCurrentIndex(dialog.model.index(row, 0))

    def row(licence: str) -> Any:
        return next(r for r in dialog.model.rows if r.licence == licence)

    select("PH0009")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("离职", True))
    dialog.lock_selected()
    qtbot.waitUntil(lambda: not row("PH0009").active, timeout=10_000)
    select("PH0009")
    dialog.unlock_selected()
    qtbot.waitUntil(lambda: row("PH0009").active, timeout=10_000)

    def enrol_exec(form: admin_ui.EnrolDialog) -> int:
        form.password_edit.setText(PASSWORD)
        form.pin_edit.setText(PIN)
        form.repeat_edit.setText(PIN)
        return int(QDialog.DialogCode.Accepted.value)

    monkeypatch.setattr(admin_ui.EnrolDialog, "exec", enrol_exec)
    select("PH0009")
    dialog.enrol_selected()
    qtbot.waitUntil(lambda: row("PH0009").enrolled, timeout=20_000)
    qtmodeltester.check(dialog.model)
    with ws.uow() as uow:
        actions = set(uow.session.scalars(select_actions()))
    assert {"account.added", "account.locked", "account.unlocked"} <= actions
    dialog.grab().save("/tmp/rxws-admin-dialog.png")


def select_actions() -> Any:
    return select(orm.AuditEvent.action).where(orm.AuditEvent.subject == "pharmacist:PH0009")
