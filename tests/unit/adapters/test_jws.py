"""Tests for the ES256 JWS adapter: round trips, tampering, malformed tokens, the shared example bundles."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.adapters.jws import (
    MAX_HEADER_BYTES,
    JwsError,
    leaf_serial_number,
    parse_compact,
    sign_attached,
    sign_detached,
    verify_attached,
    verify_detached,
)
from workstation.domain.canonical import prescription_content

SHARED_EXAMPLES = Path("/work/shared/examples")
LICENCE = "110310000123456"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _name(common_name: str, serial: str | None = None, extra_serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    for value in (serial, extra_serial):
        if value is not None:
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, value))
    return x509.Name(attrs)


def _cert(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Name | None = None,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
        .sign(issuer_key, hashes.SHA256())
    )


# Built once at import: hypothesis refuses function-scoped fixtures, and P-256 keys are cheap.
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_CERT = _cert(_name("Test Root"), CA_KEY.public_key(), CA_KEY)
KEY = ec.generate_private_key(ec.SECP256R1())
LEAF = _cert(_name("王建国", LICENCE), KEY.public_key(), CA_KEY, CA_CERT.subject)
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_LEAF = _cert(_name("李晓梅", "110310000654321"), OTHER_KEY.public_key(), CA_KEY, CA_CERT.subject)
PAYLOAD = prescription_content([{"id": "mr-1", "resourceType": "MedicationRequest", "status": "active"}])
TOKEN = sign_detached(PAYLOAD, KEY, [LEAF, CA_CERT])


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def _token(header: Any, payload: str = "", signature: bytes = b"\x01" * 64) -> str:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    return f"{_b64url(raw)}.{payload}.{_b64url(signature)}"


def _header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "ES256", "x5c": [_der_b64(LEAF)]}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


# --------------------------------------------------------------------------- round trips


def test_detached_round_trip_returns_the_leaf() -> None:
    leaf = verify_detached(TOKEN, PAYLOAD)
    assert leaf == LEAF
    assert leaf_serial_number(leaf) == LICENCE


def test_detached_token_has_the_profile_shape() -> None:
    protected, payload, signature = TOKEN.split(".")
    assert payload == ""
    assert len(signature) == 86  # 64 raw bytes, not DER
    decoded = base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4))
    assert decoded == json.dumps(
        {"alg": "ES256", "x5c": [_der_b64(LEAF), _der_b64(CA_CERT)]}, separators=(",", ":")
    ).encode()
    parsed = parse_compact(TOKEN)
    assert parsed.payload is None
    assert parsed.certificates == [LEAF, CA_CERT]
    assert parsed.leaf == LEAF
    assert len(parsed.signature) == 64
    assert parsed.signing_input_prefix == protected.encode() + b"."
    assert parsed.signing_input(PAYLOAD) == f"{protected}.{_b64url(PAYLOAD)}".encode()


def test_attached_round_trip() -> None:
    token = sign_attached(b'{"decision":"approved"}', KEY, [LEAF])
    assert parse_compact(token).payload == b'{"decision":"approved"}'
    leaf, payload = verify_attached(token)
    assert leaf == LEAF
    assert payload == b'{"decision":"approved"}'


def test_signatures_are_randomised_but_all_verify() -> None:
    again = sign_detached(PAYLOAD, KEY, [LEAF, CA_CERT])
    assert again != TOKEN
    assert verify_detached(again, PAYLOAD) == LEAF


# --------------------------------------------------------------------------- verification failures


def test_tampered_payload_fails() -> None:
    tampered = PAYLOAD.replace(b"active", b"Active")
    with pytest.raises(JwsError, match="does not verify"):
        verify_detached(TOKEN, tampered)


def test_a_flipped_signature_bit_fails() -> None:
    parsed = parse_compact(TOKEN)
    flipped = bytes([parsed.signature[0] ^ 1]) + parsed.signature[1:]
    token = f"{TOKEN.split('.')[0]}..{_b64url(flipped)}"
    with pytest.raises(JwsError, match="does not verify"):
        verify_detached(token, PAYLOAD)


def test_a_swapped_certificate_fails() -> None:
    """Someone else's certificate in x5c must not lend its name to this key's signature."""
    _, _, signature = TOKEN.split(".")
    header = _b64url(json.dumps({"alg": "ES256", "x5c": [_der_b64(OTHER_LEAF)]}, separators=(",", ":")).encode())
    with pytest.raises(JwsError, match="does not verify"):
        verify_detached(f"{header}..{signature}", PAYLOAD)


def test_a_zero_signature_fails() -> None:
    token = f"{TOKEN.split('.')[0]}..{_b64url(bytes(64))}"
    with pytest.raises(JwsError, match="does not verify"):
        verify_detached(token, PAYLOAD)


def test_verify_detached_refuses_an_attached_token() -> None:
    with pytest.raises(JwsError, match="detached"):
        verify_detached(sign_attached(PAYLOAD, KEY, [LEAF]), PAYLOAD)


def test_verify_attached_refuses_a_detached_token() -> None:
    with pytest.raises(JwsError, match="no attached payload"):
        verify_attached(TOKEN)


# --------------------------------------------------------------------------- signing misuse


def test_signing_needs_a_p256_key() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        sign_detached(b"x", key, [LEAF])


def test_signing_needs_a_chain() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign_detached(b"x", KEY, [])


def test_signing_refuses_a_leaf_of_another_key() -> None:
    with pytest.raises(ValueError, match="does not hold"):
        sign_detached(b"x", KEY, [OTHER_LEAF])


# --------------------------------------------------------------------------- malformed tokens

_P384_KEY = ec.generate_private_key(ec.SECP384R1())
_P384_LEAF = _cert(_name("p384"), _P384_KEY.public_key(), _P384_KEY)
_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_RSA_LEAF = _cert(_name("rsa"), _RSA_KEY.public_key(), _RSA_KEY)


def _patched_der(cert: x509.Certificate, old: bytes, new: bytes) -> str:
    der = cert.public_bytes(Encoding.DER)
    assert old in der
    return base64.b64encode(der.replace(old, new, 1)).decode("ascii")


def _serial_der(cert: x509.Certificate) -> bytes:
    value = cert.serial_number.to_bytes(cert.serial_number.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(value)]) + value


# Found by the property test below: cryptography raises InvalidVersion (not a ValueError) for these.
_BAD_VERSION = _patched_der(LEAF, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x3e")
# A negative serial number draws a CryptographyDeprecationWarning, an exception under -W error.
_NEGATIVE_SERIAL = _patched_der(LEAF, _serial_der(LEAF), _serial_der(LEAF)[:2] + b"\xff" + _serial_der(LEAF)[3:])
_GOOD_HEADER = TOKEN.split(".")[0]
_GOOD_SIGNATURE = TOKEN.split(".")[2]

MALFORMED: list[tuple[str, str, str]] = [
    ("empty", "", "3 parts"),
    ("two parts", f"{_GOOD_HEADER}.{_GOOD_SIGNATURE}", "3 parts"),
    ("four parts", f"{_GOOD_HEADER}...{_GOOD_SIGNATURE}", "3 parts"),
    ("empty header", f"..{_GOOD_SIGNATURE}", "empty protected header"),
    ("header with padding", f"{_b64url(b'{}')}==..{_GOOD_SIGNATURE}", "header is not base64url"),
    ("header with standard base64", f"{_GOOD_HEADER[:-1]}+..{_GOOD_SIGNATURE}", "header is not base64url"),
    ("header of impossible length", f"A..{_GOOD_SIGNATURE}", "header is not base64url"),
    ("header not JSON", _token(b"not json"), "not valid JSON"),
    ("header not UTF-8", _token(b"\xff\xfe{}"), "not UTF-8"),
    ("header an array", _token(["ES256"]), "not a JSON object"),
    ("header NaN", _token(b'{"alg":"ES256","x5c":[],"n":NaN}'), "not valid JSON"),
    ("header deeply nested", _token(b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}"), "nested too deeply"),
    ("duplicate alg", _token(b'{"alg":"none","alg":"ES256","x5c":[]}'), "repeats the name 'alg'"),
    ("alg none", _token(_header(alg="none")), "unsupported JWS algorithm 'none'"),
    ("alg HS256", _token(_header(alg="HS256")), "unsupported JWS algorithm 'HS256'"),
    ("alg es256 lowercase", _token(_header(alg="es256")), "unsupported JWS algorithm"),
    ("alg missing", _token({"x5c": [_der_b64(LEAF)]}), "unsupported JWS algorithm None"),
    ("crit", _token(_header(crit=["exp"])), "critical extensions"),
    ("b64 false", _token(_header(b64=False)), "unencoded payloads"),
    ("x5c missing", _token({"alg": "ES256"}), "no x5c"),
    ("x5c empty", _token(_header(x5c=[])), "non-empty array"),
    ("x5c a string", _token(_header(x5c=_der_b64(LEAF))), "non-empty array"),
    ("x5c item not a string", _token(_header(x5c=[42])), r"x5c\[0\] is not a base64 string"),
    ("x5c item base64url", _token(_header(x5c=["-" + _der_b64(LEAF)[1:]])), r"x5c\[0\] is not a base64"),
    ("x5c item not DER", _token(_header(x5c=[base64.b64encode(b"hello world!").decode()])), "not a DER X.509"),
    ("x5c item of an impossible version", _token(_header(x5c=[_BAD_VERSION])), r"x5c\[0\] is not a DER"),
    ("x5c item with a negative serial", _token(_header(x5c=[_NEGATIVE_SERIAL])), r"x5c\[0\] is not a DER"),
    ("x5c second item not DER", _token(_header(x5c=[_der_b64(LEAF), "AAAA"])), r"x5c\[1\] is not a DER"),
    ("leaf is P-384", _token(_header(x5c=[_der_b64(_P384_LEAF)])), "P-256"),
    ("leaf is RSA", _token(_header(x5c=[_der_b64(_RSA_LEAF)])), "P-256"),
    ("signature DER-encoded", _token(_header(), signature=b"\x30\x44" + b"\x02\x20" + b"\x01" * 32 + b"\x02\x20" + b"\x01" * 32),
     "64 bytes"),
    ("signature 63 bytes", _token(_header(), signature=b"\x01" * 63), "64 bytes"),
    ("signature 65 bytes", _token(_header(), signature=b"\x01" * 65), "64 bytes"),
    ("signature not base64url", f"{_GOOD_HEADER}..{'*' * 86}", "signature is not base64url"),
    ("payload not base64url", f"{_GOOD_HEADER}.a+b.{_GOOD_SIGNATURE}", "payload is not base64url"),
    ("whitespace around", f" {TOKEN}", "header is not base64url"),
    ("non-ASCII", f"{_GOOD_HEADER}..{_GOOD_SIGNATURE[:-1]}é", "signature"),
]


@pytest.mark.parametrize(("token", "reason"), [(t, r) for _, t, r in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_tokens_raise_jws_error_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(JwsError, match=reason) as info:
        parse_compact(token)
    assert info.value.reason == str(info.value)
    with pytest.raises(JwsError):
        verify_detached(token, PAYLOAD)


def test_header_over_64_kib_is_refused_before_decoding() -> None:
    header = _header(pad="x" * MAX_HEADER_BYTES)
    with pytest.raises(JwsError, match="limit is 65,536"):
        parse_compact(_token(header))


def test_a_long_but_legal_header_is_accepted() -> None:
    token = _token(_header(x5c=[_der_b64(LEAF)] + [_der_b64(CA_CERT)] * 20))
    assert len(token.split(".")[0]) < MAX_HEADER_BYTES
    assert len(parse_compact(token).certificates) == 21


def test_non_str_input_raises_jws_error() -> None:
    with pytest.raises(JwsError, match="not text"):
        parse_compact(b"abc")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- property: only JwsError


_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_headers = st.one_of(
    _json_values,
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["ES256", "none", "RS256"]) | st.text(max_size=6)},
        optional={
            "x5c": st.lists(
                st.sampled_from([_der_b64(LEAF), _der_b64(CA_CERT), _der_b64(_RSA_LEAF), "AAAA", ""])
                | st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
                | _json_values,
                max_size=3,
            )
            | _json_values,
            "crit": _json_values,
            "b64": _json_values,
        },
    ),
)
_parts = st.one_of(
    st.text(alphabet=_B64URL_ALPHABET, max_size=120),
    st.binary(max_size=90).map(_b64url),
    st.just(_GOOD_SIGNATURE),
    st.text(max_size=20),
)


@settings(database=None, max_examples=300)
@given(st.text())
def test_any_text_yields_a_parse_or_jws_error(token: str) -> None:
    try:
        parse_compact(token)
    except JwsError as exc:
        assert exc.reason


@settings(database=None, max_examples=300)
@given(_headers, _parts, _parts)
def test_structured_garbage_yields_a_parse_or_jws_error(header: Any, payload: str, signature: str) -> None:
    token = f"{_b64url(json.dumps(header).encode())}.{payload}.{signature}"
    try:
        verify_detached(token, PAYLOAD)
    except JwsError as exc:
        assert exc.reason


@settings(database=None, max_examples=300)
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1), st.characters())
def test_any_single_character_change_fails_cleanly(position: int, char: str) -> None:
    mutated = TOKEN[:position] + char + TOKEN[position + 1:]
    try:
        verify_detached(mutated, PAYLOAD)
    except JwsError:
        return
    # It may still verify only where base64 decoding ignores the change (the same character, or the
    # unused low bits of the signature's last character): then the signed bytes are unchanged.
    before, after = parse_compact(TOKEN), parse_compact(mutated)
    assert after.signature == before.signature
    assert after.signing_input(PAYLOAD) == before.signing_input(PAYLOAD)


# --------------------------------------------------------------------------- leaf_serial_number


def test_leaf_serial_number_absent() -> None:
    assert leaf_serial_number(CA_CERT) is None


def test_leaf_serial_number_ambiguous_is_none() -> None:
    cert = _cert(_name("x", "111", extra_serial="222"), KEY.public_key(), CA_KEY)
    assert leaf_serial_number(cert) is None


def test_leaf_serial_number_repeated_same_value() -> None:
    cert = _cert(_name("x", "111", extra_serial="111"), KEY.public_key(), CA_KEY)
    assert leaf_serial_number(cert) == "111"


# --------------------------------------------------------------------------- the shared example bundles


def _examples() -> list[Path]:
    return sorted(SHARED_EXAMPLES.glob("ex-*.json")) if SHARED_EXAMPLES.is_dir() else []


def _signed_content(bundle: dict[str, Any]) -> tuple[str, bytes]:
    resources = [e["resource"] for e in bundle["entry"]]
    provenance = next(r for r in resources if r["resourceType"] == "Provenance")
    targets = {t["reference"] for t in provenance["target"]}
    requests = [r for r in resources if r["resourceType"] == "MedicationRequest" and f"MedicationRequest/{r['id']}" in targets]
    assert len(requests) == len(targets)
    token = base64.b64decode(provenance["signature"][0]["data"], validate=True).decode("ascii")
    return token, prescription_content(requests)


@pytest.mark.skipif(not _examples(), reason="the shared example bundles (/work/shared/examples) are not present")
@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem)
def test_shared_example_signatures(path: Path) -> None:
    token, content = _signed_content(json.loads(path.read_text("utf-8")))
    if path.stem == "ex-tampered":
        with pytest.raises(JwsError, match="does not verify"):
            verify_detached(token, content)
        return
    leaf = verify_detached(token, content)
    ca = x509.load_pem_x509_certificate((SHARED_EXAMPLES / "pki" / "ca.pem").read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert leaf_serial_number(leaf) is not None
