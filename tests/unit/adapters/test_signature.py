"""Tests for prescriber e-signature verification: shared examples, demo bundles, chains built here, odd input."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.demo_support import bundle as demo_bundle
from tests.demo_support import demo_set
from workstation.adapters.fhir_bundle import parse_bundle
from workstation.adapters.jws import sign_detached
from workstation.adapters.signature import (
    MAX_CHAIN_CERTIFICATES,
    SignatureCheck,
    SignatureStatus,
    TrustAnchorError,
    load_trust_anchors,
    verify_prescriber_signature,
)
from workstation.domain.canonical import prescription_content
from workstation.domain.errors import DomainError
from workstation.domain.prescription import PrescriberKind, PrescriptionSnapshot

SHARED = Path("/work/shared/examples")
PKI = SHARED / "pki"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared example bundles and test PKI ({SHARED}) are not on this machine"
)

Json = dict[str, Any]
WANG = "110310000123456"
LI = "110310000654321"


# --------------------------------------------------------------------------- helpers


def _load(path: Path) -> Json:
    data: Json = json.loads(path.read_text("utf-8"))
    return data


def _snapshot(data: Json) -> PrescriptionSnapshot:
    parsed = parse_bundle(json.dumps(data, ensure_ascii=False).encode("utf-8"))
    assert len(parsed.prescriptions) == 1, parsed.rejected
    return parsed.prescriptions[0]


def _resources(data: Json, rtype: str) -> list[Json]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == rtype]


def _provenance(data: Json) -> Json:
    (prov,) = _resources(data, "Provenance")
    return prov


def _sign(data: Json, key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate],
          only: Sequence[str] | None = None) -> Json:
    """Sign the bundle's MedicationRequests (or those with ids in ``only``) into its Provenance, as a physician would."""
    requests = [r for r in _resources(data, "MedicationRequest") if only is None or r["id"] in only]
    token = sign_detached(prescription_content(requests), key, chain)
    _provenance(data)["signature"][0]["data"] = base64.b64encode(token.encode("ascii")).decode("ascii")
    return data


def _set_authored(data: Json, value: str | None) -> Json:
    for request in _resources(data, "MedicationRequest"):
        if value is None:
            request.pop("authoredOn", None)
        else:
            request["authoredOn"] = value
    return data


def _assert_invalid(check: SignatureCheck, *english: str) -> None:
    assert check.status is SignatureStatus.INVALID, check
    assert check.reason_zh and check.reason_en, check
    for fragment in english:
        assert fragment in check.reason_en, check.reason_en


@cache
def _shared_cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


