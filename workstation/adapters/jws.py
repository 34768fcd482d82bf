"""JWS compact serialization (RFC 7515) with ES256 and an x5c chain: the e-signatures (电子签名) on prescriptions.

Intake profile §7: a prescriber signs the JCS bytes of a prescription as a JWS with a *detached*
payload (RFC 7515 appendix F, ``header..signature``); the protected header is exactly
``{"alg":"ES256","x5c":[leaf, …]}`` and the signature is the raw 64-byte ``r‖s`` of RFC 7518 §3.4,
not DER. This module only proves that the leaf certificate's key made the signature. Whether the
chain ends in a trusted root, whether the leaf was valid at ``authoredOn`` and whether it belongs
to the prescriber are decided elsewhere (``leaf_serial_number`` gives the licence number to compare).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

ALGORITHM = "ES256"
# A chain of a few P-256 certificates encodes to 1–3 KiB; 64 KiB leaves room for long chains while
# keeping a hostile header from costing real memory and time before it is rejected.
MAX_HEADER_BYTES = 64 * 1024
_COORDINATE_BYTES = 32  # P-256: r and s are 32 bytes each (RFC 7518 §3.4)
_SIGNATURE_BYTES = 2 * _COORDINATE_BYTES

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PART_ZH = {"header": "头部", "payload": "载荷", "signature": "签名值"}


class JwsError(Exception):
    """The token is malformed or its signature does not verify; ``reason`` says which, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A syntactically valid ES256 JWS in compact form, not yet verified."""

    header: dict[str, Any]
    certificates: list[x509.Certificate]  # from x5c, leaf first
    signing_input_prefix: bytes  # ASCII ``<protected header>.``; the payload's base64url completes it
    signature: bytes  # raw r‖s, 64 bytes
    payload: bytes | None  # None for a detached payload (``header..signature``)

    @property
    def leaf(self) -> x509.Certificate:
        """The signer's certificate (x5c[0])."""
        return self.certificates[0]

    def signing_input(self, payload: bytes) -> bytes:
        """The bytes the signature covers for ``payload`` (RFC 7515 §5.1 step 8)."""
        return self.signing_input_prefix + _b64url_encode(payload).encode("ascii")


# --------------------------------------------------------------------------- signing


