"""Pharmacist decisions (审核决定): approve with a signature, reject, or return to the prescriber.

An approval is possible only when the rules, re-run now with the current clock, give no ``block``
finding and every ``warn`` is acknowledged with a reason. It is signed at decision time (the
statement the pharmacist signs binds the prescription's number, version and content hash), kept as a
FHIR Provenance, and written together with its two outbox rows (dispensing and delivery) in one
transaction: there is never a stored approval without a valid signature, and never a release
without a stored approval. Every decision keeps the rule-set version and the findings as they stood.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from sqlalchemy import delete, select

import review_rules
from review_rules.model import Finding, Severity
from workstation.adapters import approval
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain import codec
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.canonical import content_sha256
from workstation.domain.errors import DomainError
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.services import audit
from workstation.services.claims import ClaimError, current_version, holds_claim
from workstation.services.review import Loosening, Reviewer, note_loosenings
from workstation.services.signing import SigningService, SigningSession, chains_to

# Reasons for rejecting or returning a prescription (审核不通过 / 退回医师修改).
REASON_CODES: dict[str, str] = {
    "diagnosis_mismatch": "诊断与用药不符",
    "dose_inappropriate": "剂量不适宜",
    "duplicate_therapy": "重复用药",
    "interaction": "相互作用",
    "off_label": "超说明书用药",
    "incomplete": "资料不全",
    "special_drug": "特殊管理药品不得线上开具",
    "not_follow_up": "非复诊或诊断未经线下确诊",
    "other": "其他",
}

# Drugs that travel cold (冷链): insulins and GLP-1 analogues, biologics, vaccines, epoetins, interferons.
_COLD_ATC = ("A10A", "A10BJ", "L04AB", "L04AC", "J07", "B03XA", "L03AB", "H01AC")
_COLD_NAMES = ("胰岛素", "疫苗", "干扰素", "生长激素", "促红素", "insulin", "vaccine")
COLD, AMBIENT = "冷藏 2–8℃", "常温"


class DecisionRefused(DomainError):
    """The decision cannot be taken; ``findings`` holds the blocking findings when the rules refused."""

    def __init__(self, message: str, findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True, slots=True)
class DecisionInfo:
    id: str
    number: str
    version: int
    kind: str
    decided_at: datetime
    release_status: str
    findings: tuple[Finding, ...]
    acknowledged: Mapping[str, str]


def resolve_reason(code: str) -> str:
    """A reason code, given as its code or its Chinese label."""
    code = code.strip()
    if code in REASON_CODES:
        return code
    for key, label in REASON_CODES.items():
        if code == label:
            return key
    raise DomainError(f"未知理由代码 / unknown reason code {code!r}: one of "
                      + ", ".join(f"{k} ({v})" for k, v in REASON_CODES.items()))


def storage_condition(snapshot: PrescriptionSnapshot) -> str:
    for item in snapshot.items:
        codes = [c.code or "" for c in item.drug.codings]
        name = item.drug.label().lower()
        if any(code.upper().startswith(_COLD_ATC) for code in codes) or any(n in name for n in _COLD_NAMES):
            return COLD
    return AMBIENT


def findings_json(findings: tuple[Finding, ...]) -> str:
    return json.dumps([{"rule_id": f.rule_id, "severity": f.severity.value, "item": f.item, "message_zh": f.message_zh,
                        "message_en": f.message_en, "citation": f.citation, "evidence": list(f.evidence)}
                       for f in findings], ensure_ascii=False)


class DecisionService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], reviewer: Callable[[], Reviewer],
                 signing: SigningService, anchors: Callable[[], tuple[x509.Certificate, ...]],
                 *, time_zone: str = "Asia/Shanghai", clock: Callable[[], datetime] = utcnow,
                 loosened: Sequence[Loosening] = ()) -> None:
        self._uow = uow_factory
        self._loosened = tuple(loosened)  # the settings' loosenings: on the record of every decision made under them
        self._loosened_json = json.dumps([item.as_json() for item in self._loosened], ensure_ascii=False)
        self._reviewer = reviewer
        self._signing = signing
        self._anchors = anchors  # what receivers trust for pharmacists' signatures
        self._tz = ZoneInfo(time_zone)
        self._clock = clock

    def review(self, principal: Principal, number: str) -> review_rules.Result:
        """The findings for the current version now (what the pharmacist sees before deciding)."""
        require(principal, Action.VIEW_QUEUE)
        with self._uow() as uow:
            row = current_version(uow, number)
            snapshot = codec.loads(PrescriptionSnapshot, row.snapshot)
        return self._reviewer().review(snapshot, self._clock())

    # -- approve

    def approve(self, principal: Principal, session: SigningSession, number: str, *, pin: str,
                password: str | None = None, acknowledged: Mapping[str, str] | None = None) -> DecisionInfo:
        require(principal, Action.DECIDE)
        assert principal.pharmacist_id is not None and principal.licence is not None
        if session.principal.pharmacist_id != principal.pharmacist_id:
            raise DecisionRefused("签名会话不属于当前药师 / the signing session belongs to another pharmacist")
        acks = {k.strip(): v.strip() for k, v in (acknowledged or {}).items()}
        now = self._clock()
        with self._uow() as uow:
            row, mrs = self._open(uow, principal, number, now)
            prescription_id, version, content = row.id, row.version, row.content_sha256
            snapshot = codec.loads(PrescriptionSnapshot, row.snapshot)
        result = self._reviewer().review(snapshot, now)
        if not result.checked:
            raise DecisionRefused(f"处方未完成审核检查，不能通过 / the prescription could not be checked and cannot be "
                                  f"approved: {result.error}")
        blocks = tuple(f for f in result.findings if f.severity is Severity.BLOCK)
        if blocks:
            raise DecisionRefused("存在拦截项，不能通过 / blocking findings: the prescription cannot be approved — "
                                  + "; ".join(f"{f.rule_id}: {f.message_zh}" for f in blocks), blocks)
        warned = {f.rule_id for f in result.findings if f.severity is Severity.WARN}
        missing = sorted(r for r in warned if not acks.get(r))
        if missing:
            raise DecisionRefused("以下警示须逐条确认并写明理由 / every warning needs an acknowledgement with a reason: "
                                  + ", ".join(missing), tuple(f for f in result.findings if f.rule_id in missing))
        extra = sorted(set(acks) - warned)
        if extra:
            raise DecisionRefused(f"确认了不存在的警示 / acknowledged rules that did not warn: {', '.join(extra)}")

        if not (snapshot.patient.name or "").strip() or not (snapshot.patient.address or "").strip():
            raise DecisionRefused("处方缺少收件人姓名或配送地址，无法放行配送；请退回医师补充（资料不全）/ the prescription has no "
                                  "recipient name or delivery address, so it cannot be delivered: return it (incomplete)")
        signer = self._signing.signer(session, pin=pin, password=password)
        decision_id = str(uuid.uuid4())
        signed_at = now.astimezone(self._tz).isoformat(timespec="seconds")
        acknowledged = {r: acks[r] for r in sorted(warned)}
        statement: dict[str, Any] = {
            "prescription": number.strip(), "version": version, "content_sha256": content, "decision": "approve",
            "acknowledged": acknowledged, "pharmacist_licence": signer.licence, "signed_at": signed_at}
        jws = approval.sign_statement(statement, signer.key, list(signer.chain))
        anchors = self._anchors()
        if not chains_to(signer.chain, anchors):
            raise DecisionRefused(
                f"你的签名证书（签发者 {signer.chain[0].issuer.rfc4514_string()}）不在药师签名的信任锚中，接收方无法验证；请管理员把签发CA的证书"
                f"加入设置文件的 [release] trust_anchors / your signing certificate (issued by "
                f"{signer.chain[0].issuer.rfc4514_string()}) does not chain to a pharmacist trust anchor, so no receiver "
                "could verify the approval: the issuing CA's certificate must be added to [release] trust_anchors "
                "in the settings file")
        approval.verify_approval_jws(jws, anchors)  # what a receiver will check, before anything is stored
        provenance = approval.approval_provenance(statement, jws, target_ids=[m["id"] for m in mrs],
                                                  pharmacist_name=signer.name, provenance_id=f"approval-{decision_id}",
                                                  loosened=[item.as_json() for item in self._loosened])
        phone = snapshot.patient.phones[0] if snapshot.patient.phones else None
        delivery = approval.delivery_message(
            parcel_id=f"PKG-{decision_id[:8].upper()}", order=number.strip(),
            recipient_name=(snapshot.patient.name or "").strip(), recipient_phone_masked=approval.mask_phone(phone),
            address=(snapshot.patient.address or "").strip(), packages=1, storage=storage_condition(snapshot),
            pharmacist_licence=signer.licence, signed_at=signed_at, key=signer.key, chain=list(signer.chain))

        with self._uow() as uow:
            row, mrs_now = self._open(uow, principal, number, self._clock())
            if row.id != prescription_id or content_sha256(mrs_now) != content:
                raise DecisionRefused("处方在审核期间已变更，请重新审核 / the prescription changed while it was being "
                                      "reviewed: review it again")
            uow.session.add(orm.Decision(
                id=decision_id, prescription_id=row.id, prescription_number=row.number, version=row.version,
                content_sha256=content, pharmacist_id=principal.pharmacist_id, kind="approve",
                acknowledged=json.dumps(acknowledged, ensure_ascii=False), findings=findings_json(result.findings),
                rule_set_version=result.rule_set_version, decided_at=now, statement=json.dumps(statement, ensure_ascii=False),
                signature_jws=jws, provenance=json.dumps(provenance, ensure_ascii=False), release_status="pending",
                settings_loosened=self._loosened_json))
            note_loosenings(uow, self._loosened, actor=principal.actor, at=now)
            uow.session.flush()  # the outbox rows refer to the decision
            for target, body in (("dispensing", None), ("delivery", json.dumps(delivery, ensure_ascii=False))):
                uow.session.add(orm.Outbox(decision_id=decision_id, target=target, body=body, status="pending",
                                           attempts=0, next_attempt_at=now, created_at=now))
            self._close(uow, principal, row, "approved", now, {
                "decision_id": decision_id, "content_sha256": content, "acknowledged": acknowledged,
                "findings": [f.rule_id for f in result.findings], "rule_set_version": result.rule_set_version,
                "certificate_serial": f"{signer.chain[0].serial_number:x}", **self._loosened_details()})
            uow.queue_changed()
            uow.commit()
        return DecisionInfo(decision_id, row.number, row.version, "approve", now, "pending", result.findings, acknowledged)

    # -- reject and return

    def reject(self, principal: Principal, number: str, *, code: str, comment: str) -> DecisionInfo:
        return self._refuse(principal, number, "reject", code, comment)

    def return_to_prescriber(self, principal: Principal, number: str, *, code: str, comment: str) -> DecisionInfo:
        return self._refuse(principal, number, "return", code, comment)

    def _refuse(self, principal: Principal, number: str, kind: str, code: str, comment: str) -> DecisionInfo:
        require(principal, Action.DECIDE)
        assert principal.pharmacist_id is not None
        code = resolve_reason(code)
        if not comment.strip():
            raise DomainError("须填写说明 / a comment is required")
        now = self._clock()
        reviewer = self._reviewer()  # before the transaction: building it reads the database
        with self._uow() as uow:
            row, _ = self._open(uow, principal, number, now)
            result = reviewer.review(codec.loads(PrescriptionSnapshot, row.snapshot), now)
            decision_id = str(uuid.uuid4())
            uow.session.add(orm.Decision(
                id=decision_id, prescription_id=row.id, prescription_number=row.number, version=row.version,
                content_sha256=row.content_sha256, pharmacist_id=principal.pharmacist_id, kind=kind, reason_code=code,
                comment=comment.strip(), acknowledged="{}", findings=findings_json(result.findings),
                rule_set_version=result.rule_set_version, decided_at=now, release_status="not_released",
                settings_loosened=self._loosened_json))
            note_loosenings(uow, self._loosened, actor=principal.actor, at=now)
            self._close(uow, principal, row, "rejected" if kind == "reject" else "returned", now, {
                "decision_id": decision_id, "reason_code": code, "reason": REASON_CODES[code], "comment": comment.strip(),
                "findings": [f.rule_id for f in result.findings], "rule_set_version": result.rule_set_version,
                **self._loosened_details()})
            uow.queue_changed()
            uow.commit()
        return DecisionInfo(decision_id, row.number, row.version, kind, now, "not_released", result.findings, {})

    # -- shared

    def _loosened_details(self) -> dict[str, Any]:
        return {"settings_loosened": [item.as_json() for item in self._loosened]} if self._loosened else {}

    def _open(self, uow: UnitOfWork, principal: Principal, number: str, now: datetime
              ) -> tuple[orm.Prescription, list[dict[str, Any]]]:
        """The current version, still open, claimed by the caller, its stored content intact."""
        assert principal.pharmacist_id is not None
        row = current_version(uow, number, lock=True)
        if row.status != "received":
            raise DecisionRefused(f"处方 {row.number} 第 {row.version} 版状态为 {row.status}，不能再决定 / prescription "
                                  f"{row.number} v{row.version} is {row.status}: no further decision")
        if not holds_claim(uow, row.id, principal.pharmacist_id, now):
            raise ClaimError(f"请先认领处方 {row.number}（或认领已过期）/ claim prescription {row.number} first "
                             "(or your claim expired)")
        items = uow.session.scalars(select(orm.PrescriptionItem).where(orm.PrescriptionItem.prescription_id == row.id)
                                    .order_by(orm.PrescriptionItem.position)).all()
        mrs = [json.loads(i.resource_json) for i in items]
        if content_sha256(mrs) != row.content_sha256:
            raise DecisionRefused(f"处方 {row.number} 存储内容与接收时不符，已拒绝 / the stored content of {row.number} no "
                                  "longer matches what was received: refused (report it to IT)")
        return row, mrs

    def _close(self, uow: UnitOfWork, principal: Principal, row: orm.Prescription, status: str, now: datetime,
               details: dict[str, Any]) -> None:
        row.status = status
        uow.session.execute(delete(orm.Claim).where(orm.Claim.prescription_id == row.id))
        audit.record(uow, actor=principal.actor, action=f"decision.{status}", subject=f"prescription:{row.number}/v{row.version}",
                     details=details, at=now)
