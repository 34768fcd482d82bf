"""Tests for the pharmacy PKI: the CA, pharmacist certificates, PIN-locked keys, imported credentials."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from workstation.adapters.jws import leaf_serial_number, sign_detached, verify_detached
from workstation.adapters.pki import (
    ORGANISATION,
    PIN_KDF_ROUNDS,
    CredentialError,
    WeakPin,
    WrongPassword,
    WrongPin,
    certificate_pem,
    certificates_from_pem,
    check_pin_policy,
    create_pharmacy_ca,
    decrypt_private_key,
    encrypt_private_key,
    generate_key,
    issue_pharmacist_certificate,
    load_credential,
    load_credential_files,
)
from workstation.adapters.signature import SignatureRejected, check_validity, load_trust_anchors, trusted_path
from workstation.domain.errors import DomainError

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=CST)
LICENCE = "YS4403200012345"
PIN = "739164"
_T = TypeVar("_T", bound=x509.ExtensionType)

CA, CA_KEY = create_pharmacy_ca("示例互联网医院药房 CA", now=NOW)
KEY = generate_key()
LEAF = issue_pharmacist_certificate(CA, CA_KEY, name="王丽", licence=LICENCE, public_key=KEY.public_key(), now=NOW)


def _extension(cert: x509.Certificate, kind: type[_T]) -> x509.Extension[_T]:
    return cert.extensions.get_extension_for_class(kind)


def _self_made(subject: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, serial: str | None = None,
               ca: bool = False) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    name = x509.Name(attrs)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


# --------------------------------------------------------------------------- CA and certificates


def test_generated_keys_are_p256() -> None:
    assert isinstance(generate_key().curve, ec.SECP256R1)


def test_the_ca_is_a_self_signed_end_entity_only_ca() -> None:
    assert CA.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "示例互联网医院药房 CA"
    assert CA.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORGANISATION
    assert CA.issuer == CA.subject
    CA.verify_directly_issued_by(CA)
    constraints = _extension(CA, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = _extension(CA, x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert _extension(CA, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        CA_KEY.public_key())
    # Whole seconds: notBefore must not fall after a signature made in the same second.
    assert CA.not_valid_before_utc == NOW.replace(microsecond=0)
    assert CA.not_valid_after_utc - CA.not_valid_before_utc == dt.timedelta(days=3652)


def test_the_ca_is_accepted_as_a_trust_anchor(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(certificate_pem([CA]))
    assert load_trust_anchors([path]) == (CA,)


def test_a_pharmacist_certificate_carries_name_licence_and_signing_usage() -> None:
    assert LEAF.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "王丽"
    assert leaf_serial_number(LEAF) == LICENCE
    assert LEAF.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORGANISATION
    assert LEAF.issuer == CA.subject
    assert not _extension(LEAF, x509.BasicConstraints).value.ca
    usage = _extension(LEAF, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    aki = _extension(LEAF, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _extension(CA, x509.SubjectKeyIdentifier).value.digest
    assert LEAF.not_valid_after_utc - LEAF.not_valid_before_utc == dt.timedelta(days=730)


def test_serial_numbers_are_random() -> None:
    other = issue_pharmacist_certificate(CA, CA_KEY, name="王丽", licence=LICENCE, public_key=KEY.public_key(), now=NOW)
    assert other.serial_number != LEAF.serial_number and LEAF.serial_number > 2**63


def test_a_pharmacist_certificate_passes_the_prescription_signature_checks() -> None:
    assert trusted_path([LEAF], [CA]) == [LEAF, CA]
    assert trusted_path([LEAF, CA], [CA]) == [LEAF, CA]
    check_validity([LEAF, CA], NOW, NOW + dt.timedelta(days=729), moment_zh="签名时", moment_en="when signed")
    token = sign_detached(b"payload", KEY, [LEAF, CA])
    assert verify_detached(token, b"payload") == LEAF


def test_a_pharmacist_certificate_is_not_trusted_under_another_ca() -> None:
    other_ca, _ = create_pharmacy_ca("另一家药房 CA", now=NOW)
    with pytest.raises(SignatureRejected, match="not trusted"):
        trusted_path([LEAF, CA], [other_ca])


def test_a_certificate_ends_no_later_than_its_ca() -> None:
    short_ca, short_key = create_pharmacy_ca("短期 CA", now=NOW, years=1)
    leaf = issue_pharmacist_certificate(short_ca, short_key, name="王丽", licence=LICENCE,
                                        public_key=KEY.public_key(), now=NOW + dt.timedelta(days=200))
    assert leaf.not_valid_after_utc == short_ca.not_valid_after_utc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"now": NOW.replace(tzinfo=None)}, "time zone"),
        ({"now": NOW - dt.timedelta(days=1)}, "not valid at"),
        ({"licence": ""}, "licence number"),
        ({"public_key": ec.generate_private_key(ec.SECP384R1()).public_key()}, "P-256"),
        ({"ca_key": generate_key()}, "does not belong"),
    ],
)
def test_issuing_refuses_bad_arguments(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"ca_key": CA_KEY, "name": "王丽", "licence": LICENCE,
                                    "public_key": KEY.public_key(), "now": NOW, **changes}
    with pytest.raises(ValueError, match=message):
        issue_pharmacist_certificate(CA, **arguments)  # type: ignore[arg-type]


def test_a_ca_needs_a_zoned_time() -> None:
    with pytest.raises(ValueError, match="time zone"):
        create_pharmacy_ca("CA", now=NOW.replace(tzinfo=None))


# --------------------------------------------------------------------------- the PIN

ENCRYPTED = encrypt_private_key(KEY, PIN)


def _same_key(a: ec.EllipticCurvePrivateKey, b: ec.EllipticCurvePrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def test_an_encrypted_key_opens_with_its_pin() -> None:
    assert ENCRYPTED.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert ENCRYPTED.endswith(b"-----END ENCRYPTED PRIVATE KEY-----\n")
    assert _same_key(decrypt_private_key(ENCRYPTED, PIN), KEY)


def test_the_encrypted_key_is_standard_pkcs8() -> None:
    opened = serialization.load_pem_private_key(ENCRYPTED, PIN.encode())
    assert isinstance(opened, ec.EllipticCurvePrivateKey) and _same_key(opened, KEY)


def test_each_encryption_uses_a_fresh_salt() -> None:
    assert encrypt_private_key(KEY, PIN) != ENCRYPTED


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_reads_the_encrypted_key_and_its_rounds(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(ENCRYPTED)
    opened = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", f"pass:{PIN}", "-noout"],
                            capture_output=True, text=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(path)], capture_output=True, text=True, timeout=60)
    assert "PBES2" in parsed.stdout and "PBKDF2" in parsed.stdout and "hmacWithSHA256" in parsed.stdout
    assert "aes-256-cbc" in parsed.stdout
    integers = [int(m, 16) for m in re.findall(r"prim: INTEGER +:([0-9A-F]+)", parsed.stdout)]
    assert integers == [PIN_KDF_ROUNDS]
    refused = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "pass:000000", "-noout"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0


def test_the_rounds_follow_owasp() -> None:
    assert PIN_KDF_ROUNDS >= 600_000


def test_a_wrong_pin_is_a_typed_bilingual_error() -> None:
    with pytest.raises(WrongPin) as info:
        decrypt_private_key(ENCRYPTED, "739165")
    assert isinstance(info.value, DomainError)
    assert "PIN 不正确" in str(info.value) and "wrong PIN" in str(info.value)


def test_full_width_digits_are_the_same_pin() -> None:
    assert _same_key(decrypt_private_key(ENCRYPTED, "７３９１６４"), KEY)


@pytest.mark.parametrize("pem", [
    b"",
    KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nnot base64\n-----END ENCRYPTED PRIVATE KEY-----\n",
])
def test_something_other_than_an_encrypted_key_is_refused(pem: bytes) -> None:
    with pytest.raises((CredentialError, WrongPin)):
        decrypt_private_key(pem, PIN)


@pytest.mark.parametrize(
    ("pin", "rule"),
    [
        ("12345", "at least 6"),
        ("", "at least 6"),
        ("111111", "one character repeated"),
        ("123456", "simple run"),
        ("654321", "simple run"),
        ("abcdefg", "simple run"),
        ("１２３４５６", "simple run"),
        ("121212", "repeat a block"),
        ("123123", "repeat a block"),
    ],
)
def test_weak_pins_are_refused_with_the_rule(pin: str, rule: str) -> None:
    with pytest.raises(WeakPin, match=rule) as info:
        check_pin_policy(pin)
    assert "PIN" in info.value.reason and isinstance(info.value, DomainError)


@pytest.mark.parametrize("pin", ["739164", "246810", "135792", "pa55-word", "1234567x"])
def test_reasonable_pins_pass(pin: str) -> None:
    check_pin_policy(pin)


# --------------------------------------------------------------------------- imported credentials

KEY_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())


def test_pem_key_and_chain_in_one_blob_in_any_order() -> None:
    key, chain = load_credential(certificate_pem([CA]) + KEY_PEM + certificate_pem([LEAF]), None)
    assert _same_key(key, KEY) and chain == [LEAF, CA]


def test_pem_key_and_certificates_in_two_files(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(KEY_PEM)
    (tmp_path / "chain.pem").write_bytes(certificate_pem([CA, LEAF]))
    key, chain = load_credential_files([tmp_path / "key.pem", tmp_path / "chain.pem"], None)
    assert _same_key(key, KEY) and chain == [LEAF, CA]


def test_an_encrypted_pem_key_needs_its_password() -> None:
    locked = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(b"import-secret"))
    data = locked + certificate_pem([LEAF])
    key, _ = load_credential(data, "import-secret")
    assert _same_key(key, KEY)
    with pytest.raises(WrongPassword, match="wrong password"):
        load_credential(data, "guess")
    with pytest.raises(WrongPassword, match="give its password"):
        load_credential(data, None)


def test_a_password_for_a_plain_pem_key_is_ignored() -> None:
    key, _ = load_credential(KEY_PEM + certificate_pem([LEAF]), "unneeded")
    assert _same_key(key, KEY)


def _p12(password: bytes | None, cas: list[x509.Certificate], cert: x509.Certificate | None = LEAF,
         key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = KEY) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(b"wang-li", key, cert, cas, encryption)


def test_pkcs12_with_its_chain_returns_the_leaf_first(tmp_path: Path) -> None:
    path = tmp_path / "wang.p12"
    path.write_bytes(_p12(b"p12-secret", [CA]))
    key, chain = load_credential_files([path], "p12-secret")
    assert _same_key(key, KEY) and chain == [LEAF, CA]
    with pytest.raises(WrongPassword):
        load_credential(path.read_bytes(), "wrong")


def test_pkcs12_whose_leaf_comes_among_the_others_is_reordered() -> None:
    _, chain = load_credential(_p12(None, [CA, LEAF], cert=None), None)
    assert chain == [LEAF, CA]


def test_pkcs12_cannot_be_combined_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.p12").write_bytes(_p12(None, [CA]))
    (tmp_path / "b.pem").write_bytes(certificate_pem([CA]))
    with pytest.raises(CredentialError, match="import it alone"):
        load_credential_files([tmp_path / "a.p12", tmp_path / "b.pem"], None)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="nowhere.p12"):
        load_credential_files([tmp_path / "nowhere.p12"], None)
    with pytest.raises(CredentialError, match="no credential file"):
        load_credential_files([], None)


def test_a_key_other_than_p256_is_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CredentialError, match="not a P-256 key"):
        load_credential(_p12(None, [], _self_made("RSA", rsa_key, LICENCE), rsa_key), None)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CredentialError, match="secp384r1, not P-256"):
        load_credential(_p12(None, [], _self_made("P-384", p384, LICENCE), p384), None)


def test_a_certificate_for_another_key_is_refused() -> None:
    with pytest.raises(CredentialError, match="do not belong together"):
        load_credential(generate_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()) + certificate_pem([LEAF, CA]), None)


def test_a_certificate_without_licence_is_refused() -> None:
    key = generate_key()
    with pytest.raises(CredentialError, match="no licence number"):
        load_credential(_p12(None, [], _self_made("无证号", key), key), None)


def test_a_ca_certificate_is_not_a_signing_certificate() -> None:
    key = generate_key()
    with pytest.raises(CredentialError, match="CA certificate"):
        load_credential(_p12(None, [], _self_made("CA", key, LICENCE, ca=True), key), None)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "neither PKCS#12"),
        (b"hello", "neither PKCS#12"),
        (b"\x30\x03\x02\x01\x03", "PKCS#12 file is damaged"),
        (certificate_pem([LEAF]), "no private key"),
        (KEY_PEM, "no readable PEM certificate"),
        (KEY_PEM + KEY_PEM + certificate_pem([LEAF]), "2 private keys"),
    ],
)
def test_odd_credentials_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CredentialError, match=reason):
        load_credential(data, None)


# --------------------------------------------------------------------------- PEM


def test_certificates_round_trip_through_pem() -> None:
    assert certificates_from_pem(certificate_pem([LEAF, CA])) == [LEAF, CA]
    assert certificate_pem([]) == b""


@pytest.mark.parametrize("data", [b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_no_certificate_in_pem_is_an_error(data: bytes) -> None:
    with pytest.raises(CredentialError, match="no readable PEM certificate"):
        certificates_from_pem(data)
