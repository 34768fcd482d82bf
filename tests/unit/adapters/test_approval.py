"""Tests for the signed release messages: approval JWS, Provenance, dispensing bundle, delivery message, verification."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workstation.adapters.approval import (
    DELIVERY_MEMBERS,
    LICENCE_SYSTEM,
    STATEMENT_MEMBERS,
    VERIFICATION_SIGNATURE,
    ReleaseVerificationError,
    approval_provenance,
    delivery_message,
    mask_phone,
    sign_statement,
    verify_approval_jws,
    verify_delivery_message,
    verify_dispensing_bundle,
)
from workstation.adapters.fhir_bundle import validate_resource
from workstation.adapters.jws import parse_compact, sign_attached
from workstation.adapters.pki import create_pharmacy_ca, generate_key, issue_pharmacist_certificate
from workstation.domain.canonical import content_sha256, jcs
from workstation.domain.errors import DomainError

from tests.release_support import (
    CA,
    CA_KEY,
    CHAIN,
    DELIVERY_FIELDS,
    ISSUED,
    KEY,
    LEAF,
    LICENCE,
    NUMBER,
    REQUESTS,
    SIGNED_AT,
    medication_requests,
    release_bundle,
    release_delivery,
)
from tests.release_support import statement as _statement

Json = dict[str, Any]
CST = dt.timezone(dt.timedelta(hours=8))
OTHER_LICENCE = "YS4403200067890"
OTHER_KEY = generate_key()
OTHER_LEAF = issue_pharmacist_certificate(CA, CA_KEY, name="李强", licence=OTHER_LICENCE,
                                          public_key=OTHER_KEY.public_key(), now=ISSUED)
ROGUE_CA, ROGUE_KEY = create_pharmacy_ca("示例药房 CA", now=ISSUED)  # the same name, another key
ROGUE_LEAF = issue_pharmacist_certificate(ROGUE_CA, ROGUE_KEY, name="王丽", licence=LICENCE,
                                          public_key=KEY.public_key(), now=ISSUED)
SHORT_LEAF = issue_pharmacist_certificate(CA, CA_KEY, name="王丽", licence=LICENCE, public_key=KEY.public_key(),
                                          now=ISSUED, days=30)  # expired long before SIGNED_AT
ANCHORS = [CA]
OTHER_REQUESTS = medication_requests("02-t2dm-long-term.json")
OTHER_NUMBER = OTHER_REQUESTS[0]["groupIdentifier"]["value"]
STATEMENT = _statement()
TOKEN = sign_statement(STATEMENT, KEY, CHAIN)
_bundle = release_bundle
BUNDLE = release_bundle()


def _fresh_bundle() -> Json:
    return copy.deepcopy(BUNDLE)


def _provenance(bundle: Json) -> Json:
    (provenance,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    return provenance


def _set_token(bundle: Json, token: str) -> Json:
    _provenance(bundle)["signature"][0]["data"] = base64.b64encode(token.encode("ascii")).decode("ascii")
    return bundle


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _with_payload(token: str, payload: bytes) -> str:
    """The same header and signature around another payload: what a forger who edits the content gets."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64url(payload)}.{signature}"


def _refused(check: Callable[[], object], *fragments: str) -> ReleaseVerificationError:
    with pytest.raises(ReleaseVerificationError) as info:
        check()
    error = info.value
    assert error.zh and error.en and error.reason == f"{error.zh} / {error.en}" and str(error) == error.reason
    assert "unexpected" not in error.en, error.en  # the backstop must never be what answers
    for fragment in fragments:
        assert fragment in error.en, error.en
    return error


DELIVERY = release_delivery()


def _signed_delivery(message: Json, key: ec.EllipticCurvePrivateKey = KEY,
                     chain: list[x509.Certificate] = CHAIN) -> Json:
    return {"message": message, "signature": sign_attached(jcs(message), key, chain)}


# --------------------------------------------------------------------------- the approval statement


