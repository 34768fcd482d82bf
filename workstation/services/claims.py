"""Claims (认领): a pharmacist takes a prescription before deciding, as a lease only the holder may decide under.

A lease lasts 10 minutes and is renewed while the prescription is open; an expired lease returns the
prescription to the queue. Claiming is safe under concurrency: on PostgreSQL the next prescription
is picked with ``SELECT … FOR UPDATE SKIP LOCKED``; SQLite takes its write lock at BEGIN IMMEDIATE,
so two claimers never interleave there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.errors import DomainError
from workstation.services import audit

LEASE = timedelta(minutes=10)


class ClaimError(DomainError):
    """The prescription cannot be claimed (or is not claimed by the caller)."""


class QueueEmpty(ClaimError):
    """No unclaimed prescription is waiting."""


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    prescription_id: int
    number: str
    version: int
    pharmacist_id: int
    claimed_at: datetime
    expires_at: datetime


class ClaimService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime] = utcnow,
                 lease: timedelta = LEASE) -> None:
        self._uow = uow_factory
        self._clock = clock
        self.lease = lease

    def claim(self, principal: Principal, number: str | None = None) -> ClaimInfo:
        """Claim that prescription (its current version), or with no number the oldest unclaimed one."""
        require(principal, Action.CLAIM)
        assert principal.pharmacist_id is not None
        with self._uow() as uow:
            now = self._clock()
            if number is None:
                row = self._next(uow, now)
            else:
                row = current_version(uow, number, lock=True)
                if row.status != "received":
                    raise ClaimError(f"处方 {number} 已{_STATUS_ZH.get(row.status, row.status)}，不能认领 / prescription "
                                     f"{number} is {row.status}: it cannot be claimed")
            held = uow.session.get(orm.Claim, row.id)
            if held is not None and held.expires_at > now and held.pharmacist_id != principal.pharmacist_id:
                holder = uow.session.get(orm.Pharmacist, held.pharmacist_id)
                raise ClaimError(f"处方 {row.number} 已由 {holder.name if holder else '?'} 认领，至 {held.expires_at:%H:%M:%S} UTC / "
                                 f"prescription {row.number} is claimed by {holder.licence if holder else '?'} until "
                                 f"{held.expires_at:%H:%M:%S} UTC")
            expires = now + self.lease
            if held is None:
                uow.session.add(orm.Claim(prescription_id=row.id, pharmacist_id=principal.pharmacist_id,
                                          claimed_at=now, expires_at=expires))
            else:
                held.pharmacist_id, held.claimed_at, held.expires_at = principal.pharmacist_id, now, expires
            audit.record(uow, actor=principal.actor, action="claim.taken", subject=f"prescription:{row.number}/v{row.version}",
                         details={"expires_at": expires.isoformat(),
                                  "took_over_expired": held is not None and held.pharmacist_id != principal.pharmacist_id},
                         at=now)
            info = ClaimInfo(row.id, row.number, row.version, principal.pharmacist_id, now, expires)
            uow.queue_changed()
            uow.commit()
            return info

    def _next(self, uow: UnitOfWork, now: datetime) -> orm.Prescription:
        """The oldest unclaimed prescription, locked. On PostgreSQL a row whose claim committed between
        this statement's snapshot and its lock looks free: look again, it is skipped the second time."""
        for _ in range(50):
            row = self._candidate(uow, now)
            if row is None:
                raise QueueEmpty("没有待认领的处方 / no unclaimed prescription is waiting")
            held = uow.session.get(orm.Claim, row.id, populate_existing=True)
            if held is None or held.expires_at <= now:
                return row
        raise ClaimError("认领冲突过多，请重试 / too many concurrent claims: try again")

    def _candidate(self, uow: UnitOfWork, now: datetime) -> orm.Prescription | None:
        query = (
            select(orm.Prescription)
            .outerjoin(orm.Claim, orm.Claim.prescription_id == orm.Prescription.id)
            .where(orm.Prescription.status == "received",
                   or_(orm.Claim.prescription_id.is_(None), orm.Claim.expires_at <= now))
            .order_by(orm.Prescription.received_at, orm.Prescription.id)
            .limit(1)
        )
        if uow.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=orm.Prescription)
        return uow.session.scalars(query).first()

    def renew(self, principal: Principal, prescription_id: int) -> datetime:
        """Extend the caller's lease while the prescription is open on their screen."""
        require(principal, Action.CLAIM)
        with self._uow() as uow:
            now = self._clock()
            expires = now + self.lease
            held = uow.session.get(orm.Claim, prescription_id)
            if held is None or held.pharmacist_id != principal.pharmacist_id or held.expires_at <= now:
                raise ClaimError("认领已过期或不属于您 / the claim has expired or is not yours: claim it again")
            held.expires_at = expires
            uow.queue_changed()
            uow.commit()
            return expires

    def take_back(self, principal: Principal, number: str, *, reason: str) -> str | None:
        """A lead returns a colleague's claim on ``number`` to the queue; returns the holder's licence (None when
        it was not claimed). PermissionDenied for anyone without the lead's right to break a claim."""
        require(principal, Action.BREAK_CLAIM)
        if not reason.strip():
            raise DomainError("须写明收回原因 / a reason is required")
        with self._uow() as uow:
            row = current_version(uow, number)
            claim = uow.session.get(orm.Claim, row.id)
            holder = None
            if claim is not None:
                holder = uow.session.get_one(orm.Pharmacist, claim.pharmacist_id).licence
            prescription_id = row.id
        if holder is not None:
            self.release(principal, prescription_id, reason=reason.strip())
        return holder

    def release(self, principal: Principal, prescription_id: int, *, reason: str = "released") -> None:
        """Give a prescription back to the queue (a lead may take back a colleague's)."""
        require(principal, Action.CLAIM)
        with self._uow() as uow:
            claim = uow.session.get(orm.Claim, prescription_id)
            if claim is None:
                return
            if claim.pharmacist_id != principal.pharmacist_id:
                require(principal, Action.BREAK_CLAIM)
            prescription = uow.session.get(orm.Prescription, prescription_id)
            uow.session.execute(delete(orm.Claim).where(orm.Claim.prescription_id == prescription_id))
            audit.record(uow, actor=principal.actor, action="claim.released",
                         subject=f"prescription:{prescription.number if prescription else prescription_id}",
                         details={"reason": reason, "holder_id": claim.pharmacist_id}, at=self._clock())
            uow.queue_changed()
            uow.commit()


_STATUS_ZH = {"approved": "审核通过", "rejected": "审核不通过", "returned": "退回医师", "superseded": "被新版本取代",
              "withdrawn": "撤回（演示重置）"}


def current_version(uow: UnitOfWork, number: str, *, lock: bool = False) -> orm.Prescription:
    """The newest version of a prescription number (optionally locked FOR UPDATE)."""
    query = (select(orm.Prescription).where(orm.Prescription.number == number.strip())
             .order_by(orm.Prescription.version.desc()).limit(1))
    if lock and uow.dialect == "postgresql":
        query = query.with_for_update(of=orm.Prescription)
    row = uow.session.scalars(query).first()
    if row is None:
        raise ClaimError(f"没有编号为 {number} 的处方 / no prescription numbered {number}")
    return row


def holds_claim(uow: UnitOfWork, prescription_id: int, pharmacist_id: int, now: datetime) -> bool:
    held = uow.session.get(orm.Claim, prescription_id)
    return held is not None and held.pharmacist_id == pharmacist_id and held.expires_at > now