@cache
def _shared_key(name: str) -> ec.EllipticCurvePrivateKey:
    key = load_pem_private_key((PKI / f"{name}.key.pem").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@cache
def _shared_anchors() -> tuple[x509.Certificate, ...]:
    return load_trust_anchors([PKI / "ca.pem"])


def _example(name: str) -> Json:
    return _load(SHARED / f"{name}.json")


# --------------------------------------------------------------------------- the shared examples


@needs_shared
@pytest.mark.parametrize(
    "name", ["ex-clean-htn", "ex-child-ok", "ex-narcotic", "ex-psychotropic", "ex-first-visit", "ex-child-no-guardian"]
)
def test_shared_examples_with_good_signatures_are_valid(name: str) -> None:
    snapshot = _snapshot(_example(name))
    check = verify_prescriber_signature(snapshot, _shared_anchors())
    assert check == SignatureCheck(
        SignatureStatus.VALID, None, None, snapshot.prescriber.licence, check.signer_subject
    )
    assert check.signer_subject is not None and f"2.5.4.5={snapshot.prescriber.licence}" in check.signer_subject


@needs_shared
def test_shared_tampered_example_is_invalid_because_the_content_changed() -> None:
    check = verify_prescriber_signature(_snapshot(_example("ex-tampered")), _shared_anchors())
    _assert_invalid(check, "changed after it was signed")
    assert check.reason_zh is not None and "改动" in check.reason_zh
    assert check.signer_licence == WANG


@needs_shared
def test_shared_ai_requester_example_is_invalid_because_the_signer_is_not_the_requester() -> None:
    snapshot = _snapshot(_example("ex-ai-requester"))
    assert snapshot.prescriber.kind is PrescriberKind.DEVICE
    check = verify_prescriber_signature(snapshot, _shared_anchors())
    _assert_invalid(check, "software device", "the signer is not the requester")


@needs_shared
def test_untrusted_root_is_invalid_with_or_without_the_root_in_x5c() -> None:
    leaf, root = _shared_cert("physician-wang-untrusted"), _shared_cert("untrusted-ca")
    key = _shared_key("physician-wang-untrusted")
    for chain in ([leaf, root], [leaf]):
        check = verify_prescriber_signature(_snapshot(_sign(_example("ex-clean-htn"), key, chain)), _shared_anchors())
        _assert_invalid(check, "not trusted")
        assert check.signer_licence == WANG  # it borrows Dr Wang's licence number: only the root gives it away


@needs_shared
def test_the_same_chain_is_valid_when_its_root_is_configured() -> None:
    leaf, root = _shared_cert("physician-wang-untrusted"), _shared_cert("untrusted-ca")
    data = _sign(_example("ex-clean-htn"), _shared_key("physician-wang-untrusted"), [leaf, root])
    anchors = load_trust_anchors([PKI / "ca.pem", PKI / "untrusted-ca.pem"])
    assert verify_prescriber_signature(_snapshot(data), anchors).status is SignatureStatus.VALID


@needs_shared
@pytest.mark.parametrize(
    ("authored", "status", "fragment"),
    [
        # notAfter is 2025-01-01T00:00:00Z, inclusive (RFC 5280 §4.1.2.5).
        ("2025-01-01T08:00:00+08:00", SignatureStatus.VALID, None),
        ("2025-01-01T00:00:01Z", SignatureStatus.INVALID, "signing certificate had expired"),
        ("2026-06-01T09:00:00+08:00", SignatureStatus.INVALID, "signing certificate had expired"),
        # The leaf is still valid a second earlier, but the root only starts at 2025-01-01T00:00:00Z.
        ("2024-12-31T23:59:59Z", SignatureStatus.INVALID, "chain certificate RXWS Test Root CA was not yet valid"),
    ],
)
def test_expired_certificate_is_judged_at_authored_on(authored: str, status: SignatureStatus, fragment: str | None) -> None:
    data = _set_authored(_example("ex-clean-htn"), authored)
    data = _sign(data, _shared_key("physician-wang-expired"), [_shared_cert("physician-wang-expired")])
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    assert check.status is status, check
    if fragment is not None:
        _assert_invalid(check, fragment)


@needs_shared
def test_items_written_at_different_times_must_all_fall_within_validity() -> None:
    data = _example("ex-clean-htn")
    first, second = _resources(data, "MedicationRequest")
    first["authoredOn"] = "2025-01-01T00:00:00Z"
    second["authoredOn"] = "2025-01-01T00:00:01Z"
    data = _sign(data, _shared_key("physician-wang-expired"), [_shared_cert("physician-wang-expired")])
    _assert_invalid(verify_prescriber_signature(_snapshot(data), _shared_anchors()), "had expired")


@needs_shared
@pytest.mark.parametrize("authored", [None, "2026-06-01"])
def test_without_a_zoned_authored_on_validity_cannot_be_checked(authored: str | None) -> None:
    data = _set_authored(_example("ex-clean-htn"), authored)
    data = _sign(data, _shared_key("physician-wang"), [_shared_cert("physician-wang")])
    _assert_invalid(verify_prescriber_signature(_snapshot(data), _shared_anchors()), "validity cannot be checked")


@needs_shared
def test_a_naive_authored_on_cannot_be_compared_with_certificate_times() -> None:
    # FHIR refuses a dateTime with a time but no zone, so only a hand-made snapshot holds one.
    snapshot = _snapshot(_example("ex-clean-htn"))
    items = tuple(dataclasses.replace(i, authored_on=dt.datetime(2026, 6, 1, 9)) for i in snapshot.items)
    check = verify_prescriber_signature(dataclasses.replace(snapshot, items=items), _shared_anchors())
    _assert_invalid(check, "validity cannot be checked")


@needs_shared
def test_a_resigned_example_is_valid() -> None:
    """The signing helper itself is sound: re-signing with the right key keeps the signature valid."""
    data = _sign(_example("ex-clean-htn"), _shared_key("physician-wang"), [_shared_cert("physician-wang")])
    assert verify_prescriber_signature(_snapshot(data), _shared_anchors()).status is SignatureStatus.VALID


@needs_shared
def test_another_physicians_certificate_is_invalid() -> None:
    data = _sign(_example("ex-clean-htn"), _shared_key("physician-li"), [_shared_cert("physician-li")])
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    _assert_invalid(check, f"belongs to licence {LI}", f"not to the prescriber (licence {WANG})")
    assert check.signer_licence == LI


@needs_shared
def test_a_signature_over_one_of_two_items_is_invalid_and_names_the_other() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["target"] = [{"reference": "MedicationRequest/mr-ex-clean-htn-0"}]
    data = _sign(data, _shared_key("physician-wang"), [_shared_cert("physician-wang")], only=["mr-ex-clean-htn-0"])
    snapshot = _snapshot(data)
    assert len(snapshot.items) == 2
    check = verify_prescriber_signature(snapshot, _shared_anchors())
    _assert_invalid(check, "does not cover every item", "mr-ex-clean-htn-1")
    assert check.reason_zh is not None and "mr-ex-clean-htn-1" in check.reason_zh


@needs_shared
def test_targets_all_items_but_signs_only_one_is_invalid() -> None:
    data = _sign(_example("ex-clean-htn"), _shared_key("physician-wang"), [_shared_cert("physician-wang")],
                 only=["mr-ex-clean-htn-0"])
    _assert_invalid(verify_prescriber_signature(_snapshot(data), _shared_anchors()), "changed after it was signed")


@needs_shared
def test_a_signature_that_also_covers_other_items_is_invalid() -> None:
    snapshot = _snapshot(_example("ex-narcotic"))
    assert snapshot.signature is not None
    signature = dataclasses.replace(snapshot.signature, target_ids=(*snapshot.signature.target_ids, "mr-elsewhere"))
    check = verify_prescriber_signature(dataclasses.replace(snapshot, signature=signature), _shared_anchors())
    _assert_invalid(check, "not in this prescription", "mr-elsewhere")


@needs_shared
def test_no_provenance_means_missing() -> None:
    data = _example("ex-clean-htn")
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != "Provenance"]
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    assert check.status is SignatureStatus.MISSING
    assert check.reason_en == "the prescription carries no prescriber e-signature"
    assert check.reason_zh and check.signer_licence is None and check.signer_subject is None