def test_an_approval_round_trips() -> None:
    approval = verify_approval_jws(TOKEN, ANCHORS)
    assert approval.statement == STATEMENT
    assert approval.leaf == LEAF and approval.chain == (LEAF, CA)
    assert (approval.signer_name, approval.licence) == ("王丽", LICENCE)
    assert approval.signed_at == dt.datetime(2026, 6, 1, 10, 5, tzinfo=CST)
    assert (approval.prescription, approval.version) == (NUMBER, 1)


def test_the_token_is_es256_with_the_chain_and_the_jcs_payload_attached() -> None:
    parsed = parse_compact(TOKEN)
    assert set(parsed.header) == {"alg", "x5c"} and parsed.header["alg"] == "ES256"
    assert parsed.certificates == CHAIN
    assert parsed.payload == jcs(STATEMENT)


def test_the_description_says_who_signed_what_when_and_what_it_means() -> None:
    line = verify_approval_jws(TOKEN, ANCHORS).describe()
    assert line.startswith(f"药师 王丽（执业药师注册证号 {LICENCE}）于 2026-06-01 10:05 (+08:00) 审核通过处方 {NUMBER} 第 1 版")
    assert "此签名表示该药师已审核处方并同意调配" in line and "dose.above_usual" in line
    assert "Verification signature: pharmacist 王丽" in line and "approves it for dispensing" in line
    assert STATEMENT["content_sha256"][:12] in line and "\n" not in line


def test_a_utc_signing_time_is_shown_with_its_offset() -> None:
    statement = _statement(signed_at="2026-06-01T02:05:00Z", acknowledged={})
    line = verify_approval_jws(sign_statement(statement, KEY, CHAIN), ANCHORS).describe()
    assert "2026-06-01 02:05 (+00:00)" in line and "确认警示" not in line


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"prescription": ""}, "prescription"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"version": "1"}, "version"),
        ({"content_sha256": "ABC"}, "content_sha256"),
        ({"content_sha256": STATEMENT["content_sha256"].upper()}, "content_sha256"),
        ({"decision": "reject"}, "decision"),
        ({"acknowledged": {"rule": ""}}, "acknowledged"),
        ({"acknowledged": ["rule"]}, "acknowledged"),
        ({"pharmacist_licence": None}, "pharmacist_licence"),
        ({"signed_at": "2026-06-01T10:05:00"}, "signed_at"),
        ({"signed_at": "2026-06-01T10:05+08:00"}, "signed_at"),
        ({"signed_at": "2026-02-30T10:05:00+08:00"}, "signed_at"),
        ({"extra": 1}, "extra"),
    ],
)
def test_signing_refuses_a_bad_statement_naming_the_member(changes: Json, member: str) -> None:
    with pytest.raises(ValueError, match=f"'{member}'"):
        sign_statement(_statement(**changes), KEY, CHAIN)


@pytest.mark.parametrize("member", sorted(STATEMENT_MEMBERS))
def test_signing_refuses_a_statement_lacking_a_member(member: str) -> None:
    statement = {k: v for k, v in STATEMENT.items() if k != member}
    with pytest.raises(ValueError, match=f"lacks the member '{member}'"):
        sign_statement(statement, KEY, CHAIN)


def test_signing_refuses_a_certificate_of_another_pharmacist() -> None:
    with pytest.raises(ValueError, match="licence number"):
        sign_statement(_statement(pharmacist_licence=OTHER_LICENCE), KEY, CHAIN)


TAMPERED = {
    "prescription": OTHER_NUMBER,
    "version": 2,
    "content_sha256": "0" * 64,
    "decision": "reject",
    "acknowledged": {},
    "pharmacist_licence": OTHER_LICENCE,
    "signed_at": "2026-06-02T10:05:00+08:00",
}


@pytest.mark.parametrize("member", sorted(STATEMENT_MEMBERS))
def test_changing_any_member_after_signing_breaks_the_signature(member: str) -> None:
    assert set(TAMPERED) == set(STATEMENT_MEMBERS)
    forged = _with_payload(TOKEN, jcs({**STATEMENT, member: TAMPERED[member]}))
    _refused(lambda: verify_approval_jws(forged, ANCHORS), "the approval signature is invalid", "does not verify")


