"""Signed release messages (放行): the pharmacist's approval (审核通过) and what goes to dispensing and delivery.

This is a public contract (also in ``docs/release-api.yaml``); receivers outside the workstation rely on it.

**Approval statement** — a JSON object with exactly these members::

    {"prescription": "RX20260601001",        # the prescription number (groupIdentifier.value)
     "version": 1,                           # the version reviewed (integer ≥ 1)
     "content_sha256": "9f…",                # 64 lowercase hex: SHA-256 of the prescription's JCS content
     "decision": "approve",
     "acknowledged": {"rule.id": "reason"},  # every warning the pharmacist acknowledged, with the reason
     "pharmacist_licence": "…",              # 执业药师注册证号, equal to the certificate's serialNumber
     "signed_at": "2026-06-01T10:05:00+08:00"}   # date-time with seconds and an offset (a FHIR instant)

It is signed as a JWS compact serialization with an *attached* payload: the RFC 8785 (JCS) bytes of the
statement, protected header ``{"alg":"ES256","x5c":[leaf, …, CA]}``, raw ``r‖s`` signature.
``content_sha256`` covers the same bytes the prescriber signed (intake profile §7): the MedicationRequests
of the prescription sorted by id, without ``meta`` and ``text``.

**Dispensing bundle** (调配) — a FHIR R4 ``transaction`` Bundle (``id`` = the decision id): every
MedicationRequest exactly as received (``PUT MedicationRequest/<id>``), then one Provenance per approval
(``POST Provenance``) whose ``target`` lists those MedicationRequests, whose ``agent`` is the pharmacist as
``verifier``, and whose ``signature`` has type ``1.2.840.10065.1.12.1.5`` (Verification Signature, system
``urn:iso-astm:E1762-95:2013``), ``sigFormat`` ``application/jose`` and ``data`` = base64 of the ASCII JWS.

**Delivery message** (配送) — ``{"message": {…}, "signature": "<JWS, attached payload = JCS(message)>"}``
where the message has exactly ``parcel_id``, ``order``, ``recipient_name``, ``recipient_phone_masked``
(``138****5678``, or null), ``address``, ``packages`` (integer ≥ 1), ``storage`` (``冷藏 2–8℃``,
``常温``…), ``pharmacist_licence`` and ``signed_at``. A courier learns no diagnosis and no drug name: the
verifier refuses any other member.

A signature is valid when it verifies with the x5c leaf, the chain ends in a configured trust anchor
(the pharmacy CA), every certificate of it was valid at ``signed_at``, and the leaf's serialNumber is
``pharmacist_licence``. Every failure is a :class:`ReleaseVerificationError` with a reason in Chinese and
English, whatever the input.
"""

from __future__ import annotations

import dataclasses

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from workstation.adapters.jws import JwsError, leaf_serial_number, parse_compact, sign_attached, verify_attached
from workstation.adapters.signature import (
    JOSE,
    SignatureRejected,
    check_validity,
    display_name,
    split_reason,
    trusted_path,
)
from workstation.domain.canonical import content_sha256, jcs
from workstation.domain.errors import DomainError
from workstation.domain.local_time import shown

VERIFICATION_SIGNATURE = "1.2.840.10065.1.12.1.5"
SIGNATURE_TYPE_SYSTEM = "urn:iso-astm:E1762-95:2013"
PARTICIPANT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
LICENCE_SYSTEM = "https://rxws.example.org/fhir/sid/pharmacist-licence"
DECISION_APPROVE = "approve"

Json = dict[str, Any]
_T = TypeVar("_T")


