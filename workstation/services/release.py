"""Release (放行): deliver approved prescriptions to dispensing and delivery, each exactly once, never unsigned.

The outbox rows were written in the approval's transaction. The sender leases a due row, rebuilds
the message from what is stored, and re-verifies it exactly as a receiver would — the pharmacist's
signature, and that the prescription's stored content still hashes to the signed value. Anything
that fails is refused, marked and audited, never sent. A message is posted with the decision id as
``Idempotency-Key`` (a receiver accepts each key once), with timeouts, and retried with exponential
backoff and jitter; after the last attempt the row is ``release_failed`` until a person retries it.
A sender killed at any point loses nothing: an unfinished row is leased again after its lease
expires and sent again under the same key.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from cryptography import x509
from sqlalchemy import or_, select, update

from workstation.adapters import approval
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.canonical import content_sha256
from workstation.domain.errors import DomainError
from workstation.services import audit

log = logging.getLogger(__name__)
TARGETS = ("dispensing", "delivery")


@dataclass(frozen=True, slots=True)
class SenderSettings:
    urls: Mapping[str, str | None]  # target -> URL
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_attempts: int = 8
    backoff_seconds: float = 2.0  # first retry after about this long, doubling each time
    max_backoff_seconds: float = 600.0
    lease_seconds: float = 120.0  # a sender that died is taken over after this


class ReleaseNotConfigured(DomainError):
    """A target has no URL: a settings error, refused before any row is leased, so no attempt is used."""

    def __init__(self, missing: tuple[str, ...]) -> None:
        names = ", ".join(f"[release] {t}_url (or RXWS_{t.upper()}_URL)" for t in missing)
        super().__init__(f"放行未配置，未发送任何消息，未消耗重试次数 / release is not configured: {names} is not set; "
                         "nothing was sent and no attempt was used")
        self.missing = missing


@dataclass(frozen=True, slots=True)
class SendResult:
    outbox_id: int
    decision_id: str
    target: str
    outcome: str  # sent | retry | release_failed | refused | skipped
    detail: str


class ReleaseSender:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], principal: Principal, settings: SenderSettings,
                 anchors: Callable[[], tuple[x509.Certificate, ...]], *, http: requests.Session | None = None,
                 clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None,
                 token: Callable[[str], str | None] = lambda target: None) -> None:
        require(principal, Action.RUN_RELEASE)
        self._uow = uow_factory
        self._settings = settings
        self._anchors = anchors
        self._http = http or requests.Session()
        self._clock = clock
        self._rng = rng or random.Random()
        self._token = token  # bearer token per target, from the OS keyring
        self._actor = principal.actor

    def run_once(self, *, limit: int = 500) -> list[SendResult]:
        """One pass over the due outbox rows. ReleaseNotConfigured, before anything is leased, when a URL is missing."""
        missing = tuple(t for t in ("dispensing", "delivery") if not self._settings.urls.get(t))
        if missing:
            raise ReleaseNotConfigured(missing)
        results = []
        for _ in range(limit):
            row_id = self._lease()
            if row_id is None:
                break
            results.append(self._send(row_id))
        return results

    def watch(self, *, interval: float = 5.0, stop: Callable[[], bool] = lambda: False,
              report: Callable[[SendResult], None] = lambda r: None) -> None:
        while not stop():
            for result in self.run_once():
                report(result)
            time.sleep(interval)

    def _lease(self) -> int | None:
        now = self._clock()
        with self._uow() as uow:
            query = (select(orm.Outbox.id).where(orm.Outbox.status == "pending", orm.Outbox.next_attempt_at <= now,
                                                 or_(orm.Outbox.lease_until.is_(None), orm.Outbox.lease_until <= now))
                     .order_by(orm.Outbox.next_attempt_at, orm.Outbox.id).limit(1))
            if uow.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row_id = uow.session.scalar(query)
            if row_id is None:
                return None
            uow.session.execute(update(orm.Outbox).where(orm.Outbox.id == row_id)
                                .values(lease_until=now + timedelta(seconds=self._settings.lease_seconds)))
            uow.commit()
            return row_id

    def _send(self, row_id: int) -> SendResult:
        anchors = self._anchors()  # before the transaction: it may read the database itself
        with self._uow() as uow:
            row = uow.session.get(orm.Outbox, row_id)
            assert row is not None
            decision = uow.session.get(orm.Decision, row.decision_id)
            assert decision is not None
            target, decision_id = row.target, decision.id
            try:
                body = self._message(uow, row, decision, anchors)
            except DomainError as exc:
                body, refusal = None, str(exc)
        if body is None:  # outside the read transaction: SQLite holds its write lock per transaction
            return self._finish(row_id, "refused", refusal)
        url = self._settings.urls.get(target)
        if not url:  # run_once refuses first; the lease runs out and the row is untouched
            raise ReleaseNotConfigured((target,))
        headers = {"Idempotency-Key": decision_id, "Content-Type": "application/json"}
        if token := self._token(target):
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._http.post(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers,
                                       timeout=(self._settings.connect_timeout, self._settings.read_timeout))
        except requests.RequestException as exc:
            return self._retry(row_id, f"{type(exc).__name__}: {str(exc)[:300]}")
        text = response.text[:4000]
        if 200 <= response.status_code < 300:
            return self._finish(row_id, "sent", f"HTTP {response.status_code}", response.status_code, text)
        if response.status_code == 429 or response.status_code >= 500:
            return self._retry(row_id, f"HTTP {response.status_code}: {text[:300]}", response.status_code, text)
        # 4xx: the receiver refuses this message as it is; retrying will not change that.
        return self._finish(row_id, "release_failed", f"HTTP {response.status_code}: {text[:300]}", response.status_code, text)

    def _message(self, uow: UnitOfWork, row: orm.Outbox, decision: orm.Decision,
                 anchors: tuple[x509.Certificate, ...]) -> dict[str, Any]:
        """The message as stored, re-verified; DomainError when it must not go out."""
        verified, _, mrs = check_approval(uow, decision, anchors, refused="拒绝发送 / refused")
        statement = verified.statement
        if row.target == "dispensing":
            if not decision.provenance:
                raise DomainError("审核决定缺少 Provenance / the approval has no Provenance: refused")
            provenance = json.loads(decision.provenance)
            bundle = approval.dispensing_bundle(mrs, provenance, decision_id=decision.id,
                                                timestamp=str(statement["signed_at"]))
            approval.verify_dispensing_bundle(bundle, anchors)
            return bundle
        if row.body is None:
            raise DomainError("配送消息缺失 / the delivery message is missing: refused")
        message: dict[str, Any] = json.loads(row.body)
        checked = approval.verify_delivery_message(message, anchors)
        if checked.message.get("order") != decision.prescription_number:
            raise DomainError("配送消息与审核决定不符 / the delivery message belongs to another decision: refused")
        return message

    def _retry(self, row_id: int, error: str, status: int | None = None, body: str | None = None) -> SendResult:
        with self._uow() as uow:
            row = uow.session.get(orm.Outbox, row_id)
            assert row is not None
            attempts = row.attempts + 1
            if attempts < self._settings.max_attempts:
                delay = min(self._settings.max_backoff_seconds, self._settings.backoff_seconds * 2 ** (attempts - 1))
                delay *= 0.5 + self._rng.random()  # jitter: senders that failed together do not retry together
                row.attempts, row.next_attempt_at = attempts, self._clock() + timedelta(seconds=delay)
                row.lease_until, row.last_error, row.response_status, row.response_body = None, error, status, body
                result = SendResult(row_id, row.decision_id, row.target, "retry", f"{error}; next try in {delay:.1f} s")
                uow.commit()
                return result
        return self._finish(row_id, "release_failed", f"{error} (after {attempts} attempts)", status, body,
                            attempts=attempts)

    def _finish(self, row_id: int, outcome: str, detail: str, status: int | None = None, body: str | None = None,
                *, attempts: int | None = None) -> SendResult:
        """Record a final outcome for the row, the decision's release state, and the audit event, together."""
        now = self._clock()
        with self._uow() as uow:
            row = uow.session.get(orm.Outbox, row_id)
            assert row is not None
            decision = uow.session.get(orm.Decision, row.decision_id)
            assert decision is not None
            row.status = outcome
            row.lease_until, row.response_status, row.response_body = None, status, body
            if attempts is not None:
                row.attempts = attempts
            if outcome == "sent":
                row.sent_at, row.attempts, row.last_error = now, row.attempts + 1, None
            else:
                row.last_error = detail
            uow.session.flush()
            states = set(uow.session.scalars(select(orm.Outbox.status).where(orm.Outbox.decision_id == decision.id)))
            if "refused" in states:
                decision.release_status, decision.release_note = "refused", detail if outcome == "refused" else decision.release_note
            elif "release_failed" in states:
                decision.release_status, decision.release_note = "release_failed", detail
            elif states == {"sent"}:
                decision.release_status = "released"
            audit.record(uow, actor=self._actor, action=f"release.{outcome}",
                         subject=f"prescription:{decision.prescription_number}/v{decision.version}",
                         details={"decision_id": decision.id, "target": row.target, "detail": detail[:1000],
                                  "http_status": status}, at=now)
            result = SendResult(row_id, decision.id, row.target, outcome, detail)
            uow.commit()
            return result