def test_a_signed_statement_that_breaks_the_format_is_refused() -> None:
    for statement, fragment in [
        ({**STATEMENT, "decision": "reject"}, "member 'decision'"),
        ({**STATEMENT, "diagnosis": "I10"}, "'diagnosis'"),
        ({k: v for k, v in STATEMENT.items() if k != "acknowledged"}, "lacks the member 'acknowledged'"),
    ]:
        token = sign_attached(jcs(statement), KEY, CHAIN)
        _refused(lambda: verify_approval_jws(token, ANCHORS), fragment)


def test_a_payload_that_is_not_canonical_json_is_refused() -> None:
    token = sign_attached(json.dumps(STATEMENT, indent=1).encode(), KEY, CHAIN)
    _refused(lambda: verify_approval_jws(token, ANCHORS), "RFC 8785")


@pytest.mark.parametrize("payload", [b"[1,2]", b"\xff\xfe", b'{"a":1,"a":2}', b'{"n":NaN}', b"not json"])
def test_a_payload_that_is_no_json_object_is_refused(payload: bytes) -> None:
    token = sign_attached(payload, KEY, CHAIN)
    _refused(lambda: verify_approval_jws(token, ANCHORS), "approval statement")


def test_a_detached_token_is_refused() -> None:
    header, _, signature = TOKEN.split(".")
    _refused(lambda: verify_approval_jws(f"{header}..{signature}", ANCHORS), "no attached payload")


def test_an_untrusted_ca_is_refused_even_under_the_same_name() -> None:
    for chain in ([ROGUE_LEAF, ROGUE_CA], [ROGUE_LEAF]):
        token = sign_statement(STATEMENT, KEY, chain)
        _refused(lambda: verify_approval_jws(token, ANCHORS), "not trusted")


def test_no_anchor_means_no_trust() -> None:
    _refused(lambda: verify_approval_jws(TOKEN, []), "no trust anchor")


def test_a_certificate_expired_at_signed_at_is_refused() -> None:
    token = sign_statement(STATEMENT, KEY, [SHORT_LEAF, CA])
    _refused(lambda: verify_approval_jws(token, ANCHORS), "signing certificate had expired when it was signed")


def test_a_signature_dated_before_the_certificate_is_refused() -> None:
    token = sign_statement(_statement(signed_at="2025-12-31T08:00:00+08:00"), KEY, CHAIN)
    error = _refused(lambda: verify_approval_jws(token, ANCHORS), "was not yet valid when it was signed")
    assert "签名时" in error.zh


def test_a_certificate_of_another_licence_is_refused() -> None:
    token = sign_attached(jcs(_statement(pharmacist_licence=OTHER_LICENCE)), KEY, CHAIN)
    _refused(lambda: verify_approval_jws(token, ANCHORS), f"belongs to licence {LICENCE}", OTHER_LICENCE)


def test_a_signing_certificate_without_licence_is_refused() -> None:
    key = generate_key()
    bare = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "无证号")]))
            .issuer_name(CA.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(LEAF.not_valid_before_utc).not_valid_after(LEAF.not_valid_after_utc)
            .sign(CA_KEY, hashes.SHA256()))
    token = sign_attached(jcs(STATEMENT), key, [bare, CA])
    _refused(lambda: verify_approval_jws(token, ANCHORS), "no licence number")


# --------------------------------------------------------------------------- Provenance and bundle