class ReleaseVerificationError(DomainError):
    """A release message does not verify; ``zh`` and ``en`` say why, ``reason`` is both ("中文 / English")."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.reason = f"{zh} / {en}"


# --------------------------------------------------------------------------- member checks

# A check returns None when the value is right, else what is wrong with it, in Chinese and English.
_Check = Callable[[Any], tuple[str, str] | None]
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MASKED_PHONE = re.compile(r"\d{3}\*{4}\d{4}|\*+\d{0,4}")


def _text(value: Any) -> tuple[str, str] | None:
    return None if isinstance(value, str) and value.strip() else ("应为非空文本", "must be non-empty text")


def _positive(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else ("应为不小于 1 的整数", "must be an integer of at least 1")


def _hex64(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, str) and _HEX64.fullmatch(value) is not None
    return None if ok else ("应为 64 位小写十六进制", "must be 64 lowercase hexadecimal digits")


def _approve(value: Any) -> tuple[str, str] | None:
    return None if value == DECISION_APPROVE else ('应为 "approve"', 'must be "approve"')


def _acknowledged(value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, dict) and all(
        isinstance(k, str) and k and isinstance(v, str) and v.strip() for k, v in value.items())
    return None if ok else ("应为 规则编号 → 确认理由 的对象", "must be an object of rule id → reason text")


def _instant(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        try:
            datetime.fromisoformat(value)
            return None
        except ValueError:
            pass
    return ("应为带秒和时区的时间，如 2026-06-01T10:05:00+08:00",
            "must be a date-time with seconds and offset, e.g. 2026-06-01T10:05:00+08:00")


def _masked(value: Any) -> tuple[str, str] | None:
    ok = value is None or (isinstance(value, str) and _MASKED_PHONE.fullmatch(value) is not None)
    return None if ok else ("应为脱敏的电话号码（如 138****5678）或 null",
                            "must be a masked phone number (e.g. 138****5678) or null")


# A review setting less strict than the law that an approval was made under (sub-extensions setting, reason,
# settingsSha256): the receiver sees that this approval was judged under loosened rules, and by which file.
LOOSENED_EXTENSION = "https://rxws.example.org/fhir/StructureDefinition/review-settings-loosened"

STATEMENT_MEMBERS: Mapping[str, _Check] = {
    "prescription": _text,
    "version": _positive,
    "content_sha256": _hex64,
    "decision": _approve,
    "acknowledged": _acknowledged,
    "pharmacist_licence": _text,
    "signed_at": _instant,
}
DELIVERY_MEMBERS: Mapping[str, _Check] = {
    "parcel_id": _text,
    "order": _text,
    "recipient_name": _text,
    "recipient_phone_masked": _masked,
    "address": _text,
    "packages": _positive,
    "storage": _text,
    "pharmacist_licence": _text,
    "signed_at": _instant,
}


def _member_problem(obj: Any, members: Mapping[str, _Check]) -> tuple[str, str] | None:
    """What is wrong with ``obj`` against ``members``, naming the member; None when it is right."""
    if not isinstance(obj, Mapping):
        return "不是 JSON 对象", "is not a JSON object"
    extra = sorted(str(k) for k in obj if k not in members)
    if extra:
        return (f"含有不允许的成员 {'、'.join(extra)}",
                f"has members that are not allowed: {', '.join(repr(e) for e in extra)}")
    for name, check in members.items():
        if name not in obj:
            return f"缺少成员 {name}", f"lacks the member {name!r}"
        problem = check(obj[name])
        if problem is not None:
            return f"成员 {name} {problem[0]}", f"member {name!r} {problem[1]}"
    return None


def _require_members(obj: Mapping[str, Any], members: Mapping[str, _Check], what: str) -> None:
    problem = _member_problem(obj, members)
    if problem is not None:
        raise ValueError(f"{what} {problem[1]}")


def _require_signer(chain: Sequence[x509.Certificate], licence: str) -> None:
    # A token whose certificate names another pharmacist could never verify: refuse to make it.
    if not chain or leaf_serial_number(chain[0]) != licence:
        raise ValueError(f"the signing certificate does not carry the licence number {licence!r}")


# --------------------------------------------------------------------------- the approval


def sign_statement(
    statement: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> str:
    """The approval as a JWS with the JCS bytes of ``statement`` attached; ValueError names a bad member."""
    _require_members(statement, STATEMENT_MEMBERS, "the approval statement")
    _require_signer(chain, statement["pharmacist_licence"])
    return sign_attached(jcs(dict(statement)), key, chain)


def approval_provenance(
    statement: Mapping[str, Any], jws: str, *, target_ids: list[str], pharmacist_name: str, provenance_id: str,
    loosened: Sequence[Mapping[str, str | None]] = (),
) -> Json:
    """The FHIR R4 Provenance carrying the approval JWS as the pharmacist's verification signature.

    ``loosened`` (setting, reason, settings_sha256): the review settings less strict than the law that the
    approval was made under, each carried as a :data:`LOOSENED_EXTENSION` extension."""
    _require_members(statement, STATEMENT_MEMBERS, "the approval statement")
    if not target_ids:
        raise ValueError("an approval covers at least one MedicationRequest")
    try:
        signed = parse_compact(jws).payload
    except JwsError as exc:
        raise ValueError(f"the approval JWS cannot be read: {exc.reason}") from None
    if signed != jcs(dict(statement)):
        raise ValueError("the approval JWS does not carry this statement")
    who = {"identifier": {"system": LICENCE_SYSTEM, "value": statement["pharmacist_licence"]},
           "display": pharmacist_name}
    extensions = [{"url": LOOSENED_EXTENSION, "extension": [
        {"url": key, "valueString": str(value)} for key, value in (
            ("setting", item.get("setting")), ("reason", item.get("reason")),
            ("settingsSha256", item.get("settings_sha256"))) if value]} for item in loosened]
    return {
        "resourceType": "Provenance",
        "id": provenance_id,
        **({"extension": extensions} if extensions else {}),
        "target": [{"reference": f"MedicationRequest/{i}"} for i in target_ids],
        "recorded": statement["signed_at"],
        "agent": [{
            "type": {"coding": [{"system": PARTICIPANT_TYPE_SYSTEM, "code": "verifier", "display": "Verifier"}]},
            "who": who,
        }],
        "signature": [{
            "type": [{"system": SIGNATURE_TYPE_SYSTEM, "code": VERIFICATION_SIGNATURE,
                      "display": "Verification Signature"}],
            "when": statement["signed_at"],
            "who": who,
            "sigFormat": JOSE,
            "data": base64.b64encode(jws.encode("ascii")).decode("ascii"),
        }],
    }


def dispensing_bundle(
    medication_requests: list[Json], provenance: Json, *, decision_id: str, timestamp: str
) -> Json:
    """The transaction Bundle: the MedicationRequests as received (PUT), then the Provenance (POST)."""
    entries: list[Json] = [
        {"fullUrl": f"MedicationRequest/{mr['id']}", "resource": mr,
         "request": {"method": "PUT", "url": f"MedicationRequest/{mr['id']}"}}
        for mr in medication_requests
    ]
    entries.append({"resource": provenance, "request": {"method": "POST", "url": "Provenance"}})
    return {"resourceType": "Bundle", "id": decision_id, "type": "transaction", "timestamp": timestamp,
            "entry": entries}


# --------------------------------------------------------------------------- the delivery message


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; other numbers keep at most their last 4 digits, never over half."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("861"):  # +86 before a mobile number
        digits = digits[2:]
    if not digits:
        return None
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    shown = min(4, len(digits) // 2)
    return "*" * (len(digits) - shown) + digits[len(digits) - shown:]


def delivery_message(
    *,
    parcel_id: str,
    order: str,
    recipient_name: str,
    recipient_phone_masked: str | None,
    address: str,
    packages: int,
    storage: str,
    pharmacist_licence: str,
    signed_at: str,
    key: ec.EllipticCurvePrivateKey,
    chain: Sequence[x509.Certificate],
) -> Json:
    """The signed delivery message. ``recipient_phone_masked`` must already be masked (:func:`mask_phone`):
    a full number is refused, so it is never signed or sent."""
    message = {
        "parcel_id": parcel_id,
        "order": order,
        "recipient_name": recipient_name,
        "recipient_phone_masked": recipient_phone_masked,
        "address": address,
        "packages": packages,
        "storage": storage,
        "pharmacist_licence": pharmacist_licence,
        "signed_at": signed_at,
    }
    _require_members(message, DELIVERY_MEMBERS, "the delivery message")
    _require_signer(chain, pharmacist_licence)
    return {"message": message, "signature": sign_attached(jcs(message), key, chain)}


# --------------------------------------------------------------------------- verification results


def _when(moment: datetime, zone: str | None) -> str:
    """In ``zone`` with the zone named (``2026-06-01 10:05 CST (Asia/Shanghai)``); without one, the signer's own
    clock with its offset (``2026-06-01 10:05 (+08:00)``)."""
    if zone is not None:
        return shown(moment, zone)
    offset = moment.isoformat()[-6:] if moment.utcoffset() else "+00:00"
    return f"{moment:%Y-%m-%d %H:%M} ({offset})"


@dataclass(frozen=True, slots=True)
class VerifiedApproval:
    """An approval whose signature, chain, validity and signer all check out."""

    statement: Json
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # leaf … trust anchor
    signer_name: str
    licence: str
    signed_at: datetime
    # Review settings less strict than the law the approval was made under, as its Provenance records them
    # beside the signature ("setting: reason"); not part of the signed statement.
    loosened: tuple[str, ...] = ()

    @property
    def prescription(self) -> str:
        return str(self.statement["prescription"])

    @property
    def version(self) -> int:
        return int(self.statement["version"])

    def describe(self, zone: str | None = None) -> str:
        """Who approved what, when (in ``zone``), and what the signature means — in Chinese, then English."""
        digest = str(self.statement["content_sha256"])[:12]
        rules = sorted(self.statement["acknowledged"])
        ack_zh = f"，确认警示 {len(rules)} 项（{'、'.join(rules)}）" if rules else ""
        ack_en = f", acknowledging {len(rules)} warning(s) ({', '.join(rules)})" if rules else ""
        when = _when(self.signed_at, zone)
        loosened = "".join(f"\n  审核规则设置放宽（记录于签名旁）/ review settings loosened (recorded beside the "
                           f"signature): {item}" for item in self.loosened)
        return (
            f"药师 {self.signer_name}（执业药师注册证号 {self.licence}）于 {when} 审核通过处方 {self.prescription} "
            f"第 {self.version} 版（内容摘要 {digest}…{ack_zh}）；此签名表示该药师已审核处方并同意调配 / "
            f"Verification signature: pharmacist {self.signer_name} (licence {self.licence}) "
            f"reviewed prescription {self.prescription} version {self.version} "
            f"(content {digest}…{ack_en}) at {when} "
            "and approves it for dispensing" + loosened
        )


@dataclass(frozen=True, slots=True)
class DispensingVerification:
    """A dispensing bundle whose every MedicationRequest is covered by a verified approval of its content."""

    bundle_id: str | None
    approvals: tuple[VerifiedApproval, ...]
    medication_request_ids: tuple[str, ...]

    def describe(self, zone: str | None = None) -> str:
        """One line for the bundle, then one per approval (times in ``zone``)."""
        n = len(self.medication_request_ids)
        head = (f"调配单 {self.bundle_id or '（无编号）'}：{n} 个药品条目，均有药师审核签名且内容未被改动 / "
                f"dispensing bundle {self.bundle_id or '(no id)'}: {n} item(s), each covered by a verified "
                "pharmacist approval of unchanged content")
        return "\n".join([head, *(a.describe(zone) for a in self.approvals)])


@dataclass(frozen=True, slots=True)
class DeliveryVerification:
    """A delivery message whose signature, chain, validity, signer and members check out."""

    message: Json
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    signer_name: str
    licence: str
    signed_at: datetime

    def describe(self, zone: str | None = None) -> str:
        """Who released which parcel for delivery, when (in ``zone``), and what the signature means."""
        m, when = self.message, _when(self.signed_at, zone)
        return (
            f"药师 {self.signer_name}（执业药师注册证号 {self.licence}）于 {when} 签发包裹 {m['parcel_id']} 的配送单"
            f"（订单 {m['order']}，{m['packages']} 件，{m['storage']}）；此签名表示该药师核对并放行该包裹交付配送 / "
            f"Delivery release signature: pharmacist {self.signer_name} (licence {self.licence}) released parcel "
            f"{m['parcel_id']} (order {m['order']}, {m['packages']} package(s), storage {m['storage']}) "
            f"for delivery at {when}"
        )


# --------------------------------------------------------------------------- verification


def verify_approval_jws(token: str, anchors: Sequence[x509.Certificate]) -> VerifiedApproval:
    """Check an approval JWS: signature, chain to ``anchors``, validity at signed_at, signer, members."""
    return _guarded(lambda: _verify_approval(token, anchors))


def verify_dispensing_bundle(
    bundle: Mapping[str, Any], anchors: Sequence[x509.Certificate]
) -> DispensingVerification:
    """Check every approval of a dispensing bundle, and that they cover exactly its unchanged items."""
    return _guarded(lambda: _verify_dispensing(bundle, anchors))


def verify_delivery_message(
    obj: Mapping[str, Any], anchors: Sequence[x509.Certificate]
) -> DeliveryVerification:
    """Check a delivery message: signature over JCS(message), chain, validity, signer, only allowed members."""
    return _guarded(lambda: _verify_delivery(obj, anchors))


def _guarded(check: Callable[[], _T]) -> _T:
    try:
        return check()
    except ReleaseVerificationError:
        raise
    except Exception as exc:
        # Backstop: every expected failure has its own reason above, but a receiver must answer every
        # hostile body with a refusal, never a crash. The tests hold that this line is never reached.
        raise ReleaseVerificationError(
            "数据异常，无法核验签名",
            f"the data is malformed and the signature cannot be checked (unexpected {type(exc).__name__})",
        ) from exc


def _verify_approval(token: Any, anchors: Sequence[x509.Certificate]) -> VerifiedApproval:
    certificates, payload = _signed_payload(token, "审核", "approval")
    statement = _json_object(payload, "审核声明", "approval statement")
    if _canonical(statement) != payload:
        raise ReleaseVerificationError(
            "审核声明不是规范 JSON（RFC 8785）", "the approval statement is not in RFC 8785 canonical form")
    path = _trusted(certificates, anchors)
    _check_members(statement, STATEMENT_MEMBERS, "审核声明", "the approval statement")
    signed_at = datetime.fromisoformat(statement["signed_at"])
    licence = _check_signer(path, signed_at, statement["pharmacist_licence"])
    return VerifiedApproval(statement, path[0], tuple(path), display_name(path[0]), licence, signed_at)


def _verify_delivery(obj: Any, anchors: Sequence[x509.Certificate]) -> DeliveryVerification:
    if not isinstance(obj, Mapping) or set(obj) != {"message", "signature"}:
        raise ReleaseVerificationError(
            "配送单应为仅含 message 和 signature 的 JSON 对象",
            'a delivery message must be a JSON object with exactly the members "message" and "signature"')
    message = obj["message"]
    if not isinstance(message, dict):
        raise ReleaseVerificationError("配送单的 message 不是 JSON 对象", 'the delivery "message" is not a JSON object')
    certificates, payload = _signed_payload(obj["signature"], "配送单", "delivery")
    if _canonical(message) != payload:
        raise ReleaseVerificationError(
            "配送单内容与签名内容不一致：签名后被改动",
            "the delivery message differs from what was signed: it was changed after signing")
    path = _trusted(certificates, anchors)
    _check_members(message, DELIVERY_MEMBERS, "配送单", "the delivery message")
    signed_at = datetime.fromisoformat(message["signed_at"])
    licence = _check_signer(path, signed_at, message["pharmacist_licence"])
    return DeliveryVerification(dict(message), path[0], tuple(path), display_name(path[0]), licence, signed_at)


def _signed_payload(token: Any, what_zh: str, what_en: str) -> tuple[list[x509.Certificate], bytes]:
    """The x5c chain and the attached payload of a JWS whose signature verifies with its leaf."""
    try:
        parsed = parse_compact(token)
        if parsed.payload is None:
            raise JwsError("签名没有载荷 / the JWS has no attached payload")
        verify_attached(token)
    except JwsError as exc:
        zh, en = split_reason(exc.reason)
        raise ReleaseVerificationError(
            f"{what_zh}签名无效：{zh}", f"the {what_en} signature is invalid: {en}") from None
    return parsed.certificates, parsed.payload


def parse_json(raw: bytes) -> Any:
    """Strict JSON for signed and released messages: UTF-8, no repeated member names, no NaN or Infinity.

    Two readers of one document with a repeated name may take different values, so what was verified
    would not be what is used; such a document is refused (ValueError, or RecursionError if too deep).
    """
    return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _json_object(payload: bytes, what_zh: str, what_en: str) -> Json:
    try:
        value = parse_json(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ReleaseVerificationError(f"{what_zh}不是合法 JSON", f"the {what_en} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ReleaseVerificationError(f"{what_zh}不是 JSON 对象", f"the {what_en} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> Json:
    result: Json = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _canonical(value: Any) -> bytes | None:
    try:
        return jcs(value)
    except (ValueError, TypeError, RecursionError):  # rfc8785's errors are ValueErrors
        return None


def _check_members(obj: Any, members: Mapping[str, _Check], what_zh: str, what_en: str) -> None:
    problem = _member_problem(obj, members)
    if problem is not None:
        raise ReleaseVerificationError(f"{what_zh}{problem[0]}", f"{what_en} {problem[1]}")


def _trusted(
    certificates: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    try:
        return trusted_path(certificates, anchors)
    except SignatureRejected as exc:
        raise ReleaseVerificationError(exc.zh, exc.en) from None


def _check_signer(path: Sequence[x509.Certificate], signed_at: datetime, licence: str) -> str:
    """Every certificate valid at ``signed_at`` and the leaf the pharmacist's; returns the licence."""
    try:
        check_validity(path, signed_at, signed_at, moment_zh="签名时", moment_en="when it was signed")
    except SignatureRejected as exc:
        raise ReleaseVerificationError(exc.zh, exc.en) from None
    signer = leaf_serial_number(path[0])
    if signer is None:
        raise ReleaseVerificationError(
            "签名证书中没有执业药师注册证号", "the signing certificate carries no licence number (subject serialNumber)")
    if signer != licence:
        raise ReleaseVerificationError(
            f"签名证书属于注册证号为 {signer} 的药师，不是声明中的药师（{licence}）",
            f"the signing certificate belongs to licence {signer}, "
            f"not to the pharmacist named in the message ({licence})")
    return signer


