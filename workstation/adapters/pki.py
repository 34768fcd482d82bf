"""Pharmacists' signing identities (药师电子签名证书): the pharmacy CA, certificates, PIN-locked keys, imports.

A pharmacy without a certificate from a CA (电子认证服务机构) runs its own: ``create_pharmacy_ca`` makes a
self-signed CA and ``issue_pharmacist_certificate`` gives each pharmacist a P-256 certificate whose
subject ``serialNumber`` (OID 2.5.4.5) is the pharmacist's licence number (执业药师注册证号), the same
shape the intake profile §7 gives physicians, so ``signature.trusted_path`` judges both. A pharmacy that
has CA-issued certificates imports them with ``load_credential``. A private key is kept only encrypted
under the pharmacist's password and PIN together (``key_passphrase``, ``encrypt_private_key``), as a standard
PKCS#8 ``ENCRYPTED PRIVATE KEY``: a copy of the database cannot be opened by trying the PIN space alone.
"""

from __future__ import annotations

import base64
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from workstation.adapters.jws import leaf_serial_number
from workstation.domain.errors import DomainError

ORGANISATION = "互联网医院药房"
# OWASP's 2023 figure for PBKDF2-HMAC-SHA256. Measured on a 2-core build machine: one decryption takes
# about 0.07 s, so unlocking the key for a signature stays far below the 0.5 s a pharmacist notices.
# A 6-digit PIN is still a small space; the rounds make each offline guess cost that much CPU.
PIN_KDF_ROUNDS = 600_000
MIN_PIN_LENGTH = 6
_SALT_BYTES = 16
_AES_KEY_BYTES = 32

# The algorithm identifiers of a PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018 appendix A.4, C).
_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_HMAC_SHA256 = "1.2.840.113549.2.9"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = frozenset({b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"EC PRIVATE KEY"})


class WrongPin(DomainError):
    """The PIN does not unlock the stored private key (or, for a caller that checks PINs itself, was wrong)."""

    def __init__(self, message: str = "PIN 不正确 / wrong PIN: it does not unlock this signing key") -> None:
        super().__init__(message)


class WeakPin(DomainError):
    """A new PIN breaks the PIN policy; ``reason`` says which rule, in Chinese and English."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CredentialError(DomainError):
    """A key or certificate cannot be used for signing; ``reason`` says why, in Chinese and English."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WrongPassword(CredentialError):
    """The password does not open an imported key file (or the file is damaged)."""


# --------------------------------------------------------------------------- keys and certificates


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 key, the curve ES256 needs."""
    return ec.generate_private_key(ec.SECP256R1())


def create_pharmacy_ca(
    name: str, *, now: datetime, years: int = 10
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA that issues only end-entity certificates (pathLen 0), valid from ``now``."""
    start = _second(now)
    key = generate_key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=round(365.25 * years)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_pharmacist_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    name: str,
    licence: str,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    days: int = 730,
) -> x509.Certificate:
    """A pharmacist's signing certificate: CN = name, serialNumber = licence, nonRepudiation.

    It ends no later than the CA does, since a chain is only as valid as its shortest certificate.
    """
    start = _second(now)
    if not licence:
        raise ValueError("a pharmacist certificate needs the licence number (执业药师注册证号)")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("the pharmacist's key must be a P-256 key, as ES256 needs")
    if _public_der(ca_cert.public_key()) != _public_der(ca_key.public_key()):
        raise ValueError("the CA key does not belong to the CA certificate")
    end = min(start + timedelta(days=days), ca_cert.not_valid_after_utc)
    if not ca_cert.not_valid_before_utc <= start < end:
        raise ValueError(f"the CA certificate is not valid at {start.isoformat()}")
    organisation = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        *(organisation or [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)]),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, licence),
    ])
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Content commitment (non-repudiation): the key signs review decisions, not TLS sessions.
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
               key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=content_commitment, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign,
        encipher_only=False, decipher_only=False,
    )


def _second(now: datetime) -> datetime:
    # X.509 times hold whole seconds; truncating here keeps notBefore from lying after a signature made
    # in the same second.
    if now.utcoffset() is None:
        raise ValueError("now must carry a time zone")
    return now.replace(microsecond=0)


def _public_der(key: object) -> bytes:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------- the PIN


def _normalise_pin(pin: str) -> str:
    # A Chinese input method may type full-width digits (１２３４５６); NFKC makes them the digits the
    # pharmacist meant, so the same PIN unlocks the key whichever mode the keyboard was in.
    return unicodedata.normalize("NFKC", pin)