def test_the_provenance_is_valid_fhir_with_a_verification_signature() -> None:
    provenance = _provenance(BUNDLE)
    assert validate_resource(provenance) is None
    assert provenance["target"] == [{"reference": f"MedicationRequest/{r['id']}"} for r in REQUESTS]
    assert provenance["recorded"] == SIGNED_AT
    who = {"identifier": {"system": LICENCE_SYSTEM, "value": LICENCE}, "display": "王丽"}
    assert provenance["agent"] == [{"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "verifier",
        "display": "Verifier"}]}, "who": who}]
    (signature,) = provenance["signature"]
    assert signature["type"] == [{"system": "urn:iso-astm:E1762-95:2013", "code": VERIFICATION_SIGNATURE,
                                  "display": "Verification Signature"}]
    assert (signature["when"], signature["who"], signature["sigFormat"]) == (SIGNED_AT, who, "application/jose")
    token = base64.b64decode(signature["data"], validate=True).decode("ascii")
    assert verify_approval_jws(token, ANCHORS).statement == STATEMENT


def test_a_provenance_refuses_a_token_of_another_statement() -> None:
    with pytest.raises(ValueError, match="does not carry this statement"):
        approval_provenance(_statement(version=2), TOKEN, target_ids=["a"], pharmacist_name="王丽", provenance_id="p")
    with pytest.raises(ValueError, match="cannot be read"):
        approval_provenance(STATEMENT, "junk", target_ids=["a"], pharmacist_name="王丽", provenance_id="p")
    with pytest.raises(ValueError, match="at least one"):
        approval_provenance(STATEMENT, TOKEN, target_ids=[], pharmacist_name="王丽", provenance_id="p")


def test_the_dispensing_bundle_is_a_valid_transaction_of_the_unchanged_requests() -> None:
    originals = copy.deepcopy(REQUESTS)
    bundle = _bundle()
    assert REQUESTS == originals
    assert validate_resource(bundle) is None
    assert (bundle["resourceType"], bundle["type"], bundle["id"]) == ("Bundle", "transaction", "dec-1")
    assert bundle["timestamp"] == "2026-06-01T10:05:01+08:00"
    *items, last = bundle["entry"]
    for entry, request in zip(items, REQUESTS, strict=True):
        assert entry["resource"] is request
        assert entry["fullUrl"] == f"MedicationRequest/{request['id']}"
        assert entry["request"] == {"method": "PUT", "url": f"MedicationRequest/{request['id']}"}
    assert last["request"] == {"method": "POST", "url": "Provenance"}
    assert last["resource"]["resourceType"] == "Provenance"


def test_a_dispensing_bundle_verifies_after_a_trip_through_json() -> None:
    result = verify_dispensing_bundle(json.loads(json.dumps(BUNDLE, ensure_ascii=False)), ANCHORS)
    assert result.bundle_id == "dec-1"
    assert result.medication_request_ids == tuple(r["id"] for r in REQUESTS)
    (approval,) = result.approvals
    assert approval.statement == STATEMENT
    head, line = result.describe().split("\n")
    assert "调配单 dec-1：2 个药品条目" in head and "each covered by a verified pharmacist approval" in head
    assert line == approval.describe()


def test_meta_and_text_may_change_in_transit() -> None:
    bundle = _fresh_bundle()
    bundle["entry"][0]["resource"]["meta"] = {"lastUpdated": "2026-06-01T10:06:00+08:00"}
    bundle["entry"][0]["resource"].pop("text", None)
    verify_dispensing_bundle(bundle, ANCHORS)


def test_two_prescriptions_each_with_its_approval_verify() -> None:
    first, second = _bundle(), _bundle(OTHER_REQUESTS, decision_id="dec-2")
    bundle = _fresh_bundle()
    bundle["entry"] = first["entry"] + second["entry"]
    result = verify_dispensing_bundle(bundle, ANCHORS)
    assert [a.prescription for a in result.approvals] == [NUMBER, OTHER_NUMBER]
    assert len(result.describe().split("\n")) == 3


def _mr(bundle: Json, index: int = 0) -> Json:
    resource: Json = bundle["entry"][index]["resource"]
    return resource


@pytest.mark.parametrize(
    "tamper",
    [
        lambda mr: mr["dispenseRequest"]["quantity"].update(value=mr["dispenseRequest"]["quantity"]["value"] + 1),
        lambda mr: mr["dosageInstruction"][0].update(text="每日三次"),
        lambda mr: mr.update(status="on-hold"),
        lambda mr: mr.update(note=[{"text": "added later"}]),
    ],
    ids=["quantity", "dosage", "status", "added-member"],
)
def test_a_changed_item_is_refused(tamper: Callable[[Json], None]) -> None:
    bundle = _fresh_bundle()
    tamper(_mr(bundle))
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "changed after the approval")