# --------------------------------------------------------------------------- the dispensing bundle


def _verify_dispensing(bundle: Any, anchors: Sequence[x509.Certificate]) -> DispensingVerification:
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise ReleaseVerificationError("调配单不是 FHIR Bundle", "the dispensing message is not a FHIR Bundle")
    if bundle.get("type") != "transaction":
        raise ReleaseVerificationError(
            f"调配单的类型不是 transaction（实为 {bundle.get('type')!r}）",
            f"the dispensing Bundle is of type {bundle.get('type')!r}, not transaction")
    requests, provenances = _resources(bundle.get("entry"))
    if not requests:
        raise ReleaseVerificationError(
            "调配单中没有药品条目（MedicationRequest）", "the dispensing Bundle holds no MedicationRequest")
    signed = [p for p in provenances if _verification_signature(p) is not None]
    if not signed:
        raise ReleaseVerificationError(
            "调配单中没有药师的审核签名（Provenance 核验签名）",
            "the dispensing Bundle carries no pharmacist approval "
            f"(a Provenance with signature type {VERIFICATION_SIGNATURE})")
    by_id = {mr["id"]: mr for mr in requests}
    covered: set[str] = set()
    approvals = []
    for provenance in signed:
        approval = _verify_provenance(provenance, requests, anchors)
        ids = {i for i, mr in by_id.items() if _group_value(mr) == approval.prescription}
        twice = sorted(ids & covered)
        if twice:
            raise ReleaseVerificationError(
                f"药品条目 {'、'.join(twice)} 被两份审核签名覆盖", f"items {', '.join(twice)} are covered by two approvals")
        covered |= ids
        approvals.append(approval)
    uncovered = [i for i in by_id if i not in covered]
    if uncovered:
        raise ReleaseVerificationError(
            f"药品条目 {'、'.join(uncovered)} 没有药师审核签名，不得调配",
            f"items {', '.join(uncovered)} are covered by no pharmacist approval and must not be dispensed")
    bundle_id = bundle.get("id")
    bundle_id = bundle_id if isinstance(bundle_id, str) else None
    return DispensingVerification(bundle_id, tuple(approvals), tuple(by_id))