@needs_shared
def test_a_provenance_without_signature_data_means_missing() -> None:
    data = _example("ex-clean-htn")
    del _provenance(data)["signature"][0]["data"]
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    assert check.status is SignatureStatus.MISSING
    assert check.reason_en is not None and "no readable signature data" in check.reason_en


@needs_shared
def test_base64_of_non_text_is_noted_by_intake_and_missing() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["data"] = base64.b64encode(b"\xff\xfe\x00garbage").decode("ascii")
    snapshot = _snapshot(data)
    assert any("not base64 text" in note for note in snapshot.intake_notes)
    assert verify_prescriber_signature(snapshot, _shared_anchors()).status is SignatureStatus.MISSING


@needs_shared
def test_data_that_is_not_base64_at_all_is_missing() -> None:
    # FHIR validation refuses the whole Provenance (base64Binary), so no signature reaches the check.
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["data"] = "%%% not base64 %%%"
    assert verify_prescriber_signature(_snapshot(data), _shared_anchors()).status is SignatureStatus.MISSING


@needs_shared
def test_base64_text_that_is_no_jws_is_invalid() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["data"] = base64.b64encode(b"certainly not a JWS").decode("ascii")
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    _assert_invalid(check, "the signature cannot be read", "not a JWS compact serialization")
    assert check.signer_subject is None


