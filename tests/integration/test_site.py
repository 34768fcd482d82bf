"""Site settings and first-run setup: admins only, audited, and the first administrator exactly once."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, Pharmacy
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation
from workstation.domain.accounts import AuthenticationFailed, PermissionDenied, Principal, Role
from workstation.domain.errors import DomainError
from workstation.services import audit, site


def _events(ws: Workstation, action: str) -> list[orm.AuditEvent]:
    with ws.uow() as uow:
        rows = list(uow.session.scalars(select(orm.AuditEvent).where(orm.AuditEvent.action == action)
                                        .order_by(orm.AuditEvent.seq)))
        uow.session.expunge_all()  # read after the unit of work closes
        return rows


def test_an_empty_database_needs_setup_and_has_no_name(ws: Workstation) -> None:
    assert site.needs_setup(ws.uow()) is True
    assert site.pharmacy_name(ws.uow()) is None


def test_first_admin_is_created_once_with_the_pharmacy_name(ws: Workstation, fast_kdfs: None) -> None:
    info = site.create_first_admin(ws.uow, name=" 张工 ", licence=" IT-0001 ", password=PASSWORD,
                                   os_user="setup-user", pharmacy="  仁心   互联网医院药房 ")
    assert (info.name, info.licence, info.roles, info.active, info.enrolled) == (
        "张工", "IT-0001", frozenset({Role.ADMIN}), True, False)
    assert site.needs_setup(ws.uow()) is False
    assert site.pharmacy_name(ws.uow()) == "仁心 互联网医院药房"
    admin = ws.accounts.authenticate("IT-0001", PASSWORD)
    assert admin.roles == frozenset({Role.ADMIN}) and admin.name == "张工"
    [made] = _events(ws, "setup.first_admin")
    assert made.actor == "os:setup-user" and made.subject == "pharmacist:IT-0001"
    [changed] = _events(ws, "site.setting_changed")
    assert json.loads(changed.details)["new"] == "仁心 互联网医院药房"

    with pytest.raises(site.SetupRefused):
        site.create_first_admin(ws.uow, name="另一人", licence="IT-0002", password=PASSWORD, os_user="intruder")
    assert [p.licence for p in ws.accounts.list(admin)] == ["IT-0001"]
    [refused] = _events(ws, "setup.refused")
    assert refused.actor == "os:intruder" and refused.subject == "pharmacist:IT-0002"
    with pytest.raises(AuthenticationFailed):
        ws.accounts.authenticate("IT-0002", PASSWORD)
    assert audit.verify(ws.uow()).broken is None


def test_setup_is_refused_when_accounts_were_made_another_way(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    assert site.needs_setup(ws.uow()) is False
    with pytest.raises(site.SetupRefused):
        site.create_first_admin(ws.uow, name="张工", licence="IT-0001", password=PASSWORD, os_user="someone",
                                pharmacy="药房")
    assert site.pharmacy_name(ws.uow()) is None  # nothing of a refused setup is kept
    assert len(_events(ws, "setup.refused")) == 1


def test_setup_checks_its_input_before_writing(ws: Workstation, fast_kdfs: None) -> None:
    with pytest.raises(DomainError, match="at least 8"):
        site.create_first_admin(ws.uow, name="张工", licence="IT-0001", password="short", os_user="u")
    with pytest.raises(DomainError, match="required"):
        site.create_first_admin(ws.uow, name=" ", licence="IT-0001", password=PASSWORD, os_user="u")
    with pytest.raises(DomainError, match="pharmacy name"):
        site.create_first_admin(ws.uow, name="张工", licence="IT-0001", password=PASSWORD, os_user="u", pharmacy="  ")
    assert site.needs_setup(ws.uow()) is True


def test_concurrent_setups_make_exactly_one_admin(sqlite_ws: Workstation, fast_kdfs: None) -> None:
    ws = sqlite_ws
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(licence: str) -> None:
        barrier.wait()
        try:
            site.create_first_admin(ws.uow, name=licence, licence=licence, password=PASSWORD, os_user=licence)
            outcomes.append("made")
        except site.SetupRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(f"IT-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["made", "refused"]
    with ws.uow() as uow:
        assert len(uow.session.scalars(select(orm.Pharmacist)).all()) == 1


def test_only_an_admin_sets_the_pharmacy_name_and_each_change_is_audited(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    for who in (pharmacy.pharmacist, pharmacy.lead):
        with pytest.raises(PermissionDenied):
            site.set_pharmacy_name(ws.uow, who, "偷改的名字")
    assert site.pharmacy_name(ws.uow()) is None
    assert site.set_pharmacy_name(ws.uow, pharmacy.admin, " 第一药房 ") == "第一药房"
    assert site.set_pharmacy_name(ws.uow, pharmacy.admin, "第二药房") == "第二药房"
    assert site.pharmacy_name(ws.uow()) == "第二药房"
    changes = _events(ws, "site.setting_changed")
    assert [(json.loads(e.details)["old"], json.loads(e.details)["new"]) for e in changes] == [(None, "第一药房"), ("第一药房", "第二药房")]
    assert {e.actor for e in changes} == {pharmacy.admin.actor}
    with ws.uow() as uow:
        row = uow.session.get(orm.SiteSetting, site.PHARMACY_NAME)
        assert row is not None and row.updated_by == pharmacy.admin.actor
    with pytest.raises(DomainError):
        site.set_pharmacy_name(ws.uow, pharmacy.admin, "")
    with pytest.raises(DomainError):
        site.set_pharmacy_name(ws.uow, pharmacy.admin, "药" * 201)
    signed_in_admin = Principal(name="管理员", roles=frozenset({Role.ADMIN}), pharmacist_id=99, licence="IT-9")
    site.set_pharmacy_name(ws.uow, signed_in_admin, "第三药房")
    assert _events(ws, "site.setting_changed")[-1].actor == "pharmacist:IT-9"
