"""Accounts and permissions: every role × action is enforced by the services, and logins lock after five failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, PIN, Pharmacy
from workstation.adapters.db import orm
from workstation.domain.accounts import PERMISSIONS, Action, AuthenticationFailed, PermissionDenied, Principal, Role
from workstation.domain.errors import DomainError
from workstation.services import release
from workstation.services.accounts import AccountService

Attempt = Callable[[Pharmacy, Principal], object]


def _claimed_by_other(ph: Pharmacy) -> int:
    ph.receive("RXROLEBREAK")
    return ph.ws.claims.claim(ph.lead, "RXROLEBREAK").prescription_id


ATTEMPTS: dict[Action, Attempt] = {
    Action.VIEW_QUEUE: lambda ph, p: ph.ws.decisions.review(p, "RXROLE"),
    Action.CLAIM: lambda ph, p: ph.ws.claims.claim(p, "RXROLE"),
    Action.DECIDE: lambda ph, p: ph.ws.decisions.reject(p, "RXROLE", code="other", comment="role walk"),
    Action.BREAK_CLAIM: lambda ph, p: ph.ws.claims.release(p, _claimed_by_other(ph)),
    Action.VIEW_COVERAGE: lambda ph, p: ph.ws.accounts.list(p),
    Action.RETRY_RELEASE: lambda ph, p: release.retry(ph.ws.uow, p, "no-such-decision"),
    Action.RUN_RELEASE: lambda ph, p: ph.ws.sender(p),
    Action.MANAGE_ACCOUNTS: lambda ph, p: ph.ws.accounts.unlock(p, "PH0001"),
    Action.ENROL: lambda ph, p: ph.ws.signing.enroll(p, "PH0001", password=PASSWORD, pin=PIN),
    Action.MANAGE_CA: lambda ph, p: ph.ws.signing.ensure_ca(p),
    Action.PRINT_LABELS: lambda ph, p: ph.ws.labels.print(p, "RXROLE"),
    Action.MANAGE_ROSTER: lambda ph, p: ph.ws.coverage.import_roster(p, b"licence,start,end\n", "walk.csv"),
}


def test_every_action_has_an_attempt() -> None:
    assert set(ATTEMPTS) == set(Action)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_and_action_is_enforced_by_the_services(pharmacy: Pharmacy, role: Role) -> None:
    pharmacy.receive("RXROLE")
    me = Principal(name=f"walker-{role.value}", roles=frozenset({role}), pharmacist_id=pharmacy.pharmacist.pharmacist_id,
                   licence=pharmacy.pharmacist.licence)
    for action, attempt in ATTEMPTS.items():
        allowed = action in PERMISSIONS[role]
        try:
            attempt(pharmacy, me)
        except PermissionDenied:
            assert not allowed, f"{role.value} should be allowed to {action.value}"
            continue
        except DomainError:
            pass  # allowed, then refused for a reason of its own (no claim, no such decision, …)
        assert allowed, f"{role.value} must not be allowed to {action.value}"


def test_five_failed_logins_lock_the_account_for_fifteen_minutes(pharmacy: Pharmacy) -> None:
    now = [pharmacy.ws.accounts._clock()]
    accounts = AccountService(pharmacy.ws.uow, clock=lambda: now[0])
    for n in range(4):
        with pytest.raises(AuthenticationFailed, match="wrong licence number or password"):
            accounts.authenticate("PH0001", "wrong password")
    with pytest.raises(AuthenticationFailed, match="locked for 15 minutes"):
        accounts.authenticate("PH0001", "wrong password")
    with pytest.raises(AuthenticationFailed, match="locked"):
        accounts.authenticate("PH0001", PASSWORD)  # even the right password, while locked
    now[0] += timedelta(minutes=15, seconds=1)
    assert accounts.authenticate("PH0001", PASSWORD).licence == "PH0001"
    with pharmacy.ws.uow() as uow:
        actions = uow.session.scalars(select(orm.AuditEvent.action).where(
            orm.AuditEvent.subject == "pharmacist:PH0001", orm.AuditEvent.action.like("auth.%"))
            .order_by(orm.AuditEvent.seq)).all()
    assert actions[-8:] == ["auth.login_failed"] * 5 + ["auth.locked", "auth.login_refused", "auth.login"]


def test_passwords_are_stored_only_as_argon2id_hashes(pharmacy: Pharmacy) -> None:
    with pharmacy.ws.uow() as uow:
        hashes = uow.session.scalars(select(orm.Pharmacist.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_a_deactivated_account_cannot_log_in_and_an_admin_can_reactivate_it(pharmacy: Pharmacy) -> None:
    pharmacy.ws.accounts.lock(pharmacy.admin, "PH0001", reason="left the pharmacy")
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        pharmacy.ws.accounts.authenticate("PH0001", PASSWORD)
    pharmacy.ws.accounts.unlock(pharmacy.admin, "PH0001")
    assert pharmacy.ws.accounts.authenticate("PH0001", PASSWORD).licence == "PH0001"


def test_unknown_licence_and_duplicate_accounts(pharmacy: Pharmacy) -> None:
    with pytest.raises(AuthenticationFailed):
        pharmacy.ws.accounts.authenticate("PH9999", PASSWORD)
    with pytest.raises(DomainError, match="exists already"):
        pharmacy.ws.accounts.add(pharmacy.admin, name="x", licence="PH0001", roles=frozenset({Role.PHARMACIST}),
                                 password=PASSWORD)
    with pytest.raises(DomainError, match="at least 8"):
        pharmacy.ws.accounts.add(pharmacy.admin, name="x", licence="PH0003", roles=frozenset({Role.PHARMACIST}),
                                 password="short")