@needs_shared
def test_wrong_sig_format_is_invalid() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["sigFormat"] = "application/pkcs7-signature"
    _assert_invalid(verify_prescriber_signature(_snapshot(data), _shared_anchors()),
                    "application/pkcs7-signature", "not application/jose")


@needs_shared
def test_a_signature_that_is_not_the_authors_is_invalid() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["type"][0]["code"] = "1.2.840.10065.1.12.1.5"  # verification signature
    _assert_invalid(verify_prescriber_signature(_snapshot(data), _shared_anchors()), "author's signature")


@needs_shared
def test_signature_who_must_name_the_requester() -> None:
    data = _example("ex-clean-htn")
    _provenance(data)["signature"][0]["who"] = {"reference": "Practitioner/prac-li"}
    check = verify_prescriber_signature(_snapshot(data), _shared_anchors())
    _assert_invalid(check, "names Practitioner/prac-li as signer", "not the requester")


@needs_shared
def test_a_signature_naming_no_signer_is_invalid() -> None:
    # signature.who is required (1..1), so FHIR refuses such a Provenance; a hand-made snapshot still holds one.
    snapshot = _snapshot(_example("ex-clean-htn"))
    assert snapshot.signature is not None
    signature = dataclasses.replace(snapshot.signature, who_reference=None)
    check = verify_prescriber_signature(dataclasses.replace(snapshot, signature=signature), _shared_anchors())
    _assert_invalid(check, "names no one as signer")


@needs_shared
@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        (PrescriberKind.MISSING, "names no requester"),
        (PrescriberKind.UNRESOLVED, "cannot be resolved"),
        (PrescriberKind.ORGANIZATION, "an organisation"),
        (PrescriberKind.OTHER, "not a physician"),
    ],
)
def test_a_requester_that_is_not_a_practitioner_is_invalid(kind: PrescriberKind, fragment: str) -> None:
    snapshot = _snapshot(_example("ex-clean-htn"))
    prescriber = dataclasses.replace(snapshot.prescriber, kind=kind)
    check = verify_prescriber_signature(dataclasses.replace(snapshot, prescriber=prescriber), _shared_anchors())
    _assert_invalid(check, fragment)


@needs_shared
def test_a_prescriber_without_licence_cannot_be_matched() -> None:
    snapshot = _snapshot(_example("ex-clean-htn"))
    prescriber = dataclasses.replace(snapshot.prescriber, licence=None)
    check = verify_prescriber_signature(dataclasses.replace(snapshot, prescriber=prescriber), _shared_anchors())
    _assert_invalid(check, "no licence number")


@needs_shared
def test_who_may_name_the_practitioner_by_an_absolute_or_versioned_reference() -> None:
    snapshot = _snapshot(_example("ex-clean-htn"))
    assert snapshot.signature is not None
    for who in ("https://ih.example.org/fhir/Practitioner/prac-wang", "Practitioner/prac-wang/_history/3"):
        signature = dataclasses.replace(snapshot.signature, who_reference=who)
        check = verify_prescriber_signature(dataclasses.replace(snapshot, signature=signature), _shared_anchors())
        assert check.status is SignatureStatus.VALID, (who, check)


@needs_shared
def test_no_anchor_configured_is_invalid() -> None:
    _assert_invalid(verify_prescriber_signature(_snapshot(_example("ex-clean-htn")), ()), "no trust anchor")


# --------------------------------------------------------------------------- the demo bundles

