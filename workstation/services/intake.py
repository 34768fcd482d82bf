"""Prescription intake (处方接收): store what a bundle holds, quarantine what it cannot, lose nothing.

One bundle is all-or-nothing: its payload, every good prescription, every quarantined part, the
intake log line and the audit events commit together or not at all, and one bundle's failure never
touches another's. The same prescription sent twice is stored once; a changed resubmission under
the same number becomes a new version and the old one is kept, marked superseded.

Reading a bundle (decode, validate every resource, resolve, work out its rows) is pure CPU work:
for many bundles it runs in worker processes while this process writes. Writing takes a batch of
bundles at a time: a few ``IN (…)`` queries fetch what the database already holds for the whole
batch, and each table gets one multi-row statement.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from multiprocessing.context import BaseContext
from typing import Any

from sqlalchemy import Insert, String, Table, Text, bindparam, literal, select, union_all
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.adapters.fhir_bundle import (
    DEFAULT_MAX_BYTES,
    BundleRejected,
    learn_validations,
    parse_bundle,
    take_validations,
)
from workstation.domain import codec
from workstation.domain.errors import DomainError
from workstation.domain.prescription import ParsedBundle, PrescriptionSnapshot, RejectedPart
from workstation.services import audit

log = logging.getLogger(__name__)

# What of an oversized payload is kept in the database (the file itself stays in rejected/).
_OVERSIZE_HEAD = 64 * 1024

# Fewer bundles than this are read in this process: starting worker processes (a fresh interpreter
# importing fhir.resources) costs about as much as reading this many bundles. With more, this
# process reads the first ones itself while the workers start.
POOL_MIN_BUNDLES = 256
_CHUNK = 16  # bundles per task sent to a worker: one round trip per bundle would cost more than its reading
_CHUNKS_AHEAD_PER_WORKER = 8  # how far reading may run ahead of writing (bounds the memory held)
_MAX_WORKERS = 4  # past this the single writing process is the bottleneck


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


class QuarantineNotFound(DomainError):
    """No quarantine entry has that id."""


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A quarantine entry as ``rxws quarantine show`` prints it, with the bytes as received."""

    id: int
    at: datetime
    source: str
    prescription_number: str | None
    resource_ids: tuple[str, ...]
    reason: str
    status: str
    resolved_at: datetime | None
    resolved_by: str | None
    payload_sha256: str
    size: int
    truncated: bool
    content: bytes


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


# --------------------------------------------------------------------------- reading

# Row classes are frozen but not slotted: they cross from worker processes by pickle, and slotted
# frozen dataclasses unpickle field by field in Python (a ParsedBundle took 0.2 ms a bundle, in the
# very process that writes).


@dataclass(frozen=True)
class PrescriptionRows:
    """What storing one prescription writes, worked out from its snapshot alone.

    Only what depends on the database (ids, the version number, whether the patient, prescriber or
    a diagnosis is known already) is left to the writer.
    """

    number: str
    content_sha256: str
    intake_notes: tuple[str, ...]
    item_count: int
    columns: dict[str, Any]  # prescription columns taken from the snapshot
    items: tuple[dict[str, Any], ...]  # prescription_item rows, less prescription_id
    dispenses: tuple[dict[str, Any], ...]  # dispense_record rows, less prescription_id
    patient_key: str
    patient: dict[str, Any]  # the patient facts (demographics follow the newest bundle)
    history: tuple[tuple[str, dict[str, Any]], ...]  # ("d"iagnosis | "r"elated person | "a"llergy, row less patient_id)
    prescriber_key: str
    prescriber: dict[str, Any]


@dataclass(frozen=True)
class BundleRows:
    """What one bundle yielded, ready to be written: prescriptions and parts to quarantine."""

    prescriptions: tuple[PrescriptionRows, ...]
    rejected: tuple[RejectedPart, ...]


@dataclass(frozen=True, slots=True)
class BundleRead:
    """A bundle after reading: what to store, or the reason the whole of it is refused."""

    raw: bytes
    source: str
    sha256: str
    rows: BundleRows | None
    reason: str | None


