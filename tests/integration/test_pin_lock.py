"""The signing PIN locks after five wrong in a row, for 15 minutes, across restarts; the stored key needs the
password and the PIN together, and is re-encrypted when the password changes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, PIN, Pharmacy
from workstation.adapters import pki
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.bootstrap import open_workstation
from workstation.domain.accounts import Principal
from workstation.domain.errors import DomainError
from workstation.services.accounts import AuthenticationFailed
from workstation.services.signing import PasswordRequired, PinLocked, SigningService

WRONG = "739164"
NEW_PASSWORD = "Second-Desk-2027"


def _service(ph: Pharmacy, now: list[datetime]) -> SigningService:
    return SigningService(ph.ws.uow, ph.ws.accounts, clock=lambda: now[0], server_clock=lambda: now[0])


def _events(ph: Pharmacy, *actions: str) -> list[tuple[str, dict[str, object]]]:
    with ph.ws.uow() as uow:
        rows = uow.session.execute(select(orm.AuditEvent.action, orm.AuditEvent.details)
                                   .where(orm.AuditEvent.action.in_(actions)).order_by(orm.AuditEvent.id)).all()
    return [(a, json.loads(d)) for a, d in rows]


def _credential(ph: Pharmacy, who: Principal) -> orm.SigningCredential:
    with ph.ws.uow() as uow:
        row = uow.session.scalar(select(orm.SigningCredential).where(
            orm.SigningCredential.pharmacist_id == who.pharmacist_id, orm.SigningCredential.active.is_(True)))
        assert row is not None
        uow.session.expunge(row)
        return row


def test_five_wrong_pins_lock_signing_for_15_minutes_and_the_lock_survives_a_restart(pharmacy: Pharmacy) -> None:
    now = [utcnow()]
    signing = _service(pharmacy, now)
    session = signing.begin(pharmacy.pharmacist)
    signing.signer(session, pin=PIN, password=PASSWORD)
    for left in (4, 3, 2, 1):  # wrong PINs inside an open session count, with what is left said
        with pytest.raises(pki.WrongPin, match=f"{left} more wrong"):
            signing.signer(session, pin=WRONG)
    with pytest.raises(PinLocked, match="15 more minute"):  # so do those at a session's first signature
        signing.signer(signing.begin(pharmacy.pharmacist), pin=WRONG, password=PASSWORD)
    assert [d["failures"] for _a, d in _events(pharmacy, "signing.pin_failed")] == [1, 2, 3, 4, 5]
    [(_, locked)] = _events(pharmacy, "signing.pin_locked")
    assert locked["after_failures"] == 5
    assert datetime.fromisoformat(str(locked["until"])) == now[0] + timedelta(minutes=15)

    with pytest.raises(PinLocked):
        signing.signer(session, pin=PIN)  # the right PIN is refused too, and the session's key is dropped
    assert session.needs_password(now[0])

    # A restart: another workstation process on the same database still refuses.
    restarted = open_workstation(pharmacy.ws.settings)
    try:
        again = SigningService(restarted.uow, restarted.accounts, clock=lambda: now[0], server_clock=lambda: now[0])
        with pytest.raises(PinLocked):
            again.signer(again.begin(pharmacy.pharmacist), pin=PIN, password=PASSWORD)
        now[0] += timedelta(minutes=15, seconds=1)
        again.signer(again.begin(pharmacy.pharmacist), pin=PIN, password=PASSWORD)
    finally:
        restarted.close()
    assert _credential(pharmacy, pharmacy.pharmacist).pin_failures == 0


def test_a_right_pin_resets_the_count_and_an_administrator_clears_a_lock(pharmacy: Pharmacy) -> None:
    now = [utcnow()]
    signing = _service(pharmacy, now)
    session = signing.begin(pharmacy.pharmacist)
    signing.signer(session, pin=PIN, password=PASSWORD)
    for _ in range(4):
        with pytest.raises(pki.WrongPin):
            signing.signer(session, pin=WRONG)
    signing.signer(session, pin=PIN)  # four wrong, one right: the count starts again
    assert _credential(pharmacy, pharmacy.pharmacist).pin_failures == 0
    for _ in range(4):
        with pytest.raises(pki.WrongPin):
            signing.signer(session, pin=WRONG)
    with pytest.raises(PinLocked):
        signing.signer(session, pin=WRONG)
    assert pharmacy.ws.accounts.list(pharmacy.admin)[0].pin_locked_until == now[0] + timedelta(minutes=15)

    pharmacy.ws.accounts.unlock(pharmacy.admin, "PH0001")
    [(_, unlocked)] = _events(pharmacy, "account.unlocked")
    assert unlocked == {"signing_pin_lock_cleared": True}
    signing.signer(signing.begin(pharmacy.pharmacist), pin=PIN, password=PASSWORD)


def test_the_stored_key_needs_password_and_pin_together(pharmacy: Pharmacy) -> None:
    pem = _credential(pharmacy, pharmacy.pharmacist).encrypted_key_pem.encode("ascii")
    assert _credential(pharmacy, pharmacy.pharmacist).key_binding == "password+pin"
    with pytest.raises(pki.WrongPin):
        pki.decrypt_private_key(pem, PIN)  # a copy of the database: the PIN space alone opens nothing
    with pytest.raises(pki.WrongPin):
        pki.decrypt_private_key(pem, pki.key_passphrase("Another-Desk-2026", PIN))
    key = pki.decrypt_private_key(pem, pki.key_passphrase(PASSWORD, PIN))
    cert = pki.certificates_from_pem(_credential(pharmacy, pharmacy.pharmacist).certificate_pem.encode("ascii"))[0]
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_no_two_password_and_pin_pairs_share_a_passphrase() -> None:
    assert pki.key_passphrase("ab", "c123456") != pki.key_passphrase("abc", "123456")
    assert pki.key_passphrase("pw", "１２３４５６") == pki.key_passphrase("pw", "123456")  # full-width digits


def test_a_password_change_re_encrypts_the_key(pharmacy: Pharmacy) -> None:
    ws, who = pharmacy.ws, pharmacy.pharmacist
    before = _credential(pharmacy, who).encrypted_key_pem
    with pytest.raises(DomainError, match="signing PIN"):
        ws.signing.change_password(who, old_password=PASSWORD, new_password=NEW_PASSWORD)
    with pytest.raises(pki.WrongPin):  # a wrong PIN changes nothing and counts towards the lock
        ws.signing.change_password(who, old_password=PASSWORD, new_password=NEW_PASSWORD, pin=WRONG)
    assert _credential(pharmacy, who).encrypted_key_pem == before and _credential(pharmacy, who).pin_failures == 1
    ws.accounts.authenticate("PH0001", PASSWORD)

    ws.signing.change_password(who, old_password=PASSWORD, new_password=NEW_PASSWORD, pin=PIN)
    pem = _credential(pharmacy, who).encrypted_key_pem.encode("ascii")
    assert pem.decode("ascii") != before
    with pytest.raises(pki.WrongPin):
        pki.decrypt_private_key(pem, pki.key_passphrase(PASSWORD, PIN))
    pki.decrypt_private_key(pem, pki.key_passphrase(NEW_PASSWORD, PIN))
    with pytest.raises(AuthenticationFailed):
        ws.accounts.authenticate("PH0001", PASSWORD)
    assert _events(pharmacy, "account.password_changed") == [("account.password_changed",
                                                              {"signing_key_reencrypted": True})]
    session = ws.signing.begin(who)
    ws.signing.signer(session, pin=PIN, password=NEW_PASSWORD)
    assert _credential(pharmacy, who).pin_failures == 0


def test_a_password_change_refuses_a_weak_or_unchanged_password(pharmacy: Pharmacy) -> None:
    ws, who = pharmacy.ws, pharmacy.pharmacist
    with pytest.raises(DomainError):
        ws.signing.change_password(who, old_password=PASSWORD, new_password="short", pin=PIN)
    with pytest.raises(DomainError, match="differ"):
        ws.signing.change_password(who, old_password=PASSWORD, new_password=PASSWORD, pin=PIN)
    with pytest.raises(AuthenticationFailed):
        ws.signing.change_password(who, old_password="Wrong-Desk-2026", new_password=NEW_PASSWORD, pin=PIN)
    assert _events(pharmacy, "account.password_changed") == []


def test_a_key_stored_under_the_pin_alone_is_re_bound_at_the_next_signature(pharmacy: Pharmacy) -> None:
    ws, who = pharmacy.ws, pharmacy.pharmacist
    key = pki.decrypt_private_key(_credential(pharmacy, who).encrypted_key_pem.encode("ascii"),
                                  pki.key_passphrase(PASSWORD, PIN))
    with ws.uow() as uow:  # as an earlier version stored it
        row = uow.session.scalar(select(orm.SigningCredential).where(orm.SigningCredential.pharmacist_id == who.pharmacist_id))
        assert row is not None
        row.encrypted_key_pem, row.key_binding = pki.encrypt_private_key(key, PIN).decode("ascii"), "pin"
        uow.commit()
    with pytest.raises(PasswordRequired):
        ws.signing.signer(ws.signing.begin(who), pin=PIN)
    ws.signing.signer(ws.signing.begin(who), pin=PIN, password=PASSWORD)
    row = _credential(pharmacy, who)
    assert row.key_binding == "password+pin"
    pki.decrypt_private_key(row.encrypted_key_pem.encode("ascii"), pki.key_passphrase(PASSWORD, PIN))
    assert [d for _a, d in _events(pharmacy, "signing.key_rebound")] == [{"binding": "password+pin", "was": "pin"}]