# Made at the tests' fixed moment (resources/demo/generate.py); the demo CA comes with it, its key already gone.
DEMO_MANIFEST: Json = demo_set().manifest()
DEMO_ANCHORS = (demo_set().ca,)


def _demo_expectation(case: Json) -> SignatureStatus:
    if "signature.invalid" in case["expect"]:
        return SignatureStatus.INVALID
    if "signature.missing" in case["expect"]:
        return SignatureStatus.MISSING
    return SignatureStatus.VALID


@pytest.mark.parametrize("name", sorted(DEMO_MANIFEST["bundles"]))
def test_demo_bundles_verify_as_their_manifest_says(name: str) -> None:
    snapshot = _snapshot(demo_bundle(name))
    check = verify_prescriber_signature(snapshot, DEMO_ANCHORS)
    assert check.status is _demo_expectation(DEMO_MANIFEST["bundles"][name]), check
    assert (check.reason_en is None) is (check.status is SignatureStatus.VALID)


def test_demo_signature_cases_fail_for_their_own_reasons() -> None:
    reasons = {
        "17-ai-requester.json": "the signer is not the requester",
        "21-signature-tampered.json": "changed after it was signed",
        "22-signature-untrusted-root.json": "not trusted",
        "23-signature-expired-cert.json": "signing certificate had expired",
    }
    for name, fragment in reasons.items():
        check = verify_prescriber_signature(_snapshot(demo_bundle(name)), DEMO_ANCHORS)
        _assert_invalid(check, fragment)


# --------------------------------------------------------------------------- chains built here

# Built once at import: hypothesis refuses function-scoped fixtures, and these keys are cheap to make.
DEMO_BUNDLE = demo_bundle("01-htn-follow-up.json")
DEMO_LICENCE = "131310000210457"  # Dr Zhang, the requester of bundle 01
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)


def _name(common_name: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Name | None = None,
    *,
    ca: bool | None = True,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    start: dt.datetime = START,
    end: dt.datetime = END,
    digest: hashes.SHA256 | None = hashes.SHA256(),  # None: Ed25519 keys choose their own
    extra: x509.ExtensionType | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                                        critical=True)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(issuer_key, digest)


ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
ROOT = _issue(_name("Test Root"), ROOT_KEY.public_key(), ROOT_KEY)
INTER_KEY = ec.generate_private_key(ec.SECP384R1())
INTER = _issue(_name("Test Issuing CA"), INTER_KEY.public_key(), ROOT_KEY, ROOT.subject)
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())
LEAF_NAME = _name("张志远", DEMO_LICENCE)
LEAF = _issue(LEAF_NAME, LEAF_KEY.public_key(), INTER_KEY, INTER.subject, ca=False)


def _demo_signed(chain: Sequence[x509.Certificate], key: ec.EllipticCurvePrivateKey = LEAF_KEY) -> PrescriptionSnapshot:
    return _snapshot(_sign(copy.deepcopy(DEMO_BUNDLE), key, chain))


def _leaf_under(issuer: x509.Certificate, issuer_key: CertificateIssuerPrivateKeyTypes, **kwargs: Any) -> x509.Certificate:
    return _issue(LEAF_NAME, LEAF_KEY.public_key(), issuer_key, issuer.subject, ca=False, **kwargs)


@pytest.mark.parametrize("chain", [[LEAF, INTER], [LEAF, INTER, ROOT]], ids=["root-omitted", "root-included"])
def test_a_chain_through_a_p384_intermediate_is_valid(chain: list[x509.Certificate]) -> None:
    check = verify_prescriber_signature(_demo_signed(chain), [ROOT])
    assert check.status is SignatureStatus.VALID, check
    assert check.signer_licence == DEMO_LICENCE


def test_an_intermediate_may_itself_be_the_anchor() -> None:
    assert verify_prescriber_signature(_demo_signed([LEAF]), [INTER]).status is SignatureStatus.VALID


