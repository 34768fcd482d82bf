"""Demo data (演示数据), made when it is loaded: a throwaway demo CA, signed prescriptions, ready accounts.

Demo mode only. ``load_demo`` (first start) and ``reset_demo`` (``rxws demo reset``) make a demo set
for now with ``resources.demo.generate``: the prescriptions are authored minutes before now and signed
under a new demo CA whose key is dropped as soon as the set is made. The CA certificate is stored as a
demo trust anchor (``trust_anchor``, kind ``demo``, purpose ``both``), which the workstation trusts only
while ``demo_mode`` is on. Three demo accounts get signing credentials issued by that CA, stored like
any other credential (PKCS#8 encrypted under the signing PIN), so none of this needs an OS keyring.

A reset withdraws the demo prescriptions still waiting: each becomes ``withdrawn`` (its claim, if any,
is released) with a ``prescription.withdrawn`` audit event naming the reset; decided ones stay as they
were. Earlier demo CAs stay trusted in demo mode, so what was signed under them still verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import delete, select

from resources.demo import generate
from workstation.adapters import pki
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import Principal, Role
from workstation.domain.errors import DomainError
from workstation.services import audit, formulary, site
from workstation.services.accounts import AccountService, principal_of
from workstation.services.intake import IntakeReport, IntakeService
from workstation.services.signing import SigningService

# Shown on the sign-in screen and printed by the headless start, in demo mode only.
DEMO_PASSWORD: Final = "demo-2026"
DEMO_PIN: Final = "246810"
DEMO_PHARMACY_NAME: Final = "演示药房（浦东示范医院互联网医院）"  # given to a pharmacy that has no name yet
SOURCE_PREFIX: Final = "demo:"
# A credential closer than this to its end is issued anew at the next load or reset.
CREDENTIAL_MARGIN: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    licence: str
    name: str
    role: Role

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({self.role})


DEMO_ACCOUNTS: Final[tuple[DemoAccount, ...]] = (
    DemoAccount("YS-DEMO-0001", "李药师", Role.PHARMACIST),
    DemoAccount("YS-DEMO-0002", "王主任", Role.LEAD),
    DemoAccount("IT-DEMO-0001", "信息科管理员", Role.ADMIN),
)


class DemoModeOff(DomainError):
    """Demo data is made only in demo mode."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}：仅在演示模式下可用（settings.toml 中 demo_mode = false）/ {what} works in demo mode "
                         "only (demo_mode = false in settings.toml)")


@dataclass(frozen=True, slots=True)
class DemoLoad:
    formulary_entries: int
    reports: tuple[IntakeReport, ...]
    series: str  # the part of the new prescription numbers that is this set's (RXDEMO<series><nn>)
    ca_subject: str
    issued: tuple[str, ...]  # licences whose signing credential was issued by this set's CA
    withdrawn: tuple[str, ...] = ()  # numbers of the earlier demo prescriptions a reset withdrew

    @property
    def accounts(self) -> tuple[DemoAccount, ...]:
        return DEMO_ACCOUNTS

    @property
    def prescriptions(self) -> int:
        return sum(len(r.stored) for r in self.reports)


def already_loaded(uow: UnitOfWork) -> bool:
    with uow:
        return uow.session.scalars(select(orm.AuditEvent.id).where(orm.AuditEvent.action == "demo.loaded").limit(1)).first() is not None


def load_demo(make_uow: Callable[[], UnitOfWork], intake: IntakeService, accounts: AccountService,
              signing: SigningService, *, demo_mode: bool, principal: Principal | None = None,
              now: datetime | None = None) -> DemoLoad | None:
    """Make and load the demo unless this database has had one before (None then). Demo mode only."""
    if not demo_mode:
        raise DemoModeOff("演示数据 demo data")
    if already_loaded(make_uow()):
        return None
    return _load(make_uow, intake, accounts, signing, principal or _loader(), now or utcnow(), ())


def reset_demo(make_uow: Callable[[], UnitOfWork], intake: IntakeService, accounts: AccountService,
               signing: SigningService, *, demo_mode: bool, principal: Principal | None = None,
               now: datetime | None = None) -> DemoLoad:
    """A fresh demo set (new CA, new numbers, authored now); the demo prescriptions still waiting are withdrawn."""
    if not demo_mode:
        raise DemoModeOff("rxws demo reset")
    who, at = principal or _loader(), now or utcnow()
    series = _free_series(make_uow, at)
    withdrawn = _withdraw_waiting(make_uow, who, at, series)
    return _load(make_uow, intake, accounts, signing, who, at, withdrawn, series=series)


def _loader() -> Principal:
    return Principal.system("demo")


def _free_series(make_uow: Callable[[], UnitOfWork], now: datetime) -> str:
    """``now`` to the second, moved on a second at a time until no stored number uses it."""
    with make_uow() as uow:
        for k in range(3600):
            series = generate.default_series(now + timedelta(seconds=k))
            taken = uow.session.scalars(select(orm.Prescription.id).where(
                orm.Prescription.number.like(f"RXDEMO{series}%")).limit(1)).first()
            if taken is None:
                return series
    raise DomainError("找不到未使用的演示处方号 / no unused demo prescription numbers left for this hour")