def sign_detached(
    payload: bytes, private_key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> str:
    """Sign ``payload`` and return ``header..signature`` (the payload travels separately)."""
    protected, signature = _sign(payload, private_key, chain)
    return f"{protected}..{signature}"


def sign_attached(
    payload: bytes, private_key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> str:
    """Sign ``payload`` and return ``header.payload.signature``.

    An empty payload encodes to nothing, so its token is indistinguishable from a detached one;
    :func:`parse_compact` reports ``payload=None`` for it.
    """
    protected, signature = _sign(payload, private_key, chain)
    return f"{protected}.{_b64url_encode(payload)}.{signature}"


def _sign(
    payload: bytes, private_key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> tuple[str, str]:
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError(f"ES256 needs a P-256 key, got {private_key.curve.name}")
    if not chain:
        raise ValueError("the certificate chain is empty: x5c needs at least the signer's certificate")
    # A leaf that does not hold the signing key yields tokens that can never verify: refuse early.
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key != private_key.public_key():
        raise ValueError("the first certificate of the chain does not hold the signing key's public key")
    x5c = [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in chain]
    header = {"alg": ALGORITHM, "x5c": x5c}
    protected = _b64url_encode(json.dumps(header, separators=(",", ":")).encode("ascii"))
    signing_input = f"{protected}.{_b64url_encode(payload)}".encode("ascii")
    r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
    return protected, _b64url_encode(raw)


# --------------------------------------------------------------------------- parsing


def parse_compact(token: str) -> ParsedJws:
    """Split and check a compact ES256 JWS. Raises only :class:`JwsError`, for any input."""
    if not isinstance(token, str):
        raise JwsError(f"签名不是文本 / the signature is not text but {type(token).__name__}")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError(
            f"签名格式错误 / not a JWS compact serialization: expected 3 parts separated by '.', found {len(parts)}"
        )
    protected, payload_part, signature_part = parts
    if not protected:
        raise JwsError("签名缺少头部 / the JWS has an empty protected header")
    if len(protected) > MAX_HEADER_BYTES:
        raise JwsError(
            f"签名头部过大 / the JWS header is {len(protected):,} bytes, the limit is {MAX_HEADER_BYTES:,}"
        )
    header = _parse_header(_b64url_decode(protected, "header"))
    certificates = _certificates(header)
    # Check the length before decoding: a raw ES256 signature is 64 bytes = 86 base64url characters.
    if len(signature_part) != _b64url_length(_SIGNATURE_BYTES):
        raise JwsError(
            "签名值长度错误 / the ES256 signature must be 64 bytes (raw r‖s, RFC 7518 §3.4), "
            f"its encoding has {len(signature_part)} characters instead of {_b64url_length(_SIGNATURE_BYTES)}"
        )
    signature = _b64url_decode(signature_part, "signature")
    if len(signature) != _SIGNATURE_BYTES:
        raise JwsError(f"签名值长度错误 / the ES256 signature is {len(signature)} bytes, expected 64")
    payload = _b64url_decode(payload_part, "payload") if payload_part else None
    return ParsedJws(
        header=header,
        certificates=certificates,
        signing_input_prefix=protected.encode("ascii") + b".",
        signature=signature,
        payload=payload,
    )


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise JwsError("签名头部不是 UTF-8 / the JWS header is not UTF-8 text") from None
    except _DuplicateKey as exc:
        # RFC 7515 §4: a header with duplicate names must be rejected (or read last-wins); we reject.
        raise JwsError(f"签名头部有重复字段 / the JWS header repeats the name {exc.name!r}") from None
    except RecursionError:
        raise JwsError("签名头部嵌套过深 / the JWS header is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers past the digit limit
        raise JwsError(f"签名头部不是合法 JSON / the JWS header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise JwsError("签名头部不是 JSON 对象 / the JWS header is not a JSON object")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise JwsError(f"不支持的签名算法 / unsupported JWS algorithm {alg!r}: only ES256 is accepted")
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions listed in crit must be understood; this profile defines none.
        raise JwsError(f"签名头部含未知的关键扩展 / the JWS header has critical extensions {header['crit']!r}")
    if header.get("b64", True) is not True:
        raise JwsError("不支持未编码的载荷 / unencoded payloads (RFC 7797 b64=false) are not accepted")
    return header


class _DuplicateKey(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateKey(name)
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    chain = header.get("x5c")
    if chain is None:
        raise JwsError("签名缺少证书链 / the JWS header has no x5c certificate chain")
    if not isinstance(chain, list) or not chain:
        raise JwsError("签名证书链为空或不是数组 / x5c must be a non-empty array of certificates")
    certificates = []
    for i, item in enumerate(chain):
        # x5c uses standard base64 with padding (RFC 7515 §4.1.6), unlike the rest of the token.
        if not isinstance(item, str) or not item or len(item) % 4 or not _B64STD.fullmatch(item):
            raise JwsError(f"证书链第 {i + 1} 项不是 base64 / x5c[{i}] is not a base64 string")
        # InvalidVersion is not a ValueError. Warning: cryptography warns about some malformed fields (a
        # negative serial number), and where warnings are errors (-W error, the test suite) raises them.
        try:
            der = base64.b64decode(item, validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except (ValueError, x509.InvalidVersion, Warning):
            raise JwsError(f"证书链第 {i + 1} 项不是 X.509 证书 / x5c[{i}] is not a DER X.509 certificate") from None
    # The subject is decoded lazily; reading it here keeps leaf_serial_number from failing later
    # (TypeError: an attribute value of a type its OID does not allow).
    try:
        key = certificates[0].public_key()
        _ = certificates[0].subject
    except (ValueError, TypeError, UnsupportedAlgorithm, Warning):
        raise JwsError("签名证书无法读取 / the signer certificate's public key or subject cannot be read") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise JwsError("签名证书不是 P-256 密钥 / the signer certificate does not hold a P-256 key, as ES256 needs")
    return certificates


# --------------------------------------------------------------------------- verification


def verify_detached(token: str, payload: bytes) -> x509.Certificate:
    """Check that the leaf of ``token``'s x5c signed ``payload``; return that leaf. Raises JwsError."""
    parsed = parse_compact(token)
    if parsed.payload is not None:
        raise JwsError(
            "签名未分离载荷 / the JWS carries its payload; a detached signature (header..signature) is expected"
        )
    _verify(parsed, parsed.signing_input(payload))
    return parsed.leaf


def verify_attached(token: str) -> tuple[x509.Certificate, bytes]:
    """Check an attached-payload JWS; return the signer's leaf certificate and the payload."""
    parsed = parse_compact(token)
    if parsed.payload is None:
        raise JwsError("签名没有载荷 / the JWS has no attached payload")
    _verify(parsed, parsed.signing_input(parsed.payload))
    return parsed.leaf, parsed.payload


def _verify(parsed: ParsedJws, signing_input: bytes) -> None:
    key = parsed.leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # parse_compact accepts only P-256 leaves
    r = int.from_bytes(parsed.signature[:_COORDINATE_BYTES], "big")
    s = int.from_bytes(parsed.signature[_COORDINATE_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise JwsError(
            "签名验证失败 / the signature does not verify: "
            "the content changed after signing, or another key signed it"
        ) from None


def leaf_serial_number(cert: x509.Certificate) -> str | None:
    """The subject's serialNumber (OID 2.5.4.5): a physician's licence number (执业证书编码).

    None when absent, and also when the subject carries two different values: such a certificate
    would claim two licences, so it must match no one.
    """
    values = {a.value if isinstance(a.value, str) else a.value.decode("utf-8", "replace")
              for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)}
    return values.pop() if len(values) == 1 else None


# --------------------------------------------------------------------------- base64url


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_length(n: int) -> int:
    return (4 * n + 2) // 3


def _b64url_decode(part: str, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding; anything else (padding, '+', '/', spaces) is malformed.
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise JwsError(f"签名的{_PART_ZH[what]}不是 base64url / the JWS {what} is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise JwsError(f"签名的{_PART_ZH[what]}不是 base64url / the JWS {what} is not base64url") from None