def _resources(entries: Any) -> tuple[list[Json], list[Json]]:
    """The MedicationRequests (each with a unique id) and Provenances of a Bundle's entries."""
    if not isinstance(entries, list) or not entries:
        raise ReleaseVerificationError("调配单没有条目", "the dispensing Bundle has no entries")
    requests: list[Json] = []
    provenances: list[Json] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ReleaseVerificationError(
                f"调配单第 {n + 1} 个条目没有可读取的资源", f"entry {n} of the dispensing Bundle holds no readable resource")
        if resource["resourceType"] == "MedicationRequest":
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                raise ReleaseVerificationError(
                    f"调配单第 {n + 1} 个条目的药品条目没有 id", f"the MedicationRequest of entry {n} has no id")
            if rid in seen:
                raise ReleaseVerificationError(
                    f"药品条目 {rid} 在调配单中出现两次", f"the MedicationRequest {rid} appears twice in the Bundle")
            seen.add(rid)
            requests.append(resource)
        elif resource["resourceType"] == "Provenance":
            provenances.append(resource)
    return requests, provenances


def _verification_signature(provenance: Json) -> Json | None:
    signatures = provenance.get("signature")
    for signature in signatures if isinstance(signatures, list) else []:
        types = signature.get("type") if isinstance(signature, dict) else None
        if isinstance(types, list) and any(
                isinstance(t, dict) and t.get("code") == VERIFICATION_SIGNATURE
                and t.get("system") == SIGNATURE_TYPE_SYSTEM for t in types):
            return signature  # type: ignore[no-any-return]  # a dict, checked just above
    return None