def read_bundle(raw: bytes, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> BundleRead:
    """Parse, validate and work out the rows of one bundle (pure CPU work: safe to run in another process). Never raises."""
    sha = hashlib.sha256(raw).hexdigest()
    try:
        return BundleRead(raw, source, sha, bundle_rows(parse_bundle(raw, max_bytes=max_bytes)), None)
    except BundleRejected as exc:
        return BundleRead(raw, source, sha, None, exc.reason)
    except Exception as exc:  # a reader bug must not pass or lose a bundle: quarantine it, loudly
        log.exception("intake could not read %s", source)
        return BundleRead(raw, source, sha, None,
                          f"内部错误 / internal error while reading the bundle: {type(exc).__name__}: {exc}")


def bundle_rows(parsed: ParsedBundle) -> BundleRows:
    """The rows of each prescription; one with a value longer than its column is quarantined, naming it.

    (PostgreSQL refuses such a value with an error that would read as "database unavailable", and
    SQLite would store it: neither is right for a clinical record, which must not be cut silently.)
    """
    good, rejected = [], list(parsed.rejected)
    for snap in parsed.prescriptions:
        rows = prescription_rows(snap)
        problem = _too_long(rows)
        if problem is None:
            good.append(rows)
        else:
            rejected.append(RejectedPart(snap.number, problem, tuple(i.fhir_id for i in snap.items)))
    return BundleRows(tuple(good), tuple(rejected))


def _lengths(model: type[orm.Base]) -> dict[str, int]:
    return {c.name: c.type.length for c in _t(model).columns
            if isinstance(c.type, String) and not isinstance(c.type, Text) and c.type.length}


@cache
def _limits() -> dict[str, tuple[str, dict[str, int]]]:
    """Each row kind's table and the lengths of its bounded text columns."""
    return {"columns": ("prescription", _lengths(orm.Prescription)), "items": ("prescription_item", _lengths(orm.PrescriptionItem)),
            "dispenses": ("dispense_record", _lengths(orm.DispenseRecord)), "patient": ("patient", _lengths(orm.Patient)),
            "prescriber": ("prescriber", _lengths(orm.Prescriber)), "d": ("diagnosis", _lengths(orm.Diagnosis)),
            "r": ("related_person", _lengths(orm.RelatedPerson)), "a": ("allergy", _lengths(orm.Allergy))}


def _too_long(rows: PrescriptionRows) -> str | None:
    limits = _limits()
    tables: list[tuple[str, dict[str, Any]]] = [
        ("columns", rows.columns), ("patient", rows.patient), ("prescriber", rows.prescriber),
        *(("items", r) for r in rows.items), *(("dispenses", r) for r in rows.dispenses), *rows.history,
    ]
    if len(rows.number) > 128:
        return f"处方编号过长 / the prescription number is {len(rows.number)} characters long (at most 128)"
    for kind, row in tables:
        table, lengths = limits[kind]
        for name, value in row.items():
            limit = lengths.get(name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                return (f"{table}.{name} 超长（{len(value)} 个字符，上限 {limit}），请核对来源数据 / {table}.{name} is "
                        f"{len(value)} characters long, at most {limit} are allowed: check the sending system")
    return None


def prescription_rows(snap: PrescriptionSnapshot) -> PrescriptionRows:
    p = snap.patient
    if p.identifier_value:
        patient_key = f"id:{p.identifier_system or ''}|{p.identifier_value}"
    elif p.fhir_id:
        patient_key = f"fhir:{p.fhir_id}"
    else:
        patient_key = "anon:" + _key(p)
    history: list[tuple[str, dict[str, Any]]] = []
    for d in snap.diagnoses:
        history.append(("d", dict(
            content_key=_key(d), fhir_id=d.fhir_id, code_system=d.code_system, code=d.code,
            display=d.display[:512] if d.display else None, verification_status=d.verification_status,
            clinical_status=d.clinical_status, recorded_date=d.recorded_date,
            source_document_type=d.source_document_type, institution=d.institution, confirmed=d.confirmed)))
    for rp in snap.related_persons:
        history.append(("r", dict(
            content_key=_key(rp), fhir_id=rp.fhir_id, name=rp.name,
            relationship_codes=json.dumps(list(rp.relationship_codes)), is_guardian=rp.is_guardian, phone=rp.phone)))
    for a in p.allergies:
        history.append(("a", dict(
            content_key=_key(a), fhir_id=a.fhir_id, substance=a.substance.label()[:512] or "?",
            codings=codec.dumps(a.substance.codings), criticality=a.criticality)))
    r = snap.prescriber
    intake_notes = json.dumps(list(snap.intake_notes), ensure_ascii=False)
    return PrescriptionRows(
        number=snap.number,
        content_sha256=snap.content_sha256,
        intake_notes=snap.intake_notes,
        item_count=len(snap.items),
        columns=dict(content_sha256=snap.content_sha256, authored_on=snap.authored_on,
                     is_follow_up=snap.encounter.is_follow_up if snap.encounter else None,
                     snapshot=codec.dumps(snap), intake_notes=intake_notes),
        items=tuple(
            dict(position=pos, fhir_id=item.fhir_id, drug_name=item.drug.label()[:512],
                 drug_codings=codec.dumps(item.drug.codings),
                 ingredients=json.dumps([i.label() for i in item.ingredients], ensure_ascii=False),
                 dosage_text=item.dosage_text[:1024] if item.dosage_text else None,
                 dose_value=_text(item.dose_value), dose_unit=item.dose_unit, timing_code=item.timing_code,
                 route=item.route, quantity_value=_text(item.quantity_value), quantity_unit=item.quantity_unit,
                 supply_days=_text(item.supply_days), course_of_therapy=item.course_of_therapy,
                 resource_json=item.resource_json)
            for pos, item in enumerate(snap.items)
        ),
        dispenses=tuple(
            dict(item_fhir_id=d.item_fhir_id, fhir_id=d.fhir_id, when_prepared=d.when_prepared,
                 when_handed_over=d.when_handed_over)
            for d in snap.dispenses
        ),
        patient_key=patient_key,
        patient=dict(
            fhir_id=p.fhir_id, identifier_system=p.identifier_system, identifier_value=p.identifier_value,
            name=p.name, gender=p.gender, birth_date=p.birth_date, birth_date_raw=p.birth_date_raw,
            phone=p.phones[0] if p.phones else None, address=p.address[:512] if p.address else None,
            weight_kg=_text(p.weight_kg),
        ),
        history=tuple(history),
        prescriber_key=(f"licence:{r.licence}" if r.licence else f"{r.kind.value}:{r.fhir_id or r.reference or ''}")[:512],
        prescriber=dict(
            kind=r.kind.value, licence=r.licence, name=r.name or r.device_name, practice_start=r.practice_start,
            real_name_verified_at=r.real_name_verified_at,
            specialties=json.dumps(list(r.specialties), ensure_ascii=False), organization=r.organization,
        ),
    )


# What a worker sends back for one bundle: BundleRead less the bytes, which this process still holds.
_ReadResult = tuple[str, BundleRows | None, str | None]
_Validations = list[tuple[bytes, str | None]]


def _read_chunk(items: list[tuple[bytes, str]], max_bytes: int,
                learned: _Validations) -> tuple[list[_ReadResult], _Validations]:
    """Runs in a worker process: reads a chunk, told first what the other workers validated meanwhile."""
    learn_validations(learned)
    results = [(r.sha256, r.rows, r.reason) for r in (read_bundle(raw, source, max_bytes) for raw, source in items)]
    return results, take_validations()


def _start_worker() -> None:
    take_validations()  # from now on, record what this worker validates, for the others


def default_workers() -> int:
    """Worker processes for reading: one per CPU this process may use, none on a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(cpus, _MAX_WORKERS) if cpus > 1 else 0


def _pool_context() -> BaseContext:
    """Workers never are a fork of this process, which holds database connections.

    Where there is a forkserver (a clean process that imported intake once, holding no connection),
    workers fork from it; elsewhere each starts a fresh interpreter.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


@dataclass(eq=False)
class _Worker:
    """One worker process; chunks go to the workers in turn, so each knows what to tell each."""

    executor: ProcessPoolExecutor
    # What the other workers validated that this one has not been told yet: a patient's recurring
    # resources are then validated once, not once in every worker.
    untold: _Validations = field(default_factory=list)


def _read_pooled(workers: int, max_bytes: int, head: list[tuple[bytes, str]], rest: Iterator[tuple[bytes, str]],
                 *, chunk_size: int = _CHUNK, chunks_ahead: int = _CHUNKS_AHEAD_PER_WORKER) -> Iterator[BundleRead]:
    """Read ``rest`` in worker processes while this process reads ``head``; yield every read in input order.

    If the pool fails (a worker killed, a result that cannot be sent back), whatever it has not
    returned is read in this process instead: nothing is lost, and nothing is quarantined for it.
    """
    context = _pool_context()
    pool = [_Worker(ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker)) for _ in range(workers)]
    turns = itertools.cycle(pool)
    pending: deque[tuple[Future[tuple[list[_ReadResult], _Validations]] | None, _Worker, list[tuple[bytes, str]]]] = deque()
    ahead = workers * chunks_ahead
    broken = False

    def submit(chunks: Iterable[list[tuple[bytes, str]]]) -> None:
        nonlocal broken
        for chunk in chunks:
            worker, future = next(turns), None
            if not broken:
                try:
                    future = worker.executor.submit(_read_chunk, chunk, max_bytes, worker.untold)
                    worker.untold = []
                except Exception:
                    log.warning("intake worker processes failed; reading the remaining bundles here", exc_info=True)
                    broken = True
            pending.append((future, worker, chunk))

    def chunks(count: int) -> list[list[tuple[bytes, str]]]:
        taken = (list(itertools.islice(rest, chunk_size)) for _ in range(count))
        return list(itertools.takewhile(bool, taken))

    # The first submission waits for the workers to start (a forkserver importing intake): let
    # that happen beside reading the head here. The input is only ever consumed on this thread.
    starting = threading.Thread(target=submit, args=(chunks(ahead),), name="intake-workers-start", daemon=True)
    starting.start()
    try:
        for raw, source in head:
            yield read_bundle(raw, source, max_bytes)
        starting.join()
        while pending:
            future, worker, chunk = pending.popleft()
            results = None
            if future is not None:
                try:
                    results, learned = future.result()
                except Exception:
                    if not broken:
                        log.warning("intake worker processes failed; reading the remaining bundles here", exc_info=True)
                    broken = True
                else:
                    for other in pool:
                        if other is not worker:
                            other.untold += learned
            if results is None:
                for raw, source in chunk:
                    yield read_bundle(raw, source, max_bytes)
            else:
                for (raw, source), (sha, rows, reason) in zip(chunk, results, strict=True):
                    yield BundleRead(raw, source, sha, rows, reason)
            if not broken:
                submit(chunks(ahead - len(pending)))
        for raw, source in rest:  # only left when the pool broke
            yield read_bundle(raw, source, max_bytes)
    finally:
        starting.join()
        for worker in pool:
            worker.executor.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- the service


class IntakeService:
    """Ingests bundles into the database: one bundle is all-or-nothing, and nothing is lost."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        max_bundle_bytes: int = DEFAULT_MAX_BYTES,
        actor: str = "system:intake",
        clock: Callable[[], datetime] = utcnow,
        workers: int | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._max_bytes = max_bundle_bytes
        self._actor = actor
        self._clock = clock
        self._workers = default_workers() if workers is None else max(workers, 0)
        self.workers_used = 0  # worker processes that read the last ingest_many's bundles (0: this process)

    def ingest(self, raw: bytes, source: str) -> IntakeReport:
        """Ingest one bundle in its own transaction. Never raises for bad input; raises only when the database fails."""
        return self._store_one(read_bundle(raw, source, self._max_bytes))

    # -- the quarantine

    def quarantined(self, quarantine_id: int) -> QuarantineEntry:
        """One quarantine entry with the bytes it holds. QuarantineNotFound names the id."""
        with self._uow_factory() as uow:
            row = uow.session.get(orm.Quarantine, quarantine_id)
            if row is None:
                raise QuarantineNotFound(f"隔离区没有 #{quarantine_id} / no quarantine entry #{quarantine_id}")
            p = row.payload
            return QuarantineEntry(row.id, row.at, row.source, row.prescription_number,
                                   tuple(json.loads(row.resource_ids)), row.reason, row.status, row.resolved_at,
                                   row.resolved_by, p.sha256, p.size, p.truncated, bytes(p.content))

    def release_quarantined(self, quarantine_id: int, *, actor: str) -> tuple[IntakeReport, int | None]:
        """Take a quarantined bundle in again once its cause is fixed, and close the entry (audited).

        Returns the new intake report and, when the bundle is refused again, the id of the entry that holds
        it: the same one, left open, for the same reason; a new one for a new reason (the old one is then
        closed as superseded by it, so one case is never open twice)."""
        entry = self.quarantined(quarantine_id)
        if entry.status != "open":
            raise DomainError(f"隔离区 #{quarantine_id} 已于 {entry.resolved_at} 由 {entry.resolved_by} 处理 / quarantine "
                              f"entry #{quarantine_id} was already resolved by {entry.resolved_by}")
        if entry.truncated:
            raise DomainError(f"隔离区 #{quarantine_id} 只保存了前 {len(entry.content)} 字节（原 {entry.size} 字节，超出上限），"
                              f"无法重新接收；请让来源重新发送 / quarantine entry #{quarantine_id} kept only the first "
                              f"{len(entry.content)} of {entry.size} bytes (over the size limit): ask the sender to send it again")
        report = self.ingest(entry.content, f"quarantine:{quarantine_id}:{entry.source}"[:1024])
        again = report.quarantined[0].quarantine_id if report.outcome == "quarantined" and report.quarantined else None
        now = self._clock()
        with self._uow_factory() as uow:
            row = uow.session.get_one(orm.Quarantine, quarantine_id)
            if again == quarantine_id:  # refused for the same reason: the entry stays open
                audit.record(uow, actor=actor, action="quarantine.release_refused", subject=f"quarantine:{quarantine_id}",
                             details={"reason": entry.reason, "payload_sha256": entry.payload_sha256}, at=now)
                uow.commit()
                return report, again
            row.status, row.resolved_at, row.resolved_by = "resolved", now, actor[:128]
            audit.record(uow, actor=actor, action="quarantine.released", subject=f"quarantine:{quarantine_id}",
                         details={"outcome": report.outcome, "payload_sha256": entry.payload_sha256,
                                  "prescriptions": [p.number for p in report.prescriptions],
                                  "quarantined_again_as": again}, at=now)
            uow.commit()
        return report, again

    def ingest_many(self, items: Iterable[tuple[bytes, str]], *, batch_size: int = 50, pool_from: int | None = None,
                    chunk_size: int = _CHUNK, chunks_ahead: int = _CHUNKS_AHEAD_PER_WORKER) -> Iterator[IntakeReport]:
        """Ingest many bundles, reporting in input order; each report is yielded only once its bundle is committed.

        From ``pool_from`` bundles on (default ``POOL_MIN_BUNDLES``), worker processes read while
        this process writes, ``chunk_size`` bundles to a task, reading at most ``chunks_ahead`` tasks
        per worker ahead of writing (a pull's pages are large and fetched one by one: one to a task,
        little read-ahead). Up to ``batch_size`` bundles share a transaction (a commit per bundle
        costs more than the bundle's rows) and are written together; should that fail for any of
        them, the batch is written again one bundle per savepoint, so that one bundle's failure never
        touches another. If the database fails, the uncommitted batch is rolled back and the error
        raised: the caller still holds those inputs (files stay in the inbox, the cursor stays).
        """
        reading = self._read_many(iter(items), POOL_MIN_BUNDLES if pool_from is None else pool_from,
                                  chunk_size, chunks_ahead)
        with contextlib.closing(reading) as reads:
            while batch := list(itertools.islice(reads, batch_size)):
                yield from self._store_batch(batch)

    def _read_many(self, items: Iterator[tuple[bytes, str]], pool_from: int, chunk_size: int,
                   chunks_ahead: int) -> Generator[BundleRead, None, None]:
        head = list(itertools.islice(items, pool_from))
        following = next(items, None)
        if following is None or self._workers == 0:
            self.workers_used = 0
            rest = head if following is None else itertools.chain(head, [following], items)
            for raw, source in rest:
                yield read_bundle(raw, source, self._max_bytes)
            return
        self.workers_used = self._workers
        yield from _read_pooled(self._workers, self._max_bytes, head, itertools.chain([following], items),
                                chunk_size=chunk_size, chunks_ahead=chunks_ahead)

    def _store_batch(self, batch: list[BundleRead]) -> list[IntakeReport]:
        nows = [self._clock() for _ in batch]
        try:
            with self._uow_factory() as uow:
                reports = _Writer(uow, self._actor, self._max_bytes).write(batch, nows)
                uow.queue_changed()
                uow.commit()
                return reports
        except IntegrityError:
            log.info("a batch of %d bundles met a concurrent writer; storing them one by one", len(batch))
        except SQLAlchemyError:
            raise  # the database is unavailable: the caller keeps the inputs and retries later
        except Exception:
            log.exception("intake could not store a batch of %d bundles together; storing them one by one", len(batch))
        return self._store_each(batch, nows)

    def _store_each(self, batch: list[BundleRead], nows: list[datetime]) -> list[IntakeReport]:
        """The batch again, each bundle inside its own savepoint: a bundle that fails is quarantined alone."""
        try:
            with self._uow_factory() as uow:
                reports = []
                for read, now in zip(batch, nows, strict=True):
                    # A connection-level savepoint: the writer works on the connection, not on ORM
                    # objects, and the session's own savepoint bookkeeping cost a third of the write.
                    savepoint = uow.session.connection().begin_nested()
                    try:
                        reports += _Writer(uow, self._actor, self._max_bytes).write([read], [now])
                        savepoint.commit()
                    except SQLAlchemyError:
                        raise
                    except Exception as exc:
                        savepoint.rollback()
                        uow.session.info.pop("audit_tail", None)  # the audit tail cached since is gone
                        log.exception("intake could not store %s", read.source)
                        reports += _Writer(uow, self._actor, self._max_bytes).write([_store_bug(read, exc)], [now])
                uow.queue_changed()
                uow.commit()
                return reports
        except IntegrityError:
            # Another workstation wrote the same prescription meanwhile: redo these one by one.
            return [self._store_one(read) for read in batch]

    def _store_one(self, read: BundleRead) -> IntakeReport:
        attempts = 3
        for attempt in range(attempts):
            try:
                with self._uow_factory() as uow:
                    [report] = _Writer(uow, self._actor, self._max_bytes).write([read], [self._clock()])
                    uow.queue_changed()
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
                if read.rows is None:
                    raise
                # Storing hit a bug: keep the bundle, whole, in quarantine rather than half or not at all.
                log.exception("intake could not store %s", read.source)
                read = _store_bug(read, exc)
        raise AssertionError("unreachable")


def _store_bug(read: BundleRead, exc: Exception) -> BundleRead:
    """The bundle, to be quarantined whole because storing it hit a bug."""
    return dataclasses.replace(read, rows=None, reason=f"内部错误 / internal error while storing: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- writing

# Statements are built once: building and cache-keying a fresh statement per row cost more than
# executing it. Writes go to the tables directly, bypassing the ORM's per-object bookkeeping.
def _t(model: type[orm.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_PATIENT_FACTS = ("fhir_id", "identifier_system", "identifier_value", "name", "gender", "birth_date",
                  "birth_date_raw", "phone", "address", "weight_kg")
_PRESCRIBER_FACTS = ("kind", "licence", "name", "practice_start", "real_name_verified_at", "specialties", "organization")
_PAYLOADS = select(orm.FhirPayload.sha256, orm.FhirPayload.id).where(
    orm.FhirPayload.sha256.in_(bindparam("keys", expanding=True)))
_VERSIONS = select(orm.Prescription.number, orm.Prescription.id, orm.Prescription.version,
                   orm.Prescription.content_sha256, orm.Prescription.status).where(
    orm.Prescription.number.in_(bindparam("keys", expanding=True)))
_PATIENTS = select(orm.Patient.patient_key, orm.Patient.id, *(_t(orm.Patient).c[n] for n in _PATIENT_FACTS)).where(
    orm.Patient.patient_key.in_(bindparam("keys", expanding=True)))
_PRESCRIBERS = select(orm.Prescriber.prescriber_key, orm.Prescriber.id,
                      *(_t(orm.Prescriber).c[n] for n in _PRESCRIBER_FACTS)).where(
    orm.Prescriber.prescriber_key.in_(bindparam("keys", expanding=True)))
_KNOWN_HISTORY = union_all(*(
    select(model.patient_id, literal(kind), model.content_key).where(model.patient_id.in_(bindparam("keys", expanding=True)))
    for kind, model in (("d", orm.Diagnosis), ("r", orm.RelatedPerson), ("a", orm.Allergy))
))
_OPEN_QUARANTINES = select(orm.Quarantine.payload_id, orm.Quarantine.id, orm.Quarantine.reason,
                           orm.Quarantine.prescription_number).where(
    orm.Quarantine.status == "open", orm.Quarantine.payload_id.in_(bindparam("keys", expanding=True))
).order_by(orm.Quarantine.id)
_DECIDED_ZH = {"approved": "已通过", "rejected": "未通过", "returned": "已退回医师", "withdrawn": "已撤回（演示重置）"}
_SUPERSEDE = (_t(orm.Prescription).update().where(_t(orm.Prescription).c.id == bindparam("pid"))
              .values(status="superseded", superseded_at=bindparam("at")))
_UPDATE_PATIENT = _t(orm.Patient).update().where(_t(orm.Patient).c.id == bindparam("pid"))
_UPDATE_PRESCRIBER = _t(orm.Prescriber).update().where(_t(orm.Prescriber).c.id == bindparam("rid"))
_HISTORY_MODELS: dict[str, type[orm.Diagnosis | orm.RelatedPerson | orm.Allergy]] = {
    "d": orm.Diagnosis, "r": orm.RelatedPerson, "a": orm.Allergy}
_IN_LIMIT = 500  # keys per IN (…) query, well inside every backend's parameter limit


# Rows inserted together come back matched to their ids by a unique key: asking for the ids in
# parameter order instead makes SQLite insert row by row. Quarantine cases have no such key (and
# are few), so theirs come in parameter order.
_UNIQUE_KEYS: dict[type[orm.Base], tuple[str, ...]] = {
    orm.FhirPayload: ("sha256",), orm.Patient: ("patient_key",), orm.Prescriber: ("prescriber_key",),
    orm.Prescription: ("number", "version"), orm.Quarantine: ()}


def _returning_insert(model: type[orm.Base]) -> Insert:
    table = _t(model)
    key = _UNIQUE_KEYS[model]
    return table.insert().returning(table.c.id, *(table.c[k] for k in key), sort_by_parameter_order=not key)


_INSERT_RETURNING = {m: _returning_insert(m) for m in _UNIQUE_KEYS}
_INSERT: dict[type[orm.Base], Insert] = {m: _t(m).insert() for m in (orm.PrescriptionItem, orm.DispenseRecord, orm.Diagnosis,
                                       orm.RelatedPerson, orm.Allergy, orm.IntakeLog)}


@dataclass(eq=False, slots=True)
class _Row:
    """A row as this batch leaves it: ``id`` is None until a new row is inserted."""

    id: int | None
    values: dict[str, Any] = field(default_factory=dict)  # what to insert; for a party, the facts it holds

    @property
    def saved_id(self) -> int:
        assert self.id is not None, "row not inserted yet"
        return self.id


@dataclass(eq=False, slots=True)
class _Party(_Row):
    """A patient or prescriber, keyed by ID number or licence (else the source's id)."""

    key: str = ""
    new: bool = False
    first_seen: datetime | None = None
    changed_at: datetime | None = None  # when its facts last changed in this batch
    seen: set[tuple[str, str]] = field(default_factory=set)  # a patient's known history: (kind, content key)


@dataclass(slots=True)
class _Version:
    row: _Row
    version: int
    content_sha256: str
    status: str


@dataclass(slots=True)
class _Outcome:
    """One bundle's report, filled in once its rows have ids."""

    source: str
    sha256: str
    outcome: str
    stored: list[tuple[str, int, str, _Row, tuple[str, ...]]]
    quarantined: list[tuple[str | None, str, _Row]]

    def report(self) -> IntakeReport:
        return IntakeReport(
            self.source, self.sha256, self.outcome,
            tuple(StoredPrescription(n, v, o, row.saved_id, notes) for n, v, o, row, notes in self.stored),
            tuple(QuarantinedPart(n, reason, row.saved_id) for n, reason, row in self.quarantined),
        )


class _Writer:
    """Writes a batch of bundles inside one open unit of work, as if one after the other.

    First a few ``IN (…)`` queries fetch what the database holds for the whole batch (payloads,
    latest versions, patients and their history, prescribers, open quarantine cases); then every
    bundle is worked through in order against that state; then each table gets one multi-row
    statement, in foreign-key order, and the audit events are appended in the order they happened.
    Per-table ids come out as they would bundle by bundle. Per-object ORM flushing cost five times
    as much as parsing and validating the bundle, and a statement per row most of the rest.
    """

    def __init__(self, uow: UnitOfWork, actor: str, max_bytes: int) -> None:
        self.uow = uow
        self.conn = uow.session.connection()
        self.actor = actor
        self.max_bytes = max_bytes
        self.payloads: dict[str, _Row] = {}
        self.latest: dict[str, _Version] = {}
        self.patients: dict[str, _Party] = {}
        self.prescribers: dict[str, _Party] = {}
        self.open_cases: dict[tuple[str, str, str | None], _Row] = {}  # (payload sha, reason, number)
        # What to write, in the order it happened.
        self.new_payloads: list[_Row] = []
        self.new_patients: list[_Party] = []
        self.new_prescribers: list[_Party] = []
        self.new_prescriptions: list[tuple[_Row, _Row, _Row, _Row]] = []  # (prescription, payload, patient, prescriber)
        self.superseded: list[tuple[_Row, datetime]] = []
        self.items: list[tuple[_Row, Iterable[dict[str, Any]]]] = []
        self.dispenses: list[tuple[_Row, Iterable[dict[str, Any]]]] = []
        self.history: dict[str, list[tuple[_Row, dict[str, Any], datetime]]] = {kind: [] for kind in _HISTORY_MODELS}
        self.new_cases: list[tuple[_Row, _Row]] = []  # (quarantine, payload)
        self.logs: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, dict[str, Any], _Row | None, datetime]] = []

    def write(self, reads: Sequence[BundleRead], nows: Sequence[datetime]) -> list[IntakeReport]:
        self._fetch_known(reads)
        outcomes = [self._bundle(read, now) for read, now in zip(reads, nows, strict=True)]
        self._flush()
        return [o.report() for o in outcomes]

    # -- what the database holds already

    def _fetch_known(self, reads: Sequence[BundleRead]) -> None:
        rows = [p for r in reads if r.rows is not None for p in r.rows.prescriptions]
        for sha, pid in self._known(_PAYLOADS, {r.sha256 for r in reads}):
            self.payloads[sha] = _Row(pid)
        for number, pid, version, content, status in self._known(_VERSIONS, {p.number for p in rows}):
            latest = self.latest.get(number)
            if latest is None or version > latest.version:
                self.latest[number] = _Version(_Row(pid), version, content, status)
        for key, pid, *facts in self._known(_PATIENTS, {p.patient_key for p in rows}):
            self.patients[key] = _Party(pid, dict(zip(_PATIENT_FACTS, facts, strict=True)), key)
        by_id = {p.saved_id: p for p in self.patients.values()}
        for pid, kind, content_key in self._known(_KNOWN_HISTORY, set(by_id)):
            by_id[pid].seen.add((str(kind), str(content_key)))
        for key, rid, *facts in self._known(_PRESCRIBERS, {p.prescriber_key for p in rows}):
            self.prescribers[key] = _Party(rid, dict(zip(_PRESCRIBER_FACTS, facts, strict=True)), key)
        # Open cases matter only for bytes that came before (the same bundle sent again).
        refused = {r.sha256 for r in reads if r.rows is None or r.rows.rejected}
        shas = {row.saved_id: sha for sha, row in self.payloads.items() if sha in refused}
        for payload_id, qid, reason, number in self._known(_OPEN_QUARANTINES, set(shas)):
            self.open_cases.setdefault((shas[payload_id], reason, number), _Row(qid))

    def _known(self, statement: Any, keys: set[Any]) -> Iterator[Any]:
        ordered = sorted(keys)
        for start in range(0, len(ordered), _IN_LIMIT):
            yield from self.conn.execute(statement, {"keys": ordered[start:start + _IN_LIMIT]})

    # -- one bundle, against the state the bundles before it left

    def _bundle(self, read: BundleRead, now: datetime) -> _Outcome:
        payload, payload_is_new = self._payload(read, now)
        stored: list[tuple[str, int, str, _Row, tuple[str, ...]]] = []
        if read.rows is None:
            assert read.reason is not None
            parts: Sequence[RejectedPart] = (RejectedPart(None, read.reason),)
        else:
            stored = [self._prescription(p, payload, read.source, read.sha256, now) for p in read.rows.prescriptions]
            parts = read.rows.rejected
        quarantined = [self._quarantine(payload, payload_is_new, read, part, now) for part in parts]
        new = sum(outcome != "duplicate" for _, _, outcome, _, _ in stored)
        if quarantined:
            outcome = "partial" if stored else "quarantined"
        else:
            outcome = "stored" if new else "duplicate"
        self.logs.append(dict(
            at=now, source=read.source[:1024], payload_sha256=read.sha256, outcome=outcome,
            stored=sum(o == "new" for _, _, o, _, _ in stored), new_versions=sum(o == "new_version" for _, _, o, _, _ in stored),
            duplicates=len(stored) - new, quarantined=len(quarantined),
            message="; ".join(f"{number or '(bundle)'}: {reason}" for number, reason, _ in quarantined),
        ))
        return _Outcome(read.source, read.sha256, outcome, stored, quarantined)

    def _payload(self, read: BundleRead, now: datetime) -> tuple[_Row, bool]:
        known = self.payloads.get(read.sha256)
        if known is not None:
            return known, False
        raw = read.raw
        truncated = len(raw) > self.max_bytes
        row = _Row(None, dict(sha256=read.sha256, received_at=now, source=read.source[:1024], size=len(raw),
                              truncated=truncated, content=raw[:_OVERSIZE_HEAD] if truncated else raw))
        self.payloads[read.sha256] = row
        self.new_payloads.append(row)
        return row, True

    def _quarantine(self, payload: _Row, payload_is_new: bool, read: BundleRead, part: RejectedPart,
                    now: datetime) -> tuple[str | None, str, _Row]:
        case = (read.sha256, part.reason, part.number)
        if not payload_is_new:  # the same bytes came before: do not open the same case twice
            open_same = self.open_cases.get(case)
            if open_same is not None:
                return part.number, part.reason, open_same
        row = _Row(None, dict(at=now, source=read.source[:1024], prescription_number=part.number,
                              resource_ids=json.dumps(list(part.resource_ids), ensure_ascii=False),
                              reason=part.reason, status="open"))
        self.open_cases.setdefault(case, row)
        self.new_cases.append((row, payload))
        self.events.append(("intake.quarantined",
                            f"prescription:{part.number}" if part.number else f"payload:{read.sha256}",
                            {"source": read.source, "payload_sha256": read.sha256, "reason": part.reason}, row, now))
        return part.number, part.reason, row

    def _prescription(self, rx: PrescriptionRows, payload: _Row, source: str, sha: str,
                      now: datetime) -> tuple[str, int, str, _Row, tuple[str, ...]]:
        latest = self.latest.get(rx.number)
        if latest is not None and latest.content_sha256 == rx.content_sha256:
            return rx.number, latest.version, "duplicate", latest.row, rx.intake_notes
        version = 1 if latest is None else latest.version + 1
        columns, notes = rx.columns, rx.intake_notes
        if latest is not None and latest.status == "received":
            self.superseded.append((latest.row, now))
        elif latest is not None and latest.status != "superseded":
            # A pharmacist already decided the earlier version: that decision (and any release) stands and
            # is never rewritten; the new version waits for review, saying so.
            notes = (*notes, f"第 {latest.version} 版已审核（{_DECIDED_ZH.get(latest.status, latest.status)}），本版为其后重新提交 / "
                             f"version {latest.version} was already {latest.status}: this is a later resubmission")
            columns = {**columns, "intake_notes": json.dumps(list(notes), ensure_ascii=False)}
        row = _Row(None, dict(number=rx.number, version=version, status="received", received_at=now,
                              source=source[:1024], **columns))
        self.latest[rx.number] = _Version(row, version, rx.content_sha256, "received")
        self.new_prescriptions.append((row, payload, self._patient(rx, now), self._prescriber(rx, now)))
        self.items.append((row, rx.items))
        if rx.dispenses:
            self.dispenses.append((row, rx.dispenses))
        self.events.append(("intake.stored" if latest is None else "intake.new_version", f"prescription:{rx.number}/v{version}",
                            {"source": source, "payload_sha256": sha, "content_sha256": rx.content_sha256,
                             "items": rx.item_count, "supersedes": latest.version if latest is not None else None,
                             "intake_notes": list(notes)}, None, now))
        return rx.number, version, "new" if latest is None else "new_version", row, notes

    def _patient(self, rx: PrescriptionRows, now: datetime) -> _Party:
        # Demographics follow the newest bundle; each prescription keeps its own snapshot.
        patient = self._party(self.patients, self.new_patients, rx.patient_key, rx.patient, now)
        for kind, row in rx.history:
            seen = (kind, row["content_key"])
            if seen not in patient.seen:
                patient.seen.add(seen)
                self.history[kind].append((patient, row, now))
        return patient

    def _prescriber(self, rx: PrescriptionRows, now: datetime) -> _Party:
        return self._party(self.prescribers, self.new_prescribers, rx.prescriber_key, rx.prescriber, now)

    @staticmethod
    def _party(known: dict[str, _Party], new: list[_Party], key: str, facts: dict[str, Any], now: datetime) -> _Party:
        """Inserted when first seen; its facts follow the newest bundle."""
        party = known.get(key)
        if party is None:
            party = known[key] = _Party(None, facts, key, new=True, first_seen=now, changed_at=now)
            new.append(party)
        elif _changed(party.values, facts):  # an UPDATE per bundle is costly and says nothing
            party.values, party.changed_at = facts, now
        return party

    # -- the statements, in foreign-key order; per table in the order the bundles came

    def _flush(self) -> None:
        execute = self.conn.execute
        self._insert(orm.FhirPayload, self.new_payloads)
        for party in self.new_patients:
            party.values = dict(party.values, patient_key=party.key, created_at=party.first_seen, updated_at=party.changed_at)
        self._insert(orm.Patient, self.new_patients)
        for party in self.new_prescribers:
            party.values = dict(party.values, prescriber_key=party.key, updated_at=party.changed_at)
        self._insert(orm.Prescriber, self.new_prescribers)
        self._update(_UPDATE_PATIENT, "pid", self.patients)
        self._update(_UPDATE_PRESCRIBER, "rid", self.prescribers)
        for row, payload, patient, prescriber in self.new_prescriptions:
            row.values.update(payload_id=payload.saved_id, patient_id=patient.saved_id, prescriber_id=prescriber.saved_id)
        self._insert(orm.Prescription, [row for row, *_ in self.new_prescriptions])
        if self.superseded:
            execute(_SUPERSEDE, [{"pid": row.saved_id, "at": at} for row, at in self.superseded])
        self._rows(orm.PrescriptionItem, [dict(item, prescription_id=row.saved_id) for row, items in self.items for item in items])
        self._rows(orm.DispenseRecord, [dict(d, prescription_id=row.saved_id) for row, ds in self.dispenses for d in ds])
        for kind, model in _HISTORY_MODELS.items():
            self._rows(model, [dict(values, patient_id=patient.saved_id, first_seen_at=at)
                               for patient, values, at in self.history[kind]])
        for row, payload in self.new_cases:
            row.values["payload_id"] = payload.saved_id
        self._insert(orm.Quarantine, [row for row, _ in self.new_cases])
        self._rows(orm.IntakeLog, self.logs)
        for action, subject, details, case, at in self.events:
            if case is not None:
                details["quarantine_id"] = case.saved_id
            audit.record(self.uow, actor=self.actor, action=action, subject=subject, details=details, at=at)

    def _insert(self, model: type[orm.Base], rows: Sequence[_Row]) -> None:
        if not rows:
            return
        key = _UNIQUE_KEYS[model]
        result = self.conn.execute(_INSERT_RETURNING[model], [row.values for row in rows]).all()
        if key:
            ids = {tuple(r[1:]): r[0] for r in result}
            for row in rows:
                row.id = ids[tuple(row.values[k] for k in key)]
        else:
            for row, r in zip(rows, result, strict=True):
                row.id = r[0]

    def _rows(self, model: type[orm.Base], rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(_INSERT[model], rows)

    def _update(self, statement: Any, id_name: str, parties: dict[str, _Party]) -> None:
        changed = [dict(p.values, updated_at=p.changed_at, **{id_name: p.saved_id})
                   for p in parties.values() if not p.new and p.changed_at is not None]
        if changed:
            self.conn.execute(statement, changed)


def _changed(stored: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether stored facts differ from the new ones."""
    return any(stored[k] != v for k, v in values.items())


def _key(value: object) -> str:
    return hashlib.sha256(codec.dumps(value).encode("utf-8")).hexdigest()


def _text(value: object) -> str | None:
    return None if value is None else str(value)
