"""The review queue (待审处方) and the quarantine list, as plain rows for the CLI and the UI."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import load_only, selectinload

import review_rules
from review_rules.model import Severity
from review_rules.rules import authored_date
from review_rules.rules import under_six as rules_under_six
from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain import codec
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.services.review import Reviewer


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


# --------------------------------------------------------------------------- the window's queue

RISK_RANK = {"unchecked": 0, "block": 1, "warn": 2, "clean": 3}
WAITING = "received"
CATEGORY_ORDER = ("narcotic", "psychotropic_1", "psychotropic_2", "toxic", "radioactive", "precursor_chemical",
                  "online_sale_prohibited")


def mask_name(name: str | None) -> str | None:
    """张*明 / 李* / J*** S****: enough to tell patients apart in a list, not to identify them."""
    if name is None or not name.strip():
        return name
    name = name.strip()
    if " " in name:  # Latin-script names: the first letter of each part
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _age_years(born: date | None, on: date | None) -> int | None:
    if born is None or on is None:
        return None
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return max(years, 0)


def _department(snapshot: PrescriptionSnapshot) -> str | None:
    """The prescriber's department as the bundle names it (the text of the PractitionerRole specialty)."""
    texts = [s for s in snapshot.prescriber.specialties if s and not s.isdigit()]
    return texts[0][:256] if texts else None


def summarise(reviewer: Reviewer, snapshot: PrescriptionSnapshot, at: datetime) -> dict[str, Any]:
    """The queue's view of one rules run: risk, the findings' ids, special-drug marks, age. Fails closed."""
    try:
        facts = reviewer.snapshot(snapshot, at)
        result = review_rules.evaluate(facts)
        categories = {c for item in facts.items for c in item.drug.categories()}
        under_six = rules_under_six(facts)
        on = authored_date(facts)
    except Exception:  # never "clean" on an error: not checked, sorted first
        return {"risk_rank": 0, "risk": "unchecked", "findings": "[]", "special_marks": "", "has_special": False,
                "under_six": False, "age_years": None, "department": _department(snapshot),
                "rule_set_version": review_rules.RULE_SET_VERSION, "checked_at": at}
    if not result.checked:
        risk = "unchecked"
    elif any(f.severity is Severity.BLOCK for f in result.findings):
        risk = "block"
    elif any(f.severity is Severity.WARN for f in result.findings):
        risk = "warn"
    else:
        risk = "clean"
    marks = [c for c in CATEGORY_ORDER if c in categories] + sorted(categories - set(CATEGORY_ORDER))
    return {
        "risk_rank": RISK_RANK[risk], "risk": risk,
        "findings": json.dumps([{"rule_id": f.rule_id, "severity": f.severity.value} for f in result.findings]),
        "special_marks": ",".join(marks)[:128], "has_special": bool(marks), "under_six": bool(under_six),
        "age_years": _age_years(snapshot.patient.birth_date, on), "department": _department(snapshot),
        "rule_set_version": result.rule_set_version or review_rules.RULE_SET_VERSION, "checked_at": at,
    }


def refresh_summaries(uow_factory: Callable[[], UnitOfWork], reviewer: Reviewer, now: datetime, *,
                      limit: int = 500) -> list[str]:
    """Summarise waiting prescriptions that have no summary yet (or one from another rule set).

    Returns the numbers of the new ones that are blocked or could not be checked (the window raises a
    notification for them). Runs in bounded batches; the next poll takes the rest.
    """
    with uow_factory() as uow:
        rows = uow.session.execute(
            select(orm.Prescription.id, orm.Prescription.number, orm.Prescription.snapshot,
                   orm.ReviewSummary.prescription_id)
            .outerjoin(orm.ReviewSummary, orm.ReviewSummary.prescription_id == orm.Prescription.id)
            .where(orm.Prescription.status == WAITING,
                   or_(orm.ReviewSummary.prescription_id.is_(None),
                       orm.ReviewSummary.rule_set_version != review_rules.RULE_SET_VERSION))
            .order_by(orm.Prescription.received_at, orm.Prescription.id)
            .limit(limit)
        ).all()
        high_risk: list[str] = []
        for pid, number, raw, existing in rows:
            try:
                values = summarise(reviewer, codec.loads(PrescriptionSnapshot, raw), now)
            except Exception:  # the stored snapshot itself cannot be read: not checked
                values = {"risk_rank": 0, "risk": "unchecked", "findings": "[]", "special_marks": "",
                          "has_special": False, "under_six": False, "age_years": None, "department": None,
                          "rule_set_version": review_rules.RULE_SET_VERSION, "checked_at": now}
            if existing is None:
                uow.session.add(orm.ReviewSummary(prescription_id=pid, **values))
            else:
                uow.session.execute(update(orm.ReviewSummary).where(orm.ReviewSummary.prescription_id == pid)
                                    .values(**values))
            if values["risk_rank"] <= RISK_RANK["block"]:
                high_risk.append(number)
        uow.commit()
        return high_risk


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows. ``statuses`` empty means every status."""

    statuses: tuple[str, ...] = (WAITING,)
    risks: tuple[str, ...] = ()  # unchecked | block | warn | clean; empty: all
    special_only: bool = False
    under_six_only: bool = False
    claimed_by: int | None = None  # a pharmacist id: only what they hold now ("mine")
    search: str = ""  # a prescription number (prefix) or a patient name (part)


def _order_rank() -> Any:
    return func.coalesce(orm.ReviewSummary.risk_rank, 0)


def _filtered(f: QueueFilter, now: datetime) -> Select[int]:
    q = (select(orm.Prescription.id)
         .outerjoin(orm.ReviewSummary, orm.ReviewSummary.prescription_id == orm.Prescription.id))
    if f.statuses:
        q = q.where(orm.Prescription.status.in_(f.statuses))
    if f.risks:
        q = q.where(_order_rank().in_([RISK_RANK[r] for r in f.risks]))
    if f.special_only:
        q = q.where(orm.ReviewSummary.has_special.is_(True))
    if f.under_six_only:
        q = q.where(orm.ReviewSummary.under_six.is_(True))
    if f.claimed_by is not None:
        q = q.where(orm.Prescription.id.in_(
            select(orm.Claim.prescription_id).where(orm.Claim.pharmacist_id == f.claimed_by, orm.Claim.expires_at > now)))
    text = f.search.strip()
    if text:
        like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(or_(orm.Prescription.number.ilike(f"{like}%", escape="\\"),
                        orm.Prescription.patient_id.in_(select(orm.Patient.id).where(
                            orm.Patient.name.ilike(f"%{like}%", escape="\\")))))
    return q


def queue_ids(uow: UnitOfWork, f: QueueFilter, now: datetime, *, limit: int | None = None) -> list[int]:
    """The ids of the filter's prescriptions in queue order: blocked and unchecked first, then longest waiting."""
    q = _filtered(f, now).order_by(_order_rank(), orm.Prescription.received_at, orm.Prescription.id)
    if limit is not None:
        q = q.limit(limit)
    with uow:
        return list(uow.session.scalars(q))