def _group_value(resource: Json) -> Any:
    group = resource.get("groupIdentifier")
    return group.get("value") if isinstance(group, dict) else None


def _verify_provenance(
    provenance: Json, requests: list[Json], anchors: Sequence[x509.Certificate]
) -> VerifiedApproval:
    """One approval Provenance: its JWS verifies, and it targets and hashes exactly its prescription's items."""
    name = f"Provenance/{provenance.get('id')}"
    signature = _verification_signature(provenance)
    assert signature is not None  # only Provenances with a verification signature come here
    if signature.get("sigFormat") != JOSE:
        raise ReleaseVerificationError(
            f"{name} 的签名格式不是 {JOSE}", f"the signature of {name} is not in the format {JOSE}")
    data = signature.get("data")
    try:
        if not isinstance(data, str):
            raise ValueError("no data")
        token = base64.b64decode(data, validate=True).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise ReleaseVerificationError(
            f"{name} 的签名数据不是 base64 编码的 JWS",
            f"the signature data of {name} is not a base64-encoded JWS") from None
    approval = _verify_approval(token, anchors)
    _check_declared_signer(name, signature, approval)
    group = [mr for mr in requests if _group_value(mr) == approval.prescription]
    if not group:
        raise ReleaseVerificationError(
            f"{name} 的审核签名针对处方 {approval.prescription}，但调配单中没有该处方的药品条目",
            f"{name} approves prescription {approval.prescription}, "
            "but the Bundle holds no item of that prescription")
    ids = {mr["id"] for mr in group}
    targets = _target_ids(name, provenance)
    if targets != ids:
        missing, extra = sorted(ids - targets), sorted(targets - ids)
        raise ReleaseVerificationError(
            f"{name} 的 target 与处方 {approval.prescription} 的药品条目不一致"
            f"（未列出：{'、'.join(missing) or '无'}；多列：{'、'.join(extra) or '无'}）",
            f"the targets of {name} are not the items of prescription {approval.prescription} "
            f"(not listed: {', '.join(missing) or 'none'}; listed but not in it: {', '.join(extra) or 'none'})")
    if _content_sha256(group) != approval.statement["content_sha256"]:
        raise ReleaseVerificationError(
            f"处方 {approval.prescription} 的药品条目与药师审核时的内容不符：审核后被改动",
            f"the items of prescription {approval.prescription} are not what the pharmacist approved: "
            "they were changed after the approval")
    return dataclasses.replace(approval, loosened=_loosened(provenance))


