"""What the window's status bar shows (状态栏): intake and its last sync, the release outbox, the caller's claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class WorkstationStatus:
    waiting: int  # prescriptions received and not decided
    last_intake_at: datetime | None  # the last bundle that reached intake, from any source
    last_intake_source: str | None
    last_pull_at: datetime | None  # the FHIR server cursor's last move
    outbox_pending: int
    outbox_failed: int
    failed_decisions: tuple[str, ...]  # decision ids with a failed release row, oldest first
    claim_number: str | None  # the caller's open claim, if any
    claim_expires_at: datetime | None


def workstation_status(uow: UnitOfWork, *, pharmacist_id: int | None, now: datetime) -> WorkstationStatus:
    with uow:
        s = uow.session
        waiting = s.scalar(select(func.count()).select_from(orm.Prescription).where(orm.Prescription.status == "received")) or 0
        last = s.execute(select(orm.IntakeLog.at, orm.IntakeLog.source).order_by(orm.IntakeLog.id.desc()).limit(1)).first()
        pulled = s.scalar(select(func.max(orm.IntakeCursor.updated_at)))
        counts: dict[str, int] = {status: n for status, n in s.execute(select(orm.Outbox.status, func.count()).where(
            orm.Outbox.status.in_(("pending", "release_failed"))).group_by(orm.Outbox.status))}
        failed = tuple(s.scalars(select(orm.Outbox.decision_id).where(orm.Outbox.status == "release_failed")
                                 .group_by(orm.Outbox.decision_id).order_by(func.min(orm.Outbox.id)).limit(100)).all())
        claim = None
        if pharmacist_id is not None:
            claim = s.execute(select(orm.Prescription.number, orm.Claim.expires_at)
                              .join(orm.Prescription, orm.Prescription.id == orm.Claim.prescription_id)
                              .where(orm.Claim.pharmacist_id == pharmacist_id, orm.Claim.expires_at > now,
                                     orm.Prescription.status == "received")
                              .order_by(orm.Claim.claimed_at.desc()).limit(1)).first()
        return WorkstationStatus(
            waiting=waiting, last_intake_at=last[0] if last else None, last_intake_source=last[1] if last else None,
            last_pull_at=pulled, outbox_pending=counts.get("pending", 0), outbox_failed=counts.get("release_failed", 0),
            failed_decisions=failed, claim_number=claim[0] if claim else None, claim_expires_at=claim[1] if claim else None)
