"""What the window shows of one prescription (处方详情): patient, diagnosis history, items, prescriber, findings.

Privacy is decided here, not in the window: identity (full name, birth date, phone, address), the
diagnosis history and the earlier prescriptions are given only to the pharmacist who holds a live claim
on the prescription; everyone else gets the masked name, the age and the prescription itself. Every
opening is an audit event, with whether the identity was shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

import review_rules
from review_rules import model as rm
from review_rules.model import Finding, Result, Severity
from review_rules.rules import authored_date, under_six
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain import codec
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.errors import DomainError
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.domain.usage import unit_words
from workstation.services import audit
from workstation.services.claims import ClaimError, current_version
from workstation.services.queue import _age_years, mask_name
from workstation.services.review import Reviewer

EARLIER_LIMIT = 200
DIAGNOSIS_LIMIT = 1000


class PrescriptionNotFound(DomainError):
    """No prescription with that id."""


@dataclass(frozen=True, slots=True)
class PatientView:
    name: str | None  # masked without the claim
    gender: str | None
    birth_date: date | None  # None without the claim
    birth_date_raw: str | None
    age_years: int | None  # at authoredOn, in the pharmacy's time zone; None when unknown
    under_six: bool | None  # None: unknown (the rules block on it)
    weight_kg: str | None
    allergies: tuple[str, ...]
    phone: str | None  # None without the claim
    address: str | None
    identity_shown: bool


@dataclass(frozen=True, slots=True)
class PersonPresence:
    """A guardian or an accompanying physician: taken part in the visit, or not."""

    present: bool
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DiagnosisEntry:
    recorded: str | None  # the recorded date as sent
    code: str | None
    display: str | None
    confirmed: bool  # confirmed at a physical institution (实体医疗机构确诊)
    institution: str | None
    source_document_type: str | None
    verification_status: str | None
    clinical_status: str | None
    in_this_prescription: bool  # sent with this prescription (the rules judge on these)


@dataclass(frozen=True, slots=True)
class SpecialMark:
    category: str  # narcotic, psychotropic_1, …
    evidence: str  # the list entry behind the flag


@dataclass(frozen=True, slots=True)
class ItemView:
    fhir_id: str
    drug: str
    strength: str | None
    form: str | None
    dose: str | None
    frequency: str | None
    route: str | None
    days: str | None
    quantity: str | None
    dosage_text: str | None
    in_formulary: bool
    formulary_code: str | None
    marks: tuple[SpecialMark, ...]
    diagnosis_codes: tuple[str, ...]
    diagnosis_matched: bool  # some code matches a confirmed diagnosis sent with the prescription
    matched_by: tuple[str, ...]  # the confirmed diagnoses it matched ("I10 原发性高血压")


@dataclass(frozen=True, slots=True)
class PrescriberView:
    name: str | None
    kind: str
    licence: str | None
    years_of_practice: int | None  # at authoredOn
    real_name_verified: bool
    organization: str | None
    specialties: tuple[str, ...]
    signature_status: str  # valid | missing | invalid
    signature_reason: str | None


@dataclass(frozen=True, slots=True)
class EarlierPrescription:
    prescription_id: int
    number: str
    version: int
    status: str
    received_at: datetime
    authored_on: datetime | None
    drugs: tuple[str, ...]
    decision: str | None  # approve | reject | return
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


@dataclass(frozen=True, slots=True)
class PrescriptionDetail:
    prescription_id: int
    number: str
    version: int
    status: str
    content_sha256: str
    received_at: datetime
    authored_on: datetime | None
    holds_claim: bool
    claimed_by: str | None  # someone else's live claim
    result: Result
    patient: PatientView
    guardian: PersonPresence
    accompanying: PersonPresence
    follow_up: bool | None
    diagnoses: tuple[DiagnosisEntry, ...]  # empty without the claim
    diagnosis_count: int  # known even when hidden
    history_hidden: bool
    items: tuple[ItemView, ...]
    prescriber: PrescriberView
    findings: dict[str, tuple[Finding, ...]]  # "block" / "warn", in the engine's order
    intake_notes: tuple[str, ...]
    earlier: tuple[EarlierPrescription, ...]  # empty without the claim
    time_zone: str


def _icd(code: str) -> str:
    return code.strip().upper().replace(".", "")


def _matches(code: str, confirmed: str, level: str) -> bool:
    a, b = _icd(code), _icd(confirmed)
    return a == b if level == "exact" else a[:3] == b[:3]


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _frequency(item: rm.Item) -> str | None:
    if item.timing_code:
        return item.timing_code
    if item.frequency and item.period is not None and item.period_unit:
        return f"{item.frequency}/{_num(item.period)}{item.period_unit}"
    return None


class DetailService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], reviewer: Callable[[], Reviewer], *, time_zone: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._uow = uow_factory
        self._reviewer = reviewer
        self._tz = time_zone
        self._clock = clock

    def open(self, principal: Principal, prescription_id: int) -> PrescriptionDetail:
        """The prescription as the window shows it; audited as ``prescription.opened``."""
        require(principal, Action.VIEW_QUEUE)
        now = self._clock()
        reviewer = self._reviewer()
        with self._uow() as uow:
            s = uow.session
            row = s.get(orm.Prescription, prescription_id, options=[selectinload(orm.Prescription.prescriber)])
            if row is None:
                raise PrescriptionNotFound(f"没有编号为 {prescription_id} 的处方 / no prescription with id {prescription_id}")
            claim = s.get(orm.Claim, row.id)
            live = claim is not None and claim.expires_at > now
            holds = bool(live and claim is not None and principal.pharmacist_id is not None
                         and claim.pharmacist_id == principal.pharmacist_id)
            claimed_by = None
            if live and claim is not None and not holds:
                holder = s.get(orm.Pharmacist, claim.pharmacist_id)
                claimed_by = holder.name if holder else "?"
            snapshot = codec.loads(PrescriptionSnapshot, row.snapshot)
            try:
                facts: rm.Snapshot | None = reviewer.snapshot(snapshot, now)
            except Exception:  # fail closed: the result says why; the view shows what it can
                facts = None
            result = review_rules.evaluate(facts) if facts is not None else reviewer.review(snapshot, now)

            diagnoses: tuple[DiagnosisEntry, ...] = ()
            earlier: tuple[EarlierPrescription, ...] = ()
            sent = {d.fhir_id for d in snapshot.diagnoses if d.fhir_id}
            count = len(snapshot.diagnoses)
            if holds:
                stored = s.scalars(select(orm.Diagnosis).where(orm.Diagnosis.patient_id == row.patient_id)
                                   .limit(DIAGNOSIS_LIMIT)).all()
                entries = [DiagnosisEntry(d.recorded_date, d.code, d.display, d.confirmed, d.institution,
                                          d.source_document_type, d.verification_status, d.clinical_status,
                                          d.fhir_id in sent) for d in stored]
                seen = {(e.code, e.recorded, e.institution) for e in entries}
                entries += [DiagnosisEntry(d.recorded_date, d.code, d.display, d.confirmed, d.institution,
                                           d.source_document_type, d.verification_status, d.clinical_status, True)
                            for d in snapshot.diagnoses if (d.code, d.recorded_date, d.institution) not in seen]
                # Confirmed first, then newest first within each (a date sent as text sorts as text: ISO 8601).
                entries.sort(key=lambda e: e.recorded or "", reverse=True)
                entries.sort(key=lambda e: not e.confirmed)
                diagnoses, count = tuple(entries), len(entries)
                earlier = self._earlier(uow, row)
            patient = self._patient(row, snapshot, facts, holds)
            detail = PrescriptionDetail(
                prescription_id=row.id, number=row.number, version=row.version, status=row.status,
                content_sha256=row.content_sha256, received_at=row.received_at, authored_on=row.authored_on,
                holds_claim=holds, claimed_by=claimed_by, result=result, patient=patient,
                guardian=self._presence(snapshot, facts, "guardian"),
                accompanying=self._presence(snapshot, facts, "accompanying_physician"),
                follow_up=snapshot.encounter.is_follow_up if snapshot.encounter is not None else None,
                diagnoses=diagnoses, diagnosis_count=count, history_hidden=not holds,
                items=self._items(snapshot, facts),
                prescriber=self._prescriber(snapshot, facts),
                findings={sev.value: tuple(f for f in result.findings if f.severity is sev) for sev in Severity},
                intake_notes=tuple(json.loads(row.intake_notes)), earlier=earlier, time_zone=self._tz,
            )
            audit.record(uow, actor=principal.actor, action="prescription.opened",
                         subject=f"prescription:{row.number}/v{row.version}",
                         details={"identity_shown": holds, "claimed_by_other": claimed_by is not None}, at=now)
            uow.commit()
            return detail

    def open_number(self, principal: Principal, number: str) -> PrescriptionDetail:
        """The newest version of a prescription number, as :meth:`open` shows it."""
        with self._uow() as uow:
            try:
                prescription_id = current_version(uow, number).id
            except ClaimError as exc:
                raise PrescriptionNotFound(str(exc)) from None
        return self.open(principal, prescription_id)

    # -- parts

    def _patient(self, row: orm.Prescription, p: PrescriptionSnapshot, facts: rm.Snapshot | None,
                 holds: bool) -> PatientView:
        on = authored_date(facts) if facts is not None else None
        if on is None and p.authored_on is not None:
            on = p.authored_on.astimezone(ZoneInfo(self._tz)).date()
        child = under_six(facts) if facts is not None else None
        allergies = tuple(a.substance.label() for a in p.patient.allergies)
        return PatientView(
            name=p.patient.name if holds else mask_name(p.patient.name), gender=p.patient.gender,
            birth_date=p.patient.birth_date if holds else None,
            birth_date_raw=p.patient.birth_date_raw if holds else None,
            age_years=_age_years(p.patient.birth_date, on), under_six=child,
            weight_kg=_num(p.patient.weight_kg),
            allergies=allergies,
            phone=(p.patient.phones[0] if p.patient.phones else None) if holds else None,
            address=p.patient.address if holds else None, identity_shown=holds,
        )

    @staticmethod
    def _presence(p: PrescriptionSnapshot, facts: rm.Snapshot | None, role: str) -> PersonPresence:
        names: list[str] = []
        if facts is not None and facts.visit is not None:
            names += [x.name or x.id or "?" for x in facts.visit.participants if x.role == role]
        elif p.encounter is not None:
            names += [x.name or x.reference or "?" for x in p.encounter.participants if x.role == role]
        return PersonPresence(bool(names), tuple(dict.fromkeys(names)))

    def _items(self, p: PrescriptionSnapshot, facts: rm.Snapshot | None) -> tuple[ItemView, ...]:
        by_id = {i.id: i for i in facts.items} if facts is not None else {}
        level = facts.settings.diagnosis_match if facts is not None else "category"
        confirmed = [d for d in p.diagnoses if d.confirmed and d.code]
        out = []
        for item in p.items:
            f = by_id.get(item.fhir_id)
            codes = f.diagnosis_codes if f is not None else tuple(c.code for c in item.reason_codes if c.code)
            matched = tuple(dict.fromkeys(f"{d.code} {d.display or ''}".strip() for d in confirmed for c in codes
                                          if d.code and _matches(c, d.code, level)))
            strength = None
            if f is not None and f.drug.strength_mg is not None:
                strength = f"{_num(f.drug.strength_mg)} mg"
            elif f is not None and f.drug.strength_mg_per_ml is not None:
                strength = f"{_num(f.drug.strength_mg_per_ml)} mg/ml"
            unit = unit_words(item.dose_unit_text or item.dose_unit)
            dose = f"{_num(item.dose_value)} {unit}".strip() if item.dose_value is not None else None
            quantity = (f"{_num(item.quantity_value)} {unit_words(item.quantity_unit)}".strip()
                        if item.quantity_value is not None else None)
            out.append(ItemView(
                fhir_id=item.fhir_id, drug=item.drug.label(), strength=strength, form=item.medication_form,
                dose=dose, frequency=_frequency(f) if f is not None else item.timing_code, route=item.route,
                days=_num(item.supply_days), quantity=quantity, dosage_text=item.dosage_text,
                in_formulary=f.drug.in_formulary if f is not None else False,
                formulary_code=f.drug.formulary_code if f is not None else None,
                marks=tuple(SpecialMark(m.category, m.evidence) for m in f.drug.special) if f is not None else (),
                diagnosis_codes=tuple(codes), diagnosis_matched=bool(matched), matched_by=matched,
            ))
        return tuple(out)

    @staticmethod
    def _prescriber(p: PrescriptionSnapshot, facts: rm.Snapshot | None) -> PrescriberView:
        r = p.prescriber
        on = authored_date(facts) if facts is not None else None
        years = _age_years(r.practice_start, on)
        sig = facts.signature if facts is not None else rm.SignatureCheck("invalid", "not checked")
        return PrescriberView(name=r.name or r.device_name, kind=r.kind.value, licence=r.licence, years_of_practice=years,
                              real_name_verified=r.real_name_verified_at is not None, organization=r.organization,
                              specialties=tuple(x for x in r.specialties if not x.isdigit()),
                              signature_status=sig.status, signature_reason=sig.reason)

    @staticmethod
    def _earlier(uow: UnitOfWork, row: orm.Prescription) -> tuple[EarlierPrescription, ...]:
        s = uow.session
        found = s.execute(
            select(orm.Prescription.id, orm.Prescription.number, orm.Prescription.version, orm.Prescription.status,
                   orm.Prescription.received_at, orm.Prescription.authored_on, orm.Decision.kind, orm.Pharmacist.name,
                   orm.Decision.decided_at, orm.Decision.reason_code)
            .outerjoin(orm.Decision, orm.Decision.prescription_id == orm.Prescription.id)
            .outerjoin(orm.Pharmacist, orm.Pharmacist.id == orm.Decision.pharmacist_id)
            .where(orm.Prescription.patient_id == row.patient_id, orm.Prescription.id != row.id)
            .order_by(orm.Prescription.received_at.desc(), orm.Prescription.id.desc())
            .limit(EARLIER_LIMIT)
        ).all()
        ids = [f[0] for f in found]
        drugs: dict[int, list[str]] = {}
        if ids:
            for pid, name in s.execute(select(orm.PrescriptionItem.prescription_id, orm.PrescriptionItem.drug_name)
                                       .where(orm.PrescriptionItem.prescription_id.in_(ids))
                                       .order_by(orm.PrescriptionItem.prescription_id, orm.PrescriptionItem.position)):
                drugs.setdefault(pid, []).append(name)
        return tuple(EarlierPrescription(f[0], f[1], f[2], f[3], f[4], f[5], tuple(drugs.get(f[0], ())),
                                         f[6], f[7], f[8], f[9])
                     for f in found)