def _loosened(provenance: Json) -> tuple[str, ...]:
    """The :data:`LOOSENED_EXTENSION` entries of an approval Provenance, as "setting: reason (settings sha256 …)"."""
    found = []
    for ext in provenance.get("extension") or ():
        if not isinstance(ext, dict) or ext.get("url") != LOOSENED_EXTENSION:
            continue
        parts = {e.get("url"): e.get("valueString") for e in ext.get("extension") or () if isinstance(e, dict)}
        digest = parts.get("settingsSha256")
        found.append(f"{parts.get('setting') or '?'}: {parts.get('reason') or '?'}"
                     + (f" (settings sha256 {str(digest)[:12]}…)" if digest else ""))
    return tuple(found)


def _check_declared_signer(name: str, signature: Json, approval: VerifiedApproval) -> None:
    """What the Provenance says about who signed and when must not contradict the signed statement."""
    who = signature.get("who")
    identifier = who.get("identifier") if isinstance(who, dict) else None
    declared = identifier.get("value") if isinstance(identifier, dict) else None
    if declared is not None and declared != approval.licence:
        raise ReleaseVerificationError(
            f"{name} 注明的签名人（{declared}）与签名证书（{approval.licence}）不符",
            f"{name} names {declared!r} as signer, but the signature is by licence {approval.licence}")
    when = signature.get("when")
    if when is not None and (not isinstance(when, str) or _instant(when) is not None
                             or datetime.fromisoformat(when) != approval.signed_at):
        raise ReleaseVerificationError(
            f"{name} 注明的签名时间（{when}）与签名内容不符",
            f"{name} gives {when!r} as the signing time, "
            f"which is not the signed time {approval.statement['signed_at']}")


def _target_ids(name: str, provenance: Json) -> set[str]:
    targets = provenance.get("target")
    if not isinstance(targets, list) or not targets:
        raise ReleaseVerificationError(f"{name} 没有 target", f"{name} has no target")
    ids: set[str] = set()
    for target in targets:
        reference = target.get("reference") if isinstance(target, dict) else None
        if not isinstance(reference, str) or not reference.startswith("MedicationRequest/"):
            raise ReleaseVerificationError(
                f"{name} 的 target 不是 MedicationRequest 引用（{reference!r}）",
                f"a target of {name} is not a MedicationRequest reference ({reference!r})")
        ids.add(reference.removeprefix("MedicationRequest/"))
    return ids


def _content_sha256(group: list[Json]) -> str | None:
    try:
        return content_sha256(group)
    except (ValueError, TypeError, RecursionError):
        return None