def check_pin_policy(pin: str) -> None:
    """Refuse a PIN that is short, one character repeated, a run like 123456 or a repeated block like 121212."""
    pin = _normalise_pin(pin)
    if len(pin) < MIN_PIN_LENGTH:
        raise WeakPin(f"PIN 至少 {MIN_PIN_LENGTH} 位 / the PIN must have at least {MIN_PIN_LENGTH} characters")
    if len(set(pin)) == 1:
        raise WeakPin("PIN 不能全是同一个字符 / the PIN must not be one character repeated")
    steps = {ord(b) - ord(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {-1}):
        raise WeakPin("PIN 不能是连续序列（如 123456、654321）/ the PIN must not be a simple run such as 123456")
    if any(len(pin) % n == 0 and pin == pin[:n] * (len(pin) // n) for n in (2, 3)):
        raise WeakPin("PIN 不能是重复的短序列（如 121212、123123）/ the PIN must not repeat a block such as 121212")


def key_passphrase(password: str, pin: str) -> str:
    """The secret a pharmacist's private key is encrypted under: password and PIN, both needed.

    The password's length leads, so no two (password, PIN) pairs give the same passphrase."""
    return f"{len(password)}:{password}\x00{_normalise_pin(pin)}"


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, pin: str) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY`` (PKCS#8, PBES2: PBKDF2-HMAC-SHA256 × PIN_KDF_ROUNDS, AES-256-CBC).

    Built here because cryptography's PKCS#8 encryption has no setting for the rounds: its
    ``encryption_builder`` serves only OpenSSH and PKCS#12, and a PKCS#12 file is no way out, since its
    MAC turns a wrong PIN away in a fraction of a millisecond, so PINs could be tried without paying
    for the rounds. Any PKCS#8 reader (OpenSSL, cryptography) opens the result.
    """
    salt, iv = os.urandom(_SALT_BYTES), os.urandom(16)
    aes_key = _derive(_normalise_pin(pin), salt, PIN_KDF_ROUNDS)
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    prf = _seq(_oid(_OID_HMAC_SHA256), b"\x05\x00")  # parameters NULL (RFC 8018 appendix B.1.2)
    pbkdf2 = _seq(_oid(_OID_PBKDF2), _seq(_octets(salt), _int(PIN_KDF_ROUNDS), prf))
    pbes2 = _seq(_oid(_OID_PBES2), _seq(pbkdf2, _seq(_oid(_OID_AES256_CBC), _octets(iv))))
    der = _seq(pbes2, _octets(ciphertext))
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"".join([b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n", *(line + b"\n" for line in lines),
                     b"-----END ENCRYPTED PRIVATE KEY-----\n"])


def decrypt_private_key(pem: bytes, pin: str) -> ec.EllipticCurvePrivateKey:
    """Unlock a key made by :func:`encrypt_private_key`. Raises WrongPin, or CredentialError if damaged."""
    if not isinstance(pem, bytes) or b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in pem:
        raise CredentialError(
            "保存的签名密钥不是加密的 PKCS#8 / the stored signing key is not an encrypted PKCS#8 key"
        )
    try:
        key = serialization.load_pem_private_key(pem, _normalise_pin(pin).encode("utf-8"))
    except ValueError:
        # Decryption with a wrong key fails the padding check, which a damaged file rarely passes either.
        raise WrongPin() from None
    except (TypeError, UnsupportedAlgorithm):
        raise CredentialError("保存的签名密钥无法读取 / the stored signing key cannot be read") from None
    return _p256(key)


def _derive(pin: str, salt: bytes, rounds: int) -> bytes:
    return PBKDF2HMAC(hashes.SHA256(), _AES_KEY_BYTES, salt, rounds).derive(pin.encode("utf-8"))


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _octets(data: bytes) -> bytes:
    return _der(0x04, data)


def _int(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))  # the extra byte keeps the sign bit clear


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


# --------------------------------------------------------------------------- importing a CA-issued credential


def load_credential(
    data: bytes, password: str | None
) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """A signing key and its certificate chain (leaf first) from PKCS#12 (.p12/.pfx) or PEM bytes.

    PEM may hold the key (plain, or encrypted with ``password``) and the certificates in any order.
    Refuses keys other than P-256, certificates that do not hold the key, and a leaf with no licence
    number (subject serialNumber). Raises CredentialError (WrongPassword for a password that does not fit).
    """
    if b"-----BEGIN" in data:
        key, certificates = _from_pem(data, password)
    else:
        key, certificates = _from_pkcs12(data, password)
    return _checked(key, certificates)


def load_credential_files(
    paths: Sequence[Path], password: str | None
) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """:func:`load_credential` over one PKCS#12 file, or one or more PEM files (key and certificates)."""
    if not paths:
        raise CredentialError("未指定证书文件 / no credential file was given")
    contents = []
    for path in paths:
        try:
            contents.append(Path(path).read_bytes())
        except OSError as exc:
            raise CredentialError(f"无法读取 {path} / cannot read {path}: {exc.strerror or exc}") from None
    if len(contents) > 1 and not all(b"-----BEGIN" in c for c in contents):
        raise CredentialError(
            "PKCS#12 文件已包含密钥和证书，请单独导入 / a PKCS#12 file holds the key and its certificates "
            "itself: import it alone, or give PEM files only"
        )
    return load_credential(b"\n".join(contents), password)


def _from_pem(data: bytes, password: str | None) -> tuple[object, list[x509.Certificate]]:
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    keys = [block for label, block in blocks if label in _KEY_LABELS]
    if not keys:
        raise CredentialError("PEM 中没有私钥 / the PEM data holds no private key")
    if len(keys) > 1:
        raise CredentialError(
            f"PEM 中有 {len(keys)} 个私钥，应为一个 / the PEM data holds {len(keys)} private keys, not one"
        )
    secret = password.encode("utf-8") if password else None
    try:
        try:
            key = serialization.load_pem_private_key(keys[0], secret)
        except TypeError:
            if secret is None:
                raise WrongPassword("私钥已加密，请输入密码 / the private key is encrypted: give its password") from None
            # A password typed for a key that turns out to be plain is no reason to refuse it.
            key = serialization.load_pem_private_key(keys[0], None)
    except ValueError:
        raise WrongPassword("密码错误或私钥已损坏 / wrong password, or the private key is damaged") from None
    except UnsupportedAlgorithm:
        raise CredentialError("私钥类型不受支持 / the private key's type is not supported") from None
    return key, certificates_from_pem(b"\n".join(block for label, block in blocks if label == b"CERTIFICATE"))


def _from_pkcs12(data: bytes, password: str | None) -> tuple[object, list[x509.Certificate]]:
    if not data.startswith(b"\x30"):  # a DER SEQUENCE; anything else is neither PKCS#12 nor PEM
        raise CredentialError(
            "文件既不是 PKCS#12 (.p12/.pfx) 也不是 PEM / the file is neither PKCS#12 (.p12/.pfx) nor PEM"
        )
    try:
        key, cert, others = pkcs12.load_key_and_certificates(
            data, password.encode("utf-8") if password else None
        )
    except ValueError:
        raise WrongPassword(
            "密码错误或 PKCS#12 文件已损坏 / wrong password, or the PKCS#12 file is damaged"
        ) from None
    except UnsupportedAlgorithm:
        raise CredentialError(
            "PKCS#12 文件使用了不受支持的算法 / the PKCS#12 file uses an unsupported algorithm"
        ) from None
    if key is None:
        raise CredentialError("PKCS#12 文件中没有私钥 / the PKCS#12 file holds no private key")
    return key, [c for c in (cert, *others) if c is not None]


def _p256(key: object) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise CredentialError(
            f"密钥不是 P-256 椭圆曲线密钥（实为 {kind}）/ the key is {kind}, not a P-256 key as ES256 needs"
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise CredentialError(
            f"密钥曲线是 {key.curve.name}，不是 P-256 / the key is on {key.curve.name}, not P-256 as ES256 needs"
        )
    return key


def _checked(
    key: object, certificates: Sequence[x509.Certificate]
) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """The key must be P-256; the chain is reordered to start with the certificate that holds it."""
    signing_key = _p256(key)
    if not certificates:
        raise CredentialError("没有证书 / no certificate came with the key")
    own = _public_der(signing_key.public_key())
    leaf = next((c for c in certificates if _public_der(c.public_key()) == own), None)
    if leaf is None:
        raise CredentialError(
            "证书与私钥不匹配 / none of the certificates holds this key's public key: the key and the "
            "certificate do not belong together"
        )
    if leaf_serial_number(leaf) is None:
        raise CredentialError(
            "证书中没有执业药师注册证号 / the certificate carries no licence number (subject serialNumber, "
            "OID 2.5.4.5), so its signatures could not be matched to a pharmacist"
        )
    try:
        is_ca = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise CredentialError(
            "这是 CA 证书，不是个人签名证书 / this is a CA certificate, not a personal signing certificate"
        )
    return signing_key, _ordered(leaf, certificates)


def _ordered(leaf: x509.Certificate, certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Leaf, then each issuer in turn, then whatever else came along; duplicates dropped."""
    rest: list[x509.Certificate] = []
    for cert in certificates:
        if cert != leaf and cert not in rest:
            rest.append(cert)
    chain = [leaf]
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in rest if c.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        rest.remove(issuer)
        chain.append(issuer)
    return chain + rest


# --------------------------------------------------------------------------- PEM


def certificate_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    """The certificates as concatenated PEM blocks, in the given order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def certificates_from_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate of PEM ``data``, in order. Raises CredentialError for none or an unreadable one."""
    # Warning: cryptography warns about some malformed fields, which become errors under -W error.
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except (ValueError, Warning):
        raise CredentialError(
            "没有可读取的 PEM 证书 / no readable PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    return certificates
