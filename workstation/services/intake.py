"""Prescription intake (处方接收): store what a bundle holds, quarantine what it cannot, lose nothing.

One bundle is one transaction: its payload, every good prescription, every quarantined part,
the intake log line and the audit events commit together or not at all. The same prescription
sent twice is stored once; a changed resubmission under the same number becomes a new version
and the old one is kept, marked superseded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, literal, select, union_all
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


# Statements are built once: building and cache-keying a fresh statement per row cost more than
# executing it. Writes go to the tables directly, bypassing the ORM's per-object bookkeeping.
def _t(model: type[orm.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_PAYLOAD_BY_SHA = select(orm.FhirPayload.id).where(orm.FhirPayload.sha256 == bindparam("sha"))
_LATEST_VERSION = (
    select(orm.Prescription.id, orm.Prescription.version, orm.Prescription.content_sha256, orm.Prescription.status)
    .where(orm.Prescription.number == bindparam("number")).order_by(orm.Prescription.version.desc()).limit(1)
)
_PATIENT_FACTS = ("fhir_id", "identifier_system", "identifier_value", "name", "gender", "birth_date",
                  "birth_date_raw", "phone", "address", "weight_kg")
_PRESCRIBER_FACTS = ("kind", "licence", "name", "practice_start", "real_name_verified_at", "specialties", "organization")
_PATIENT_BY_KEY = select(*(_t(orm.Patient).c[n] for n in ("id", *_PATIENT_FACTS))).where(
    orm.Patient.patient_key == bindparam("key"))
_PRESCRIBER_BY_KEY = select(*(_t(orm.Prescriber).c[n] for n in ("id", *_PRESCRIBER_FACTS))).where(
    orm.Prescriber.prescriber_key == bindparam("key"))
_KNOWN_HISTORY = union_all(
    select(literal("d"), orm.Diagnosis.content_key).where(orm.Diagnosis.patient_id == bindparam("pid")),
    select(literal("r"), orm.RelatedPerson.content_key).where(orm.RelatedPerson.patient_id == bindparam("pid")),
    select(literal("a"), orm.Allergy.content_key).where(orm.Allergy.patient_id == bindparam("pid")),
)
_OPEN_QUARANTINE = select(orm.Quarantine.id).where(
    orm.Quarantine.payload_id == bindparam("payload_id"), orm.Quarantine.status == "open",
    orm.Quarantine.reason == bindparam("reason"),
    orm.Quarantine.prescription_number.is_not_distinct_from(bindparam("number")),
)
_SUPERSEDE = (_t(orm.Prescription).update().where(_t(orm.Prescription).c.id == bindparam("pid"))
              .values(status="superseded", superseded_at=bindparam("at")))
_UPDATE_PATIENT = _t(orm.Patient).update().where(_t(orm.Patient).c.id == bindparam("pid"))
_UPDATE_PRESCRIBER = _t(orm.Prescriber).update().where(_t(orm.Prescriber).c.id == bindparam("rid"))


def _returning_insert(model: type[orm.Base]) -> Insert:
    return _t(model).insert().returning(_t(model).c.id)


_INSERT_RETURNING: dict[type[orm.Base], Insert] = {m: _returning_insert(m) for m in (orm.FhirPayload, orm.Quarantine, orm.Prescription,
                                                       orm.Patient, orm.Prescriber)}
_INSERT: dict[type[orm.Base], Insert] = {m: _t(m).insert() for m in (orm.PrescriptionItem, orm.DispenseRecord, orm.Diagnosis,
                                       orm.RelatedPerson, orm.Allergy, orm.IntakeLog)}


@dataclass(frozen=True, slots=True)
class BundleRead:
    """A bundle after reading: what to store, or the reason the whole of it is refused."""

    raw: bytes
    source: str
    sha256: str
    parsed: ParsedBundle | None
    reason: str | None


def read_bundle(raw: bytes, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> BundleRead:
    """Parse and validate one bundle (pure CPU work: safe to run in another process). Never raises."""
    sha = hashlib.sha256(raw).hexdigest()
    try:
        return BundleRead(raw, source, sha, parse_bundle(raw, max_bytes=max_bytes), None)
    except BundleRejected as exc:
        return BundleRead(raw, source, sha, None, exc.reason)
    except Exception as exc:  # a reader bug must not pass or lose a bundle: quarantine it, loudly
        log.exception("intake could not read %s", source)
        return BundleRead(raw, source, sha, None,
                          f"内部错误 / internal error while reading the bundle: {type(exc).__name__}: {exc}")


class IntakeService:
    """Ingests bundles into the database: one bundle is all-or-nothing, and nothing is lost."""

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
        """Ingest one bundle in its own transaction. Never raises for bad input; raises only when the database fails."""
        return self._store_one(read_bundle(raw, source, self._max_bytes))

    def ingest_many(self, items: Iterable[tuple[bytes, str]], *, batch_size: int = 50) -> Iterator[IntakeReport]:
        """Ingest many bundles; each report is yielded only once its bundle is committed.

        Up to ``batch_size`` bundles share a transaction (a commit per bundle costs more than the
        bundle's rows), each inside its own savepoint so that one bundle's failure never touches
        another. If the database fails, the uncommitted batch is rolled back and the error raised:
        the caller still holds those inputs (files stay in the inbox, the cursor stays).
        """
        reads = (read_bundle(raw, source, self._max_bytes) for raw, source in items)
        while batch := list(itertools.islice(reads, batch_size)):
            yield from self._store_batch(batch)

    def _store_batch(self, batch: list[BundleRead]) -> list[IntakeReport]:
        try:
            with self._uow_factory() as uow:
                writer = _Writer(uow, self._actor, self._clock(), self._max_bytes)
                reports = []
                for read in batch:
                    writer.now = self._clock()
                    # A connection-level savepoint: the writer works on the connection, not on ORM
                    # objects, and the session's own savepoint bookkeeping cost a third of the write.
                    savepoint = writer.conn.begin_nested()
                    try:
                        reports.append(writer.write(read.raw, read.sha256, read.source, read.parsed, read.reason))
                        savepoint.commit()
                    except SQLAlchemyError:
                        raise
                    except Exception as exc:
                        savepoint.rollback()
                        writer.forget()
                        log.exception("intake could not store %s", read.source)
                        reports.append(writer.write(read.raw, read.sha256, read.source, None, _store_bug(exc)))
                uow.commit()
                return reports
        except IntegrityError:
            # Another workstation wrote the same prescription meanwhile: redo these one by one.
            return [self._store_one(read) for read in batch]

    def _store_one(self, read: BundleRead) -> IntakeReport:
        parsed, reason = read.parsed, read.reason
        attempts = 3
        for attempt in range(attempts):
            try:
                with self._uow_factory() as uow:
                    report = _Writer(uow, self._actor, self._clock(), self._max_bytes).write(
                        read.raw, read.sha256, read.source, parsed, reason)
                    uow.commit()
                    return report
            except IntegrityError:
                # Another workstation stored the same prescription number at the same moment: read again.
                if attempt == attempts - 1:
                    raise
                log.info("intake of %s met a concurrent writer; retrying", read.source)
            except SQLAlchemyError:
                raise  # the database is unavailable: the caller keeps the input and retries later
            except Exception as exc:
                if parsed is None:
                    raise
                # Storing hit a bug: keep the bundle, whole, in quarantine rather than half or not at all.
                log.exception("intake could not store %s", read.source)
                parsed, reason = None, _store_bug(exc)
        raise AssertionError("unreachable")


def _store_bug(exc: Exception) -> str:
    return f"内部错误 / internal error while storing: {type(exc).__name__}: {exc}"


class _Writer:
    """Writes one bundle inside one open unit of work.

    Writes go as a few bulk statements on the ORM's tables rather than through the ORM's unit of
    work: a bundle touches about fifteen rows, and per-object flushing cost five times as much as
    parsing and validating the bundle (see tests/perf/bench_intake.py).
    """

    def __init__(self, uow: UnitOfWork, actor: str, now: datetime, max_bytes: int) -> None:
        self.uow = uow
        self.s = uow.session
        self.conn = uow.session.connection()
        self.actor = actor
        self.now = now
        self.max_bytes = max_bytes
        # Rows written or read in this transaction: key -> (id, facts), so repeats cost no query.
        self.patients: dict[str, tuple[int, dict[str, Any]]] = {}
        self.prescribers: dict[str, int] = {}
        self.history_seen: dict[int, set[tuple[str, str]]] = {}

    def forget(self) -> None:
        """After a savepoint rollback: ids and the audit tail cached since may no longer exist."""
        self.patients.clear()
        self.prescribers.clear()
        self.history_seen.clear()
        self.s.info.pop("audit_tail", None)

    def write(self, raw: bytes, sha: str, source: str, parsed: ParsedBundle | None, whole_reason: str | None) -> IntakeReport:
        payload_id, payload_is_new = self._payload(raw, sha, source)
        stored: list[StoredPrescription] = []
        quarantined: list[QuarantinedPart] = []
        if parsed is None:
            assert whole_reason is not None
            quarantined.append(self._quarantine(payload_id, payload_is_new, sha, source, RejectedPart(None, whole_reason)))
        else:
            stored = [self._prescription(snap, payload_id, sha, source) for snap in parsed.prescriptions]
            quarantined = [self._quarantine(payload_id, payload_is_new, sha, source, part) for part in parsed.rejected]
        new = [p for p in stored if p.outcome != "duplicate"]
        if quarantined:
            outcome = "partial" if stored else "quarantined"
        else:
            outcome = "stored" if new else "duplicate"
        self.conn.execute(_INSERT[orm.IntakeLog], dict(
            at=self.now, source=source[:1024], payload_sha256=sha, outcome=outcome,
            stored=sum(p.outcome == "new" for p in stored), new_versions=sum(p.outcome == "new_version" for p in stored),
            duplicates=len(stored) - len(new), quarantined=len(quarantined),
            message="; ".join(f"{q.number or '(bundle)'}: {q.reason}" for q in quarantined),
        ))
        return IntakeReport(source, sha, outcome, tuple(stored), tuple(quarantined))

    def _insert(self, model: type[orm.Base], **values: object) -> int:
        return int(self.conn.execute(_INSERT_RETURNING[model], values).scalar_one())

    # -- payload and quarantine

    def _payload(self, raw: bytes, sha: str, source: str) -> tuple[int, bool]:
        existing = self.conn.execute(_PAYLOAD_BY_SHA, {"sha": sha}).scalar()
        if existing is not None:
            return existing, False
        truncated = len(raw) > self.max_bytes
        return self._insert(
            orm.FhirPayload, sha256=sha, received_at=self.now, source=source[:1024], size=len(raw),
            truncated=truncated, content=raw[:_OVERSIZE_HEAD] if truncated else raw,
        ), True

    def _quarantine(self, payload_id: int, payload_is_new: bool, sha: str, source: str, part: RejectedPart) -> QuarantinedPart:
        if not payload_is_new:  # the same bytes came before: do not open the same case twice
            open_same = self.conn.execute(
                _OPEN_QUARANTINE, {"payload_id": payload_id, "reason": part.reason, "number": part.number}
            ).scalar()
            if open_same is not None:
                return QuarantinedPart(part.number, part.reason, open_same)
        qid = self._insert(
            orm.Quarantine, at=self.now, source=source[:1024], payload_id=payload_id, prescription_number=part.number,
            resource_ids=json.dumps(list(part.resource_ids), ensure_ascii=False), reason=part.reason, status="open",
        )
        audit.record(self.uow, actor=self.actor, action="intake.quarantined",
                     subject=f"prescription:{part.number}" if part.number else f"payload:{sha}",
                     details={"source": source, "payload_sha256": sha, "reason": part.reason, "quarantine_id": qid},
                     at=self.now)
        return QuarantinedPart(part.number, part.reason, qid)

    # -- prescriptions

    def _prescription(self, snap: PrescriptionSnapshot, payload_id: int, sha: str, source: str) -> StoredPrescription:
        latest = self.conn.execute(_LATEST_VERSION, {"number": snap.number}).first()
        if latest is not None and latest.content_sha256 == snap.content_sha256:
            return StoredPrescription(snap.number, latest.version, "duplicate", latest.id, snap.intake_notes)
        version = 1 if latest is None else latest.version + 1
        if latest is not None and latest.status != "superseded":
            self.conn.execute(_SUPERSEDE, {"pid": latest.id, "at": self.now})
        pid = self._insert(
            orm.Prescription, number=snap.number, version=version, status="received", received_at=self.now,
            content_sha256=snap.content_sha256, authored_on=snap.authored_on, patient_id=self._patient(snap),
            prescriber_id=self._prescriber(snap), payload_id=payload_id, source=source[:1024],
            is_follow_up=snap.encounter.is_follow_up if snap.encounter else None,
            snapshot=codec.dumps(snap), intake_notes=json.dumps(list(snap.intake_notes), ensure_ascii=False),
        )
        self.conn.execute(_INSERT[orm.PrescriptionItem], [
            dict(prescription_id=pid, position=pos, fhir_id=item.fhir_id, drug_name=item.drug.label()[:512],
                 drug_codings=codec.dumps(item.drug.codings),
                 ingredients=json.dumps([i.label() for i in item.ingredients], ensure_ascii=False),
                 dosage_text=item.dosage_text[:1024] if item.dosage_text else None,
                 dose_value=_text(item.dose_value), dose_unit=item.dose_unit, timing_code=item.timing_code,
                 route=item.route, quantity_value=_text(item.quantity_value), quantity_unit=item.quantity_unit,
                 supply_days=_text(item.supply_days), course_of_therapy=item.course_of_therapy,
                 resource_json=item.resource_json)
            for pos, item in enumerate(snap.items)
        ])
        if snap.dispenses:
            self.conn.execute(_INSERT[orm.DispenseRecord], [
                dict(prescription_id=pid, item_fhir_id=d.item_fhir_id, fhir_id=d.fhir_id,
                     when_prepared=d.when_prepared, when_handed_over=d.when_handed_over)
                for d in snap.dispenses
            ])
        audit.record(self.uow, actor=self.actor, action="intake.stored" if latest is None else "intake.new_version",
                     subject=f"prescription:{snap.number}/v{version}",
                     details={"source": source, "payload_sha256": sha, "content_sha256": snap.content_sha256,
                              "items": len(snap.items), "supersedes": latest.version if latest is not None else None,
                              "intake_notes": list(snap.intake_notes)}, at=self.now)
        return StoredPrescription(snap.number, version, "new" if latest is None else "new_version", pid, snap.intake_notes)

    def _patient(self, snap: PrescriptionSnapshot) -> int:
        p = snap.patient
        if p.identifier_value:
            key = f"id:{p.identifier_system or ''}|{p.identifier_value}"
        elif p.fhir_id:
            key = f"fhir:{p.fhir_id}"
        else:
            key = "anon:" + _key(p)
        # Demographics follow the newest bundle; each prescription keeps its own snapshot.
        values = dict(
            fhir_id=p.fhir_id, identifier_system=p.identifier_system, identifier_value=p.identifier_value,
            name=p.name, gender=p.gender, birth_date=p.birth_date, birth_date_raw=p.birth_date_raw,
            phone=p.phones[0] if p.phones else None, address=p.address[:512] if p.address else None,
            weight_kg=_text(p.weight_kg),
        )
        cached = self.patients.get(key)
        if cached is None:
            row = self.conn.execute(_PATIENT_BY_KEY, {"key": key}).first()
            if row is None:
                pid = self._insert(orm.Patient, patient_key=key, created_at=self.now, updated_at=self.now, **values)
                self.history_seen[pid] = set()
            else:
                pid = row.id
                if _changed(row._mapping, values):
                    self.conn.execute(_UPDATE_PATIENT, {"pid": pid, "updated_at": self.now, **values})
                self.history_seen[pid] = self._known_history(pid)
        else:
            pid, before = cached
            if _changed(before, values):
                self.conn.execute(_UPDATE_PATIENT, {"pid": pid, "updated_at": self.now, **values})
        self.patients[key] = (pid, values)
        self._history(pid, snap)
        return pid

    def _known_history(self, pid: int) -> set[tuple[str, str]]:
        return {(str(t), str(k)) for t, k in self.conn.execute(_KNOWN_HISTORY, {"pid": pid})}

    def _history(self, pid: int, snap: PrescriptionSnapshot) -> None:
        """Add diagnoses, related persons and allergies not seen before for this patient."""
        seen = self.history_seen[pid]
        rows: dict[type[orm.Base], list[dict[str, object]]] = {orm.Diagnosis: [], orm.RelatedPerson: [], orm.Allergy: []}
        for d in snap.diagnoses:
            k = _key(d)
            if ("d", k) not in seen:
                seen.add(("d", k))
                rows[orm.Diagnosis].append(dict(
                    patient_id=pid, content_key=k, fhir_id=d.fhir_id, code_system=d.code_system, code=d.code,
                    display=d.display[:512] if d.display else None, verification_status=d.verification_status,
                    clinical_status=d.clinical_status, recorded_date=d.recorded_date,
                    source_document_type=d.source_document_type, institution=d.institution, confirmed=d.confirmed,
                    first_seen_at=self.now))
        for r in snap.related_persons:
            k = _key(r)
            if ("r", k) not in seen:
                seen.add(("r", k))
                rows[orm.RelatedPerson].append(dict(
                    patient_id=pid, content_key=k, fhir_id=r.fhir_id, name=r.name,
                    relationship_codes=json.dumps(list(r.relationship_codes)), is_guardian=r.is_guardian,
                    phone=r.phone, first_seen_at=self.now))
        for a in snap.patient.allergies:
            k = _key(a)
            if ("a", k) not in seen:
                seen.add(("a", k))
                rows[orm.Allergy].append(dict(
                    patient_id=pid, content_key=k, fhir_id=a.fhir_id, substance=a.substance.label()[:512] or "?",
                    codings=codec.dumps(a.substance.codings), criticality=a.criticality, first_seen_at=self.now))
        for model, batch in rows.items():
            if batch:
                self.conn.execute(_INSERT[model], batch)

    def _prescriber(self, snap: PrescriptionSnapshot) -> int:
        p = snap.prescriber
        key = (f"licence:{p.licence}" if p.licence else f"{p.kind.value}:{p.fhir_id or p.reference or ''}")[:512]
        if key in self.prescribers:
            return self.prescribers[key]
        values = dict(
            kind=p.kind.value, licence=p.licence, name=p.name or p.device_name, practice_start=p.practice_start,
            real_name_verified_at=p.real_name_verified_at,
            specialties=json.dumps(list(p.specialties), ensure_ascii=False), organization=p.organization,
        )
        row = self.conn.execute(_PRESCRIBER_BY_KEY, {"key": key}).first()
        if row is None:
            rid = self._insert(orm.Prescriber, prescriber_key=key, updated_at=self.now, **values)
        else:
            rid = row.id
            if _changed(row._mapping, values):
                self.conn.execute(_UPDATE_PRESCRIBER, {"rid": rid, "updated_at": self.now, **values})
        self.prescribers[key] = rid
        return rid


def _changed(stored: Mapping[Any, Any], values: Mapping[str, Any]) -> bool:
    """Whether stored facts differ from the new ones (an UPDATE per bundle is costly and says nothing)."""
    return any(stored[k] != v for k, v in values.items())


def _key(value: object) -> str:
    return hashlib.sha256(codec.dumps(value).encode("utf-8")).hexdigest()


def _text(value: object) -> str | None:
    return None if value is None else str(value)