def test_x5c_order_after_the_leaf_does_not_matter() -> None:
    assert verify_prescriber_signature(_demo_signed([LEAF, ROOT, INTER]), [ROOT]).status is SignatureStatus.VALID


def test_an_overlong_chain_is_refused() -> None:
    chain = [LEAF, INTER, *[ROOT] * MAX_CHAIN_CERTIFICATES]
    _assert_invalid(verify_prescriber_signature(_demo_signed(chain), [ROOT]), "chain is too long")


def test_a_missing_intermediate_breaks_the_chain() -> None:
    _assert_invalid(verify_prescriber_signature(_demo_signed([LEAF]), [ROOT]), "not trusted", "Test Issuing CA")


def test_an_rsa_root_is_accepted() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_root = _issue(_name("RSA Root"), rsa_key.public_key(), rsa_key)
    inter = _issue(INTER.subject, INTER_KEY.public_key(), rsa_key, rsa_root.subject)
    check = verify_prescriber_signature(_demo_signed([LEAF, inter]), [rsa_root])
    assert check.status is SignatureStatus.VALID, check


def test_a_short_rsa_issuer_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_root = _issue(_name("Weak Root"), weak.public_key(), weak)
    _assert_invalid(verify_prescriber_signature(_demo_signed([_leaf_under(weak_root, weak)]), [weak_root]), "too short")


def test_a_forged_issuer_of_the_same_name_is_not_trusted() -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    fake_inter = _issue(INTER.subject, forger.public_key(), forger)  # same name, own key, self-signed
    leaf = _leaf_under(fake_inter, forger)
    _assert_invalid(verify_prescriber_signature(_demo_signed([leaf, fake_inter]), [ROOT]), "not trusted")


@pytest.mark.parametrize(
    ("ca", "key_cert_sign", "fragment"),
    [
        (False, True, "is not a certificate authority"),
        (None, True, "is not a certificate authority"),
        (True, False, "may not sign certificates"),
    ],
)
def test_an_issuer_must_be_a_ca_allowed_to_sign_certificates(ca: bool | None, key_cert_sign: bool, fragment: str) -> None:
    bad_inter = _issue(_name("Not Really A CA"), INTER_KEY.public_key(), ROOT_KEY, ROOT.subject,
                       ca=ca, key_cert_sign=key_cert_sign)
    leaf = _leaf_under(bad_inter, INTER_KEY)
    _assert_invalid(verify_prescriber_signature(_demo_signed([leaf, bad_inter]), [ROOT]), fragment)


def test_a_path_length_limit_is_honoured() -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _issue(_name("Root Without Intermediates"), root_key.public_key(), root_key, path_length=0)
    inter = _issue(INTER.subject, INTER_KEY.public_key(), root_key, root.subject)
    _assert_invalid(verify_prescriber_signature(_demo_signed([LEAF, inter]), [root]), "path length 0")
    assert verify_prescriber_signature(_demo_signed([_leaf_under(root, root_key)]), [root]).status is SignatureStatus.VALID