def test_targets_missing_an_item_are_refused() -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["target"].pop()
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "not listed: " + REQUESTS[-1]["id"])


def test_targets_naming_another_item_are_refused() -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["target"].append({"reference": "MedicationRequest/mr-elsewhere"})
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "listed but not in it: mr-elsewhere")


def test_a_target_that_is_no_medication_request_is_refused() -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["target"][0] = {"reference": "Patient/pat-1"}
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "not a MedicationRequest reference")


def test_an_item_dropped_from_the_bundle_is_refused() -> None:
    bundle = _fresh_bundle()
    del bundle["entry"][1]
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "not listed: none", REQUESTS[1]["id"])


def test_an_approval_copied_onto_another_prescription_is_refused() -> None:
    other = copy.deepcopy(_bundle(OTHER_REQUESTS, decision_id="dec-2"))  # the bundle holds the shared dicts
    _set_token(other, TOKEN)
    _refused(lambda: verify_dispensing_bundle(other, ANCHORS), f"approves prescription {NUMBER}",
             "holds no item of that prescription")
    # Relabelled as the approved prescription, the other items still do not hash to the approved content.
    for request in other["entry"][:-1]:
        request["resource"]["groupIdentifier"]["value"] = NUMBER
    _provenance(other)["target"] = [{"reference": f"MedicationRequest/{r['id']}"} for r in OTHER_REQUESTS]
    _refused(lambda: verify_dispensing_bundle(other, ANCHORS), "changed after the approval")


def test_an_item_without_approval_is_refused() -> None:
    bundle = _fresh_bundle()
    extra = copy.deepcopy(OTHER_REQUESTS[0])
    bundle["entry"].insert(0, {"resource": extra, "request": {"method": "PUT", "url": f"MedicationRequest/{extra['id']}"}})
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "covered by no pharmacist approval", extra["id"])


def test_two_approvals_of_the_same_items_are_refused() -> None:
    bundle = _fresh_bundle()
    bundle["entry"].append(copy.deepcopy(bundle["entry"][-1]))
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "covered by two approvals")


def test_an_author_signature_is_not_an_approval() -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["signature"][0]["type"][0]["code"] = "1.2.840.10065.1.12.1.1"
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), "carries no pharmacist approval")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"sigFormat": "application/pkcs7-signature"}, "not in the format application/jose"),
        ({"data": "%%% not base64 %%%"}, "not a base64-encoded JWS"),
        ({"data": base64.b64encode(b"\xff\xfe").decode()}, "not a base64-encoded JWS"),
        ({"data": base64.b64encode(b"a.b.c").decode()}, "approval signature is invalid"),
        ({"data": None}, "not a base64-encoded JWS"),
        ({"who": {"identifier": {"system": LICENCE_SYSTEM, "value": OTHER_LICENCE}}}, f"names '{OTHER_LICENCE}'"),
        ({"when": "2026-06-01T11:05:00+08:00"}, "not the signed time"),
        ({"when": "yesterday"}, "not the signed time"),
    ],
)
def test_a_broken_provenance_signature_is_refused(change: Json, fragment: str) -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["signature"][0].update(change)
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), fragment)


def test_the_same_time_in_another_zone_is_the_signed_time() -> None:
    bundle = _fresh_bundle()
    _provenance(bundle)["signature"][0]["when"] = "2026-06-01T02:05:00Z"
    verify_dispensing_bundle(bundle, ANCHORS)


