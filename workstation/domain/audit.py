"""The audit trail's hash chain (审计追踪): how one row's hash binds it to every row before it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workstation.domain.canonical import jcs

GENESIS = "0" * 64  # the "previous hash" of the first row


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row's content, exactly as it is hashed."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str  # canonical JSON text (RFC 8785)


def canonical_details(details: dict[str, Any]) -> str:
    """Details as RFC 8785 JSON text: stored verbatim, so re-hashing never depends on a JSON library."""
    return jcs(details).decode("utf-8")


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    """SHA-256 over the previous row's hash and this row's canonical content."""
    at = record.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = jcs(
        {
            "seq": record.seq,
            "at": at,
            "actor": record.actor,
            "action": record.action,
            "subject": record.subject,
            "details": record.details,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first row at which the chain no longer holds."""

    seq: int
    row_id: int
    reason: str