def test_an_expired_intermediate_is_invalid_and_named() -> None:
    old_inter = _issue(INTER.subject, INTER_KEY.public_key(), ROOT_KEY, ROOT.subject,
                       end=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    _assert_invalid(verify_prescriber_signature(_demo_signed([LEAF, old_inter]), [ROOT]),
                    "chain certificate Test Issuing CA had expired")


def test_an_expired_anchor_is_invalid() -> None:
    old_root = _issue(ROOT.subject, ROOT_KEY.public_key(), ROOT_KEY, end=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    _assert_invalid(verify_prescriber_signature(_demo_signed([LEAF, INTER]), [old_root]), "Test Root had expired")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _der_content(element: bytes) -> bytes:
    first = element[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return element[start:]


ECDSA_SHA256 = _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d040302")))
ECDSA_SHA1 = _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d0401")))


def _sha1_leaf() -> x509.Certificate:
    """A leaf signed with ECDSA-SHA1, which cryptography no longer makes: re-sign a SHA-256 one by hand."""
    template = _leaf_under(INTER, INTER_KEY)
    content = _der_content(template.tbs_certificate_bytes)
    assert content.count(ECDSA_SHA256) == 1
    tbs = _der(0x30, content.replace(ECDSA_SHA256, ECDSA_SHA1))
    signature = INTER_KEY.sign(tbs, ec.ECDSA(hashes.SHA1()))
    der = _der(0x30, tbs + ECDSA_SHA1 + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def test_a_sha1_certificate_signature_is_refused() -> None:
    leaf = _sha1_leaf()
    # A genuine signature (cryptography's own issuer check would refuse SHA-1 outright): only its hash is at fault.
    issuer_key = INTER.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    issuer_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
    _assert_invalid(verify_prescriber_signature(_demo_signed([leaf, INTER]), [ROOT]), "weak algorithm (sha1)")


def test_an_ed25519_root_is_accepted() -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_root = _issue(_name("Ed25519 Root"), ed_key.public_key(), ed_key, digest=None)
    inter = _issue(INTER.subject, INTER_KEY.public_key(), ed_key, ed_root.subject, digest=None)
    assert verify_prescriber_signature(_demo_signed([LEAF, inter]), [ed_root]).status is SignatureStatus.VALID


def test_an_unknown_critical_extension_is_refused() -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    leaf = _leaf_under(INTER, INTER_KEY, extra=odd)
    _assert_invalid(verify_prescriber_signature(_demo_signed([leaf, INTER]), [ROOT]), "1.3.6.1.4.1.55555.1")


def test_a_leaf_whose_key_may_not_sign_is_invalid() -> None:
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    leaf = _leaf_under(INTER, INTER_KEY, extra=usage)
    _assert_invalid(verify_prescriber_signature(_demo_signed([leaf, INTER]), [ROOT]), "may not be used for signatures")


def test_a_leaf_without_licence_number_is_invalid() -> None:
    leaf = _issue(_name("张志远"), LEAF_KEY.public_key(), INTER_KEY, INTER.subject, ca=False)
    check = verify_prescriber_signature(_demo_signed([leaf, INTER]), [ROOT])
    _assert_invalid(check, "carries no licence number")
    assert check.signer_licence is None and check.signer_subject == "CN=张志远,C=CN"


# --------------------------------------------------------------------------- trust anchors


@needs_shared
def test_several_anchors_in_one_file(tmp_path: Path) -> None:
    bundle = tmp_path / "anchors.pem"
    bundle.write_bytes((PKI / "ca.pem").read_bytes() + b"\n" + (PKI / "untrusted-ca.pem").read_bytes())
    anchors = load_trust_anchors([bundle])
    assert [a.subject for a in anchors] == [_shared_cert("ca").subject, _shared_cert("untrusted-ca").subject]


def test_no_paths_give_no_anchors() -> None:
    assert load_trust_anchors([]) == ()


def test_an_unreadable_anchor_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(TrustAnchorError) as info:
        load_trust_anchors([missing])
    assert info.value.path == missing and str(missing) in str(info.value)
    assert isinstance(info.value, DomainError)


@pytest.mark.parametrize("content", [b"", b"not a certificate", ROOT.public_bytes(Encoding.DER)])
def test_a_file_without_pem_certificates_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "anchor.pem"
    path.write_bytes(content)
    with pytest.raises(TrustAnchorError, match="PEM") as info:
        load_trust_anchors([path])
    assert str(path) in str(info.value)


def test_a_leaf_certificate_cannot_be_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "leaf.pem"
    path.write_bytes(ROOT.public_bytes(Encoding.PEM) + LEAF.public_bytes(Encoding.PEM))
    with pytest.raises(TrustAnchorError, match="certificate 2 in the file is not a CA"):
        load_trust_anchors([path])


def test_status_is_a_string_enum() -> None:
    assert SignatureStatus("invalid") is SignatureStatus.INVALID
    assert isinstance(SignatureStatus.MISSING, str) and SignatureStatus.MISSING.value == "missing"


# --------------------------------------------------------------------------- odd input never raises

GOOD = _demo_signed([LEAF, INTER])
assert GOOD.signature is not None
GOOD_SIGNATURE = GOOD.signature
HEADER = GOOD_SIGNATURE.jws.split(".")[0] if GOOD_SIGNATURE.jws else ""

_times = st.one_of(
    st.none(),
    st.datetimes(),  # naive: no zone
    st.datetimes(timezones=st.timezones()),
    st.datetimes(timezones=st.just(dt.UTC)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=st.one_of(
    st.text(),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=300),
    st.builds(lambda sig: f"{HEADER}..{sig}", st.text(alphabet="AB-_x0", min_size=80, max_size=90)),
))
def test_arbitrary_jws_text_never_raises(token: str) -> None:
    snapshot = dataclasses.replace(GOOD, signature=dataclasses.replace(GOOD_SIGNATURE, jws=token))
    check = verify_prescriber_signature(snapshot, [ROOT])
    expected = SignatureStatus.MISSING if not token else SignatureStatus.INVALID
    assert check.status is expected
    assert check.reason_zh and check.reason_en


def _mutate_items(snapshot: PrescriptionSnapshot, draw: Callable[[Any], Any]) -> PrescriptionSnapshot:
    items = []
    for item in snapshot.items:
        changes: dict[str, Any] = {}
        if draw(st.booleans()):
            changes["authored_on"] = draw(_times)
        if draw(st.booleans()):
            changes["resource_json"] = draw(st.one_of(st.text(max_size=40), st.just("[]"), st.just("{}"),
                                                      st.just('{"id": "x", "n": 1e400}')))
        if draw(st.booleans()):
            changes["fhir_id"] = draw(st.text(max_size=20))
        items.append(dataclasses.replace(item, **changes))
    if draw(st.booleans()):
        items = draw(st.lists(st.sampled_from(items), max_size=3))
    return dataclasses.replace(snapshot, items=tuple(items))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_snapshots_never_raise(data: st.DataObject) -> None:
    draw = data.draw
    signature = dataclasses.replace(
        GOOD_SIGNATURE,
        sig_format=draw(st.sampled_from([GOOD_SIGNATURE.sig_format, None, "", "application/jose+json"])),
        type_codes=draw(st.sampled_from([GOOD_SIGNATURE.type_codes, (), ("x",)])),
        who_reference=draw(st.one_of(st.just(GOOD_SIGNATURE.who_reference), st.none(), st.text(max_size=30))),
        target_ids=draw(st.one_of(st.just(GOOD_SIGNATURE.target_ids), st.lists(st.text(max_size=30), max_size=3).map(tuple))),
    )
    prescriber = dataclasses.replace(
        GOOD.prescriber,
        kind=draw(st.sampled_from(list(PrescriberKind))),
        licence=draw(st.one_of(st.just(DEMO_LICENCE), st.none(), st.text(max_size=20))),
        reference=draw(st.one_of(st.just(GOOD.prescriber.reference), st.none(), st.text(max_size=30))),
        fhir_id=draw(st.one_of(st.just(GOOD.prescriber.fhir_id), st.none(), st.text(max_size=20))),
    )
    snapshot = dataclasses.replace(GOOD, signature=signature, prescriber=prescriber)
    snapshot = _mutate_items(snapshot, draw)
    anchors = draw(st.sampled_from([[ROOT], [], [INTER], [LEAF], [ROOT, INTER]]))
    check = verify_prescriber_signature(snapshot, anchors)
    assert isinstance(check, SignatureCheck)
    assert (check.reason_en is None) is (check.status is SignatureStatus.VALID)


def test_the_mutation_base_is_valid() -> None:
    """The hypothesis tests start from a good signature, so what they break is their own doing."""
    assert verify_prescriber_signature(GOOD, [ROOT]).status is SignatureStatus.VALID