@pytest.mark.parametrize(
    ("bundle", "fragment"),
    [
        ([], "not a FHIR Bundle"),
        ({"resourceType": "Patient"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "collection"}, "not transaction"),
        ({"resourceType": "Bundle", "type": "transaction"}, "has no entries"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [1]}, "entry 0"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Provenance"}}]},
         "holds no MedicationRequest"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"resource": {"resourceType": "MedicationRequest"}}]}, "has no id"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"resource": {"resourceType": "MedicationRequest", "id": "x"}}] * 2}, "appears twice"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"resource": {"resourceType": "MedicationRequest", "id": "x"}}]}, "carries no pharmacist approval"),
    ],
)
def test_odd_bundles_are_refused_with_a_reason(bundle: Any, fragment: str) -> None:
    _refused(lambda: verify_dispensing_bundle(bundle, ANCHORS), fragment)


def test_verification_errors_are_domain_errors() -> None:
    assert issubclass(ReleaseVerificationError, DomainError)


# --------------------------------------------------------------------------- delivery


def test_a_delivery_message_round_trips() -> None:
    assert set(DELIVERY) == {"message", "signature"}
    message = DELIVERY["message"]
    assert set(message) == set(DELIVERY_MEMBERS)
    assert message["recipient_phone_masked"] == "138****5678"
    assert "13812345678" not in json.dumps(DELIVERY)
    result = verify_delivery_message(json.loads(json.dumps(DELIVERY)), ANCHORS)
    assert result.message == message and result.licence == LICENCE and result.signer_name == "王丽"
    line = result.describe()
    assert f"药师 王丽（执业药师注册证号 {LICENCE}）于 2026-06-01 10:05 (+08:00) 签发包裹 PCL-20260601-0007 的配送单" in line
    assert "2 件" in line and "冷藏 2–8℃" in line and "released parcel PCL-20260601-0007" in line
    assert "张三" not in line and "科技园路" not in line  # the description is safe to log


def test_a_delivery_without_phone_carries_null() -> None:
    message = delivery_message(**{**DELIVERY_FIELDS, "recipient_phone_masked": None}, key=KEY, chain=CHAIN)
    assert message["message"]["recipient_phone_masked"] is None
    verify_delivery_message(message, ANCHORS)


@pytest.mark.parametrize(
    ("changes", "member"),
    [({"packages": 0}, "packages"), ({"packages": 1.5}, "packages"), ({"storage": " "}, "storage"),
     ({"signed_at": "2026-06-01"}, "signed_at"), ({"address": None}, "address"),
     ({"recipient_phone_masked": "13812345678"}, "recipient_phone_masked")],
)
def test_a_bad_delivery_message_is_not_signed(changes: Json, member: str) -> None:
    with pytest.raises(ValueError, match=f"'{member}'"):
        delivery_message(**{**DELIVERY_FIELDS, **changes}, key=KEY, chain=CHAIN)


def test_a_delivery_signed_with_another_pharmacists_certificate_is_not_made() -> None:
    with pytest.raises(ValueError, match="licence number"):
        delivery_message(**DELIVERY_FIELDS, key=OTHER_KEY, chain=[OTHER_LEAF, CA])


@pytest.mark.parametrize("member", sorted(DELIVERY_MEMBERS))
def test_changing_any_delivery_member_is_refused(member: str) -> None:
    obj = copy.deepcopy(DELIVERY)
    obj["message"][member] = 3 if member == "packages" else "changed"
    _refused(lambda: verify_delivery_message(obj, ANCHORS), "changed after signing")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"diagnosis": "I10 原发性高血压"}, "not allowed: 'diagnosis'"),
        ({"drugs": ["胰岛素"]}, "not allowed: 'drugs'"),
        ({"recipient_phone_masked": "13812345678"}, "member 'recipient_phone_masked'"),
        ({"packages": 0}, "member 'packages'"),
        ({"pharmacist_licence": OTHER_LICENCE}, f"belongs to licence {LICENCE}"),
        ({"signed_at": "2028-06-01T10:05:00+08:00"}, "had expired when it was signed"),
    ],
)
def test_a_signed_delivery_message_outside_the_format_is_refused(changes: Json, fragment: str) -> None:
    message = {**DELIVERY["message"], **changes}
    _refused(lambda: verify_delivery_message(_signed_delivery(message), ANCHORS), fragment)


