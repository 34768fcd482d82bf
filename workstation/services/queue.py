"""The review queue (待审处方) and the quarantine list, as plain rows for the CLI and the UI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class QueueRow:
    prescription_id: int
    number: str
    version: int
    received_at: datetime
    authored_on: datetime | None
    patient_name: str | None
    patient_gender: str | None
    patient_birth_date: date | None
    prescriber_name: str | None
    drugs: tuple[str, ...]
    intake_notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    quarantine_id: int
    at: datetime
    source: str
    prescription_number: str | None
    reason: str


def pending(uow: UnitOfWork, *, limit: int = 500) -> tuple[QueueRow, ...]:
    """Prescriptions received and not yet decided, oldest first."""
    with uow:
        rows = uow.session.scalars(
            select(orm.Prescription)
            .where(orm.Prescription.status == "received")
            .order_by(orm.Prescription.received_at, orm.Prescription.id)
            .limit(limit)
            .options(selectinload(orm.Prescription.items), selectinload(orm.Prescription.patient),
                     selectinload(orm.Prescription.prescriber))
        ).all()
        return tuple(
            QueueRow(
                r.id, r.number, r.version, r.received_at, r.authored_on, r.patient.name, r.patient.gender,
                r.patient.birth_date, r.prescriber.name, tuple(i.drug_name for i in r.items),
                tuple(json.loads(r.intake_notes)),
            )
            for r in rows
        )


def pending_count(uow: UnitOfWork) -> int:
    with uow:
        return uow.session.scalar(select(func.count()).select_from(orm.Prescription).where(orm.Prescription.status == "received")) or 0


def open_quarantine(uow: UnitOfWork, *, limit: int = 500) -> tuple[QuarantineRow, ...]:
    with uow:
        rows = uow.session.scalars(
            select(orm.Quarantine).where(orm.Quarantine.status == "open").order_by(orm.Quarantine.id.desc()).limit(limit)
        ).all()
        return tuple(QuarantineRow(r.id, r.at, r.source, r.prescription_number, r.reason) for r in rows)