def retry(uow_factory: Callable[[], UnitOfWork], principal: Principal, decision_id: str,
          clock: Callable[[], datetime] = utcnow) -> int:
    """Put a decision's failed release rows back in the queue (refused ones stay refused). Returns how many."""
    require(principal, Action.RETRY_RELEASE)
    now = clock()
    with uow_factory() as uow:
        decision = uow.session.get(orm.Decision, decision_id)
        if decision is None:
            raise DomainError(f"没有此审核决定 / no decision {decision_id}")
        rows = uow.session.scalars(select(orm.Outbox).where(orm.Outbox.decision_id == decision_id,
                                                            orm.Outbox.status == "release_failed")).all()
        for row in rows:
            row.status, row.attempts, row.next_attempt_at, row.lease_until = "pending", 0, now, None
        if rows:
            decision.release_status = "pending"
            audit.record(uow, actor=principal.actor, action="release.retried",
                         subject=f"prescription:{decision.prescription_number}/v{decision.version}",
                         details={"decision_id": decision_id, "targets": [r.target for r in rows]}, at=now)
        uow.commit()
        return len(rows)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    decision_id: str
    number: str
    version: int
    target: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


def outbox(uow_factory: Callable[[], UnitOfWork], *, status: str | None = None, limit: int = 200) -> list[OutboxRow]:
    with uow_factory() as uow:
        query = (select(orm.Outbox, orm.Decision).join(orm.Decision, orm.Decision.id == orm.Outbox.decision_id)
                 .order_by(orm.Outbox.id.desc()).limit(limit))
        if status:
            query = query.where(orm.Outbox.status == status)
        return [OutboxRow(d.id, d.prescription_number, d.version, o.target, o.status, o.attempts, o.last_error, o.sent_at)
                for o, d in uow.session.execute(query)]