def _withdraw_waiting(make_uow: Callable[[], UnitOfWork], who: Principal, now: datetime, series: str) -> tuple[str, ...]:
    with make_uow() as uow:
        rows = uow.session.scalars(select(orm.Prescription).where(
            orm.Prescription.status == "received", orm.Prescription.source.like(f"{SOURCE_PREFIX}%"))
            .order_by(orm.Prescription.id)).all()
        numbers = []
        for row in rows:
            claim = uow.session.get(orm.Claim, row.id)
            holder = uow.session.get(orm.Pharmacist, claim.pharmacist_id) if claim is not None else None
            row.status = "withdrawn"
            audit.record(uow, actor=who.actor, action="prescription.withdrawn",
                         subject=f"prescription:{row.number}/v{row.version}",
                         details={"reason": "演示重置：新的演示数据取代仍在等待审核的演示处方 / demo reset: a fresh demo set "
                                            "replaces the demo prescriptions still waiting",
                                  "new_series": series,
                                  "claim_released_from": holder.licence if holder is not None else None}, at=now)
            numbers.append(row.number)
        if rows:
            uow.session.execute(delete(orm.Claim).where(orm.Claim.prescription_id.in_([r.id for r in rows])))
        audit.record(uow, actor=who.actor, action="demo.reset", subject="demo",
                     details={"withdrawn": len(numbers), "new_series": series}, at=now)
        uow.commit()
    return tuple(numbers)


def _load(make_uow: Callable[[], UnitOfWork], intake: IntakeService, accounts: AccountService,
          signing: SigningService, who: Principal, now: datetime, withdrawn: tuple[str, ...],
          *, series: str | None = None) -> DemoLoad:
    series = series or _free_series(make_uow, now)
    demo = generate.build_demo(now, series=series, staff=[generate.StaffMember(a.licence, a.name) for a in DEMO_ACCOUNTS])
    _store_anchor(make_uow, who, demo.ca, now)
    site.name_demo_pharmacy(make_uow, DEMO_PHARMACY_NAME, actor=who.actor, at=now)
    issued = _ready_accounts(make_uow, accounts, signing, who, demo, now)
    imported = formulary.import_formulary(make_uow(), demo.formulary_csv, "demo:formulary.csv", actor=who.actor)
    reports = tuple(intake.ingest_many((b.data, f"{SOURCE_PREFIX}{series}/{b.file_name}") for b in demo.bundles))
    with make_uow() as uow:
        audit.record(uow, actor=who.actor, action="demo.loaded", subject="demo",
                     details={"series": series, "bundles": len(reports), "formulary_entries": imported.entries,
                              "demo_ca": demo.ca.subject.rfc4514_string(), "credentials_issued": list(issued),
                              "withdrawn": len(withdrawn)}, at=now)
        uow.commit()
    return DemoLoad(imported.entries, reports, series, demo.ca.subject.rfc4514_string(), issued, withdrawn)


def _store_anchor(make_uow: Callable[[], UnitOfWork], who: Principal, ca: x509.Certificate, now: datetime) -> None:
    with make_uow() as uow:
        uow.session.add(orm.TrustAnchor(kind="demo", purpose="both", certificate_pem=pki.certificate_pem([ca]).decode("ascii"),
                                        created_at=now, active=True))
        audit.record(uow, actor=who.actor, action="trust_anchor.added", subject=f"trust-anchor:demo:{ca.serial_number:x}",
                     details={"kind": "demo", "purpose": "both", "subject": ca.subject.rfc4514_string(),
                              "sha256": ca.fingerprint(hashes.SHA256()).hex(),
                              "not_after": ca.not_valid_after_utc.isoformat(),
                              "note": "trusted in demo mode only; its key was discarded when the demo was made"}, at=now)
        uow.commit()


def _ready_accounts(make_uow: Callable[[], UnitOfWork], accounts: AccountService, signing: SigningService,
                    who: Principal, demo: generate.DemoSet, now: datetime) -> tuple[str, ...]:
    """Create the demo accounts that are missing; give each a credential from this set's CA unless it holds a good one."""
    with make_uow() as uow:
        existing = set(uow.session.scalars(select(orm.Pharmacist.licence).where(
            orm.Pharmacist.licence.in_([a.licence for a in DEMO_ACCOUNTS]))).all())
    for account in DEMO_ACCOUNTS:
        if account.licence not in existing:
            # demo-2026 meets the ordinary password policy: the demo accounts need no exception to it.
            accounts.add(who, name=account.name, licence=account.licence, roles=account.roles, password=DEMO_PASSWORD)
    issued = []
    for account in DEMO_ACCOUNTS:
        held = signing.credential(account.licence)
        if held is not None and held.not_before <= now and held.not_after - CREDENTIAL_MARGIN > now:
            continue  # issued by an earlier demo CA, which stays trusted in demo mode
        with make_uow() as uow:
            row = uow.session.scalar(select(orm.Pharmacist).where(orm.Pharmacist.licence == account.licence))
            assert row is not None
            holder = principal_of(row)
        signer = demo.staff[account.licence]
        # The same storage as enrolment and import: the key under password and PIN, the chain beside it.
        signing.store_credential(who, holder, signer.key, signer.chain, password=DEMO_PASSWORD, pin=DEMO_PIN,
                                 source="demo-ca")
        issued.append(account.licence)
    return tuple(issued)
