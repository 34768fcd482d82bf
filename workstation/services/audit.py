"""Appending to and verifying the audit trail (审计追踪)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text

from workstation.adapters.db.orm import AuditEvent
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.audit import GENESIS, AuditRecord, ChainBreak, canonical_details, chain_hash

# Any constant will do: it only has to be the same in every process that appends.
_PG_AUDIT_LOCK = 0x52585753
_TAIL = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
_APPEND = insert(AuditEvent)


def record(
    uow: UnitOfWork,
    *,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one event inside the caller's transaction; it commits (or not) with the caller's work."""
    session = uow.session
    tx = session.get_transaction()
    tail = session.info.get("audit_tail")
    if tail is None or tail[0] is not tx:
        if uow.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        last = session.execute(_TAIL).first()
        tail = (tx, last[0], last[1]) if last else (tx, 0, GENESIS)
    _, seq, prev = tail
    rec = AuditRecord(seq=seq + 1, at=at or utcnow(), actor=actor, action=action, subject=subject,
                      details=canonical_details(details or {}))
    digest = chain_hash(prev, rec)
    session.connection().execute(_APPEND, dict(seq=rec.seq, at=rec.at, actor=rec.actor, action=rec.action,
                                               subject=rec.subject, details=rec.details, prev_hash=prev, hash=digest))
    session.info["audit_tail"] = (tx, rec.seq, digest)
    return rec


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    broken: ChainBreak | None


def verify(uow: UnitOfWork, *, progress: Callable[[int], None] | None = None, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; report the first row whose hash, link or sequence is wrong."""
    with uow:
        return _verify(uow, progress, batch)


def _verify(uow: UnitOfWork, progress: Callable[[int], None] | None, batch: int) -> VerifyResult:
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    rows = uow.session.scalars(stmt)
    try:
        return _walk(rows, progress, batch)
    finally:
        rows.close()  # an early return must not leave a server-side cursor open


def _walk(rows: Iterable[AuditEvent], progress: Callable[[int], None] | None, batch: int) -> VerifyResult:
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for row in rows:
        if row.seq != expected_seq:
            reason = (f"row {expected_seq} is missing (next row has seq {row.seq})" if row.seq > expected_seq
                      else f"seq {row.seq} appears out of order")
            return VerifyResult(checked, ChainBreak(expected_seq, row.id, reason))
        if row.prev_hash != prev:
            return VerifyResult(checked, ChainBreak(row.seq, row.id, "its previous-hash does not match the row before it"))
        rec = AuditRecord(row.seq, row.at, row.actor, row.action, row.subject, row.details)
        if chain_hash(prev, rec) != row.hash:
            return VerifyResult(checked, ChainBreak(row.seq, row.id, "its content does not match its hash (the row was altered)"))
        prev = row.hash
        expected_seq += 1
        checked += 1
        if progress is not None and checked % batch == 0:
            progress(checked)
    return VerifyResult(checked, None)


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str  # RFC 8785 JSON, as chained


def events(uow: UnitOfWork, *, subject: str | None = None, since: datetime | None = None,
           action: str | None = None, limit: int = 200) -> list[EventRow]:
    """The trail, oldest first: the last ``limit`` events whose subject starts with ``subject`` (so
    ``prescription:RX1`` finds every version), at or after ``since``, of ``action`` (a prefix too)."""
    q = select(AuditEvent)
    if subject:
        q = q.where(AuditEvent.subject.startswith(subject, autoescape=True))
    if action:
        q = q.where(AuditEvent.action.startswith(action, autoescape=True))
    if since is not None:
        q = q.where(AuditEvent.at >= since)
    with uow:
        rows = uow.session.scalars(q.order_by(AuditEvent.seq.desc()).limit(limit)).all()
        return [EventRow(r.seq, r.at, r.actor, r.action, r.subject, r.details) for r in reversed(rows)]