def check_approval(uow: UnitOfWork, decision: orm.Decision, anchors: tuple[x509.Certificate, ...], *,
                   refused: str) -> tuple[approval.VerifiedApproval, orm.Prescription, list[dict[str, Any]]]:
    """A stored approval, verified again: its signature chains to ``anchors``, its signed statement is the
    stored decision's, and the stored prescription is the one signed, unchanged. Returns the verified
    approval, the prescription and its MedicationRequests; DomainError (ending in ``refused``) otherwise."""
    if decision.kind != "approve" or not decision.signature_jws or not decision.statement:
        raise DomainError(f"不是已签名的审核通过决定，{refused}（not a signed approval）")
    verified = approval.verify_approval_jws(decision.signature_jws, anchors)
    statement = verified.statement
    if statement != json.loads(decision.statement) or (
            statement["prescription"], statement["version"], statement["content_sha256"]) != (
            decision.prescription_number, decision.version, decision.content_sha256):
        raise DomainError(f"签名声明与所存审核决定不符，{refused}（决定被改动或签名被挪用 / the signed statement does "
                          "not match the stored decision: altered, or a signature copied)")
    prescription = uow.session.get(orm.Prescription, decision.prescription_id)
    if prescription is None or (prescription.number, prescription.version) != (decision.prescription_number,
                                                                                decision.version):
        raise DomainError(f"签名的处方与所存处方不符，{refused}（the signed prescription is not the stored one）")
    items = uow.session.scalars(select(orm.PrescriptionItem).where(
        orm.PrescriptionItem.prescription_id == prescription.id).order_by(orm.PrescriptionItem.position)).all()
    mrs = [json.loads(i.resource_json) for i in items]
    if content_sha256(mrs) != statement["content_sha256"] or prescription.content_sha256 != statement["content_sha256"]:
        raise DomainError(f"处方内容在签名后被改动，{refused}（the prescription's stored content changed after it "
                          "was signed）")
    return verified, prescription, mrs