def test_a_lacking_delivery_member_is_refused() -> None:
    message = {k: v for k, v in DELIVERY["message"].items() if k != "storage"}
    _refused(lambda: verify_delivery_message(_signed_delivery(message), ANCHORS), "lacks the member 'storage'")


def test_a_delivery_message_under_an_untrusted_ca_is_refused() -> None:
    obj = _signed_delivery(DELIVERY["message"], KEY, [ROGUE_LEAF, ROGUE_CA])
    _refused(lambda: verify_delivery_message(obj, ANCHORS), "not trusted")


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ("text", 'exactly the members "message" and "signature"'),
        ({"message": {}}, 'exactly the members "message" and "signature"'),
        ({**DELIVERY, "note": "x"}, 'exactly the members "message" and "signature"'),
        ({"message": [], "signature": DELIVERY["signature"]}, "not a JSON object"),
        ({"message": DELIVERY["message"], "signature": 5}, "the delivery signature is invalid"),
        ({"message": DELIVERY["message"], "signature": TOKEN}, "changed after signing"),
    ],
)
def test_odd_delivery_objects_are_refused(obj: Any, fragment: str) -> None:
    _refused(lambda: verify_delivery_message(obj, ANCHORS), fragment)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("010-62345678", "*******5678"),
        ("62345678", "****5678"),
        ("123456", "***456"),
        ("12", "*2"),
        ("7", "*"),
        ("", None),
        ("无", None),
        (None, None),
    ],
)
def test_phone_masking(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


# --------------------------------------------------------------------------- odd input never crashes

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_VERIFIERS: list[Callable[[Any], object]] = [
    lambda value: verify_approval_jws(value, ANCHORS),
    lambda value: verify_dispensing_bundle(value, ANCHORS),
    lambda value: verify_delivery_message(value, ANCHORS),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json, which=st.sampled_from(range(3)))
def test_arbitrary_json_gives_only_verification_errors(value: Any, which: int) -> None:
    _refused(lambda: _VERIFIERS[which](value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.copy(value)
    copied[path[0]] = _replace(value[path[0]], path[1:], new)
    return copied


BUNDLE_PATHS = _paths(BUNDLE)
DELIVERY_PATHS = _paths(DELIVERY)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_release_messages_give_only_verification_errors(data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        path = data.draw(st.sampled_from(BUNDLE_PATHS))
        damaged = _replace(BUNDLE, path, data.draw(_json))
        check: Callable[[], object] = lambda: verify_dispensing_bundle(damaged, ANCHORS)
    else:
        path = data.draw(st.sampled_from(DELIVERY_PATHS))
        damaged = _replace(DELIVERY, path, data.draw(_json))
        check = lambda: verify_delivery_message(damaged, ANCHORS)  # noqa: E731
    try:
        check()
    except ReleaseVerificationError as error:
        assert "unexpected" not in error.en, error.en


# --------------------------------------------------------------------------- a standard JOSE library agrees


def test_joserfc_verifies_the_approval_token() -> None:
    joserfc = pytest.importorskip("joserfc")
    from joserfc import jws
    from joserfc.jwk import ECKey

    registry = jws.JWSRegistry(algorithms=["ES256"])
    # The x5c chain makes the header about 1.3 KiB; joserfc caps headers at 512 bytes by default
    # (intake profile §7: raise the cap rather than drop the chain).
    registry.max_header_length = 16 * 1024
    key = ECKey.import_key(LEAF.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    verified = jws.deserialize_compact(TOKEN, key, algorithms=["ES256"], registry=registry)
    assert verified.payload == jcs(STATEMENT)
    assert verified.protected["alg"] == "ES256" and len(verified.protected["x5c"]) == 2
    with pytest.raises(joserfc.errors.BadSignatureError):
        jws.deserialize_compact(_with_payload(TOKEN, jcs({**STATEMENT, "version": 2})), key,
                                algorithms=["ES256"], registry=registry)
