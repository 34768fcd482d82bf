"""Prescription intake (处方接收): store what a bundle holds, quarantine what it cannot, lose nothing.

One bundle is one transaction: its payload, every good prescription, every quarantined part,
the intake log line and the audit events commit together or not at all. The same prescription
sent twice is stored once; a changed resubmission under the same number becomes a new version
and the old one is kept, marked superseded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.adapters.fhir_bundle import DEFAULT_MAX_BYTES, BundleRejected, parse_bundle
from workstation.domain import codec
from workstation.domain.prescription import ParsedBundle, PrescriptionSnapshot, RejectedPart
from workstation.services import audit

log = logging.getLogger(__name__)

# What of an oversized payload is kept in the database (the file itself stays in rejected/).
_OVERSIZE_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class StoredPrescription:
    number: str
    version: int
    outcome: str  # "new" | "new_version" | "duplicate"
    prescription_id: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuarantinedPart:
    number: str | None
    reason: str
    quarantine_id: int


@dataclass(frozen=True, slots=True)
class IntakeReport:
    """What became of one bundle."""

    source: str
    payload_sha256: str
    outcome: str  # "stored" | "partial" | "duplicate" | "quarantined"
    prescriptions: tuple[StoredPrescription, ...]
    quarantined: tuple[QuarantinedPart, ...]

    @property
    def stored(self) -> tuple[StoredPrescription, ...]:
        return tuple(p for p in self.prescriptions if p.outcome != "duplicate")

    @property
    def duplicates(self) -> tuple[StoredPrescription, ...]:
        return tuple(p for p in self.prescriptions if p.outcome == "duplicate")


class IntakeService:
    """Ingests bundles into the database through a unit of work per bundle."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        max_bundle_bytes: int = DEFAULT_MAX_BYTES,
        actor: str = "system:intake",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow_factory = uow_factory
        self._max_bytes = max_bundle_bytes
        self._actor = actor
        self._clock = clock

    def ingest(self, raw: bytes, source: str) -> IntakeReport:
        """Ingest one bundle. Never raises for bad input; raises only when the database fails."""
        sha = hashlib.sha256(raw).hexdigest()
        try:
            parsed = parse_bundle(raw, max_bytes=self._max_bytes)
        except BundleRejected as exc:
            return self._store(raw, sha, source, None, exc.reason)
        except Exception as exc:  # a reader bug must not pass or lose a bundle: quarantine it, loudly
            log.exception("intake could not read %s", source)
            return self._store(raw, sha, source, None, f"内部错误 / internal error while reading the bundle: {type(exc).__name__}: {exc}")
        return self._store(raw, sha, source, parsed, None)

    def _store(self, raw: bytes, sha: str, source: str, parsed: ParsedBundle | None, whole_reason: str | None) -> IntakeReport:
        attempts = 3
        for attempt in range(attempts):
            try:
                with self._uow_factory() as uow:
                    report = _Writer(uow, self._actor, self._clock(), self._max_bytes).write(raw, sha, source, parsed, whole_reason)
                    uow.commit()
                    return report
            except IntegrityError:
                # Another workstation stored the same prescription number at the same moment: read again.
                if attempt == attempts - 1:
                    raise
                log.info("intake of %s met a concurrent writer; retrying", source)
            except SQLAlchemyError:
                raise  # the database is unavailable: the caller keeps the input and retries later
            except Exception as exc:
                if parsed is None:
                    raise
                # Storing hit a bug: keep the bundle, whole, in quarantine rather than half or not at all.
                log.exception("intake could not store %s", source)
                parsed, whole_reason = None, f"内部错误 / internal error while storing: {type(exc).__name__}: {exc}"
        raise AssertionError("unreachable")