def queue_page(uow: UnitOfWork, f: QueueFilter, now: datetime, *, limit: int) -> tuple[int, list[int]]:
    """How many prescriptions the filter holds, and the ids of the first ``limit`` in queue order: what the
    window paints first, before the whole id list has come."""
    with uow:
        total = uow.session.scalar(select(func.count()).select_from(_filtered(f, now).subquery())) or 0
    return total, queue_ids(uow, f, now, limit=limit)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One row of the window's queue. The patient's name is always masked here."""

    prescription_id: int
    number: str
    version: int
    status: str
    received_at: datetime
    authored_on: datetime | None
    risk: str  # unchecked | block | warn | clean
    finding_ids: tuple[str, ...]
    patient_masked: str | None
    patient_gender: str | None
    age_years: int | None
    under_six: bool
    department: str | None
    prescriber_name: str | None
    drugs: tuple[str, ...]
    special_marks: tuple[str, ...]
    claimed_by: str | None  # the holder's name while a claim is live
    claimed_by_id: int | None


def queue_rows(uow: UnitOfWork, ids: Sequence[int], now: datetime) -> dict[int, QueueEntry]:
    """The rows for ``ids`` (the visible ones), in one round of queries."""
    if not ids:
        return {}
    with uow:
        s = uow.session
        p = orm.Prescription
        found = s.execute(
            select(p, orm.ReviewSummary, orm.Patient.name, orm.Patient.gender, orm.Prescriber.name)
            # the columns a row shows, not the stored snapshot (the bulk of the row)
            .options(load_only(p.id, p.number, p.version, p.status, p.received_at, p.authored_on))
            .join(orm.Patient, orm.Patient.id == orm.Prescription.patient_id)
            .join(orm.Prescriber, orm.Prescriber.id == orm.Prescription.prescriber_id)
            .outerjoin(orm.ReviewSummary, orm.ReviewSummary.prescription_id == orm.Prescription.id)
            .where(orm.Prescription.id.in_(ids))
        ).all()
        drugs: dict[int, list[str]] = {}
        for pid, name in s.execute(select(orm.PrescriptionItem.prescription_id, orm.PrescriptionItem.drug_name)
                                   .where(orm.PrescriptionItem.prescription_id.in_(ids))
                                   .order_by(orm.PrescriptionItem.prescription_id, orm.PrescriptionItem.position)):
            drugs.setdefault(pid, []).append(name)
        holders = {pid: (ph_id, ph_name) for pid, ph_id, ph_name in s.execute(
            select(orm.Claim.prescription_id, orm.Pharmacist.id, orm.Pharmacist.name)
            .join(orm.Pharmacist, orm.Pharmacist.id == orm.Claim.pharmacist_id)
            .where(orm.Claim.prescription_id.in_(ids), orm.Claim.expires_at > now))}
        out: dict[int, QueueEntry] = {}
        for rx, summary, patient_name, gender, prescriber_name in found:
            pid = rx.id
            holder = holders.get(pid)
            out[pid] = QueueEntry(
                prescription_id=pid, number=rx.number, version=rx.version, status=rx.status,
                received_at=rx.received_at, authored_on=rx.authored_on,
                risk=summary.risk if summary is not None else "unchecked",
                finding_ids=tuple(dict.fromkeys(x["rule_id"] for x in json.loads(summary.findings)))
                if summary is not None else (),
                patient_masked=mask_name(patient_name), patient_gender=gender,
                age_years=summary.age_years if summary is not None else None,
                under_six=bool(summary and summary.under_six),
                department=summary.department if summary is not None else None,
                prescriber_name=prescriber_name, drugs=tuple(drugs.get(pid, ())),
                special_marks=tuple(m for m in (summary.special_marks.split(",") if summary else ()) if m),
                claimed_by=holder[1] if holder else None, claimed_by_id=holder[0] if holder else None,
            )
        return out