class _Writer:
    def __init__(self, uow: UnitOfWork, actor: str, now: datetime, max_bytes: int) -> None:
        self.uow = uow
        self.s = uow.session
        self.actor = actor
        self.now = now
        self.max_bytes = max_bytes

    def write(self, raw: bytes, sha: str, source: str, parsed: ParsedBundle | None, whole_reason: str | None) -> IntakeReport:
        payload = self._payload(raw, sha, source)
        stored: list[StoredPrescription] = []
        quarantined: list[QuarantinedPart] = []
        if parsed is None:
            assert whole_reason is not None
            quarantined.append(self._quarantine(payload, source, RejectedPart(None, whole_reason)))
        else:
            for snap in parsed.prescriptions:
                stored.append(self._prescription(snap, payload, source))
            for part in parsed.rejected:
                quarantined.append(self._quarantine(payload, source, part))
        new = [p for p in stored if p.outcome != "duplicate"]
        if quarantined:
            outcome = "partial" if stored else "quarantined"
        else:
            outcome = "stored" if new else "duplicate"
        message = "; ".join(f"{q.number or '(bundle)'}: {q.reason}" for q in quarantined)
        self.s.add(orm.IntakeLog(
            at=self.now, source=source, payload_sha256=sha, outcome=outcome,
            stored=sum(p.outcome == "new" for p in stored), new_versions=sum(p.outcome == "new_version" for p in stored),
            duplicates=sum(p.outcome == "duplicate" for p in stored), quarantined=len(quarantined), message=message,
        ))
        self.s.flush()
        return IntakeReport(source, sha, outcome, tuple(stored), tuple(quarantined))

    # -- payload and quarantine

    def _payload(self, raw: bytes, sha: str, source: str) -> orm.FhirPayload:
        existing = self.s.scalars(select(orm.FhirPayload).where(orm.FhirPayload.sha256 == sha)).first()
        if existing is not None:
            return existing
        truncated = len(raw) > self.max_bytes
        payload = orm.FhirPayload(
            sha256=sha, received_at=self.now, source=source[:1024], size=len(raw), truncated=truncated,
            content=raw[:_OVERSIZE_HEAD] if truncated else raw,
        )
        self.s.add(payload)
        self.s.flush()
        return payload

    def _quarantine(self, payload: orm.FhirPayload, source: str, part: RejectedPart) -> QuarantinedPart:
        open_same = self.s.scalars(
            select(orm.Quarantine).where(
                orm.Quarantine.payload_id == payload.id,
                orm.Quarantine.status == "open",
                orm.Quarantine.prescription_number.is_(None) if part.number is None
                else orm.Quarantine.prescription_number == part.number,
            )
        ).first()
        if open_same is not None and open_same.reason == part.reason:
            return QuarantinedPart(part.number, part.reason, open_same.id)
        row = orm.Quarantine(
            at=self.now, source=source[:1024], payload_id=payload.id, prescription_number=part.number,
            resource_ids=json.dumps(list(part.resource_ids), ensure_ascii=False), reason=part.reason,
        )
        self.s.add(row)
        self.s.flush()
        audit.record(self.uow, actor=self.actor, action="intake.quarantined",
                     subject=f"prescription:{part.number}" if part.number else f"payload:{payload.sha256}",
                     details={"source": source, "payload_sha256": payload.sha256, "reason": part.reason,
                              "quarantine_id": row.id}, at=self.now)
        return QuarantinedPart(part.number, part.reason, row.id)

    # -- prescriptions

    def _prescription(self, snap: PrescriptionSnapshot, payload: orm.FhirPayload, source: str) -> StoredPrescription:
        latest = self.s.scalars(
            select(orm.Prescription).where(orm.Prescription.number == snap.number)
            .order_by(orm.Prescription.version.desc()).limit(1)
        ).first()
        if latest is not None and latest.content_sha256 == snap.content_sha256:
            return StoredPrescription(snap.number, latest.version, "duplicate", latest.id)
        patient = self._patient(snap)
        prescriber = self._prescriber(snap)
        version = 1 if latest is None else latest.version + 1
        if latest is not None and latest.status != "superseded":
            latest.status = "superseded"
            latest.superseded_at = self.now
        row = orm.Prescription(
            number=snap.number, version=version, status="received", received_at=self.now,
            content_sha256=snap.content_sha256, authored_on=snap.authored_on, patient=patient,
            prescriber=prescriber, payload_id=payload.id, source=source[:1024],
            is_follow_up=snap.encounter.is_follow_up if snap.encounter else None,
            snapshot=codec.dumps(snap), intake_notes=json.dumps(list(snap.intake_notes), ensure_ascii=False),
        )
        self.s.add(row)
        for pos, item in enumerate(snap.items):
            self.s.add(orm.PrescriptionItem(
                prescription=row, position=pos, fhir_id=item.fhir_id, drug_name=item.drug.label()[:512],
                drug_codings=codec.dumps(item.drug.codings),
                ingredients=json.dumps([i.label() for i in item.ingredients], ensure_ascii=False),
                dosage_text=(item.dosage_text or None) and item.dosage_text[:1024],
                dose_value=_text(item.dose_value), dose_unit=item.dose_unit, timing_code=item.timing_code,
                route=item.route, quantity_value=_text(item.quantity_value), quantity_unit=item.quantity_unit,
                supply_days=_text(item.supply_days), course_of_therapy=item.course_of_therapy,
                resource_json=item.resource_json,
            ))
        for d in snap.dispenses:
            self.s.add(orm.DispenseRecord(prescription=row, item_fhir_id=d.item_fhir_id, fhir_id=d.fhir_id,
                                          when_prepared=d.when_prepared, when_handed_over=d.when_handed_over))
        self.s.flush()
        outcome = "new" if latest is None else "new_version"
        audit.record(self.uow, actor=self.actor, action="intake.stored" if latest is None else "intake.new_version",
                     subject=f"prescription:{snap.number}/v{version}",
                     details={"source": source, "payload_sha256": payload.sha256, "content_sha256": snap.content_sha256,
                              "items": len(snap.items), "supersedes": latest.version if latest is not None else None,
                              "intake_notes": list(snap.intake_notes)}, at=self.now)
        return StoredPrescription(snap.number, version, outcome, row.id, snap.intake_notes)

    def _patient(self, snap: PrescriptionSnapshot) -> orm.Patient:
        p = snap.patient
        if p.identifier_value:
            key = f"id:{p.identifier_system or ''}|{p.identifier_value}"
        elif p.fhir_id:
            key = f"fhir:{p.fhir_id}"
        else:
            key = "anon:" + _key(p)
        row = self.s.scalars(select(orm.Patient).where(orm.Patient.patient_key == key)).first()
        if row is None:
            row = orm.Patient(patient_key=key, created_at=self.now)
            self.s.add(row)
        # Demographics follow the newest bundle; each prescription keeps its own snapshot.
        row.fhir_id, row.identifier_system, row.identifier_value = p.fhir_id, p.identifier_system, p.identifier_value
        row.name, row.gender, row.birth_date, row.birth_date_raw = p.name, p.gender, p.birth_date, p.birth_date_raw
        row.phone = p.phones[0] if p.phones else None
        row.address = p.address[:512] if p.address else None
        row.weight_kg = _text(p.weight_kg)
        row.updated_at = self.now
        self.s.flush()
        self._history(row, snap)
        return row

    def _history(self, patient: orm.Patient, snap: PrescriptionSnapshot) -> None:
        """Add diagnoses, related persons and allergies not seen before for this patient."""
        pid = patient.id
        seen = {
            (t, k) for t, k in
            [("d", k) for k in self.s.scalars(select(orm.Diagnosis.content_key).where(orm.Diagnosis.patient_id == pid))]
            + [("r", k) for k in self.s.scalars(select(orm.RelatedPerson.content_key).where(orm.RelatedPerson.patient_id == pid))]
            + [("a", k) for k in self.s.scalars(select(orm.Allergy.content_key).where(orm.Allergy.patient_id == pid))]
        }
        for d in snap.diagnoses:
            k = _key(d)
            if ("d", k) not in seen:
                seen.add(("d", k))
                self.s.add(orm.Diagnosis(
                    patient_id=pid, content_key=k, fhir_id=d.fhir_id, code_system=d.code_system, code=d.code,
                    display=d.display and d.display[:512], verification_status=d.verification_status,
                    clinical_status=d.clinical_status, recorded_date=d.recorded_date,
                    source_document_type=d.source_document_type, institution=d.institution, confirmed=d.confirmed,
                    first_seen_at=self.now,
                ))
        for r in snap.related_persons:
            k = _key(r)
            if ("r", k) not in seen:
                seen.add(("r", k))
                self.s.add(orm.RelatedPerson(
                    patient_id=pid, content_key=k, fhir_id=r.fhir_id, name=r.name,
                    relationship_codes=json.dumps(list(r.relationship_codes)), is_guardian=r.is_guardian,
                    phone=r.phone, first_seen_at=self.now,
                ))
        for a in snap.patient.allergies:
            k = _key(a)
            if ("a", k) not in seen:
                seen.add(("a", k))
                self.s.add(orm.Allergy(
                    patient_id=pid, content_key=k, fhir_id=a.fhir_id, substance=a.substance.label()[:512] or "?",
                    codings=codec.dumps(a.substance.codings), criticality=a.criticality, first_seen_at=self.now,
                ))

    def _prescriber(self, snap: PrescriptionSnapshot) -> orm.Prescriber:
        p = snap.prescriber
        if p.licence:
            key = f"licence:{p.licence}"
        else:
            key = f"{p.kind.value}:{p.fhir_id or p.reference or ''}"
        row = self.s.scalars(select(orm.Prescriber).where(orm.Prescriber.prescriber_key == key)).first()
        if row is None:
            row = orm.Prescriber(prescriber_key=key[:512])
            self.s.add(row)
        row.kind, row.licence, row.name = p.kind.value, p.licence, p.name or p.device_name
        row.practice_start, row.real_name_verified_at = p.practice_start, p.real_name_verified_at
        row.specialties = json.dumps(list(p.specialties), ensure_ascii=False)
        row.organization = p.organization
        row.updated_at = self.now
        return row


def _key(value: object) -> str:
    return hashlib.sha256(codec.dumps(value).encode("utf-8")).hexdigest()


def _text(value: object) -> str | None:
    return None if value is None else str(value)
