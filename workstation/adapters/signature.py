"""Verify a prescriber's e-signature (处方电子签名) per intake profile §7: content, chain of trust, validity, signer.

``jws`` proves only that the x5c leaf's key signed the bytes. This module decides the rest: that the
Provenance is an author's signature over exactly this prescription's items, that the leaf chains to a
trust anchor the pharmacy configured, that every certificate of that chain was valid when the
prescription was written, and that the signer is the requester (a Practitioner whose licence number
is the leaf subject's serialNumber). The chain walk uses cryptography primitives rather than
``x509.verification.PolicyBuilder``, whose web-PKI profiles demand EKUs and SANs that physician
certificates do not carry. The chain walk (``trusted_path``) and the validity check (``check_validity``)
are public so that the pharmacists' approval signatures on releases are judged by the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from workstation.adapters.fhir_bundle import AUTHOR_SIGNATURE
from workstation.adapters.jws import JwsError, leaf_serial_number, parse_compact, verify_detached
from workstation.domain.canonical import prescription_content
from workstation.domain.errors import DomainError
from workstation.domain.prescription import Prescriber, PrescriberKind, PrescriptionSnapshot, Signature

JOSE = "application/jose"
# Collisions can be made for MD5 and SHA-1, so a certificate signed over them may be forged.
_FORGEABLE_HASHES = (hashes.MD5, hashes.SHA1)
_MIN_RSA_BITS = 2048
# A physician's chain holds two or three certificates; the walk tries every pair, so a hostile x5c of
# a hundred look-alike certificates would cost thousands of signature checks before failing.
MAX_CHAIN_CERTIFICATES = 8
# Critical extensions this module understands (or that cannot narrow what a signature means, so they
# are safe to accept unprocessed). RFC 5280 §4.2: any other critical extension makes a certificate unusable.
_KNOWN_CRITICAL = frozenset({
    x509.BasicConstraints.oid,
    x509.KeyUsage.oid,
    x509.ExtendedKeyUsage.oid,
    x509.SubjectAlternativeName.oid,
    x509.CertificatePolicies.oid,
    x509.SubjectKeyIdentifier.oid,
    x509.AuthorityKeyIdentifier.oid,
})


class SignatureStatus(str, Enum):
    """The outcome of checking a prescription's e-signature."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Status, why (for a pharmacist, in Chinese and English) and who signed, as far as it could be read."""

    status: SignatureStatus
    reason_zh: str | None
    reason_en: str | None
    signer_licence: str | None  # the leaf subject's serialNumber (执业证书编码), when a leaf was read
    signer_subject: str | None  # the leaf subject as RFC 4514 text, when a leaf was read


class TrustAnchorError(DomainError):
    """A configured trust-anchor file cannot be used; ``path`` names it and ``reason`` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SignatureRejected(DomainError):
    """A check of a signature or its certificates failed; ``zh`` and ``en`` say why, for a pharmacist."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


# --------------------------------------------------------------------------- trust anchors


def load_trust_anchors(paths: Iterable[Path]) -> tuple[x509.Certificate, ...]:
    """Read the CA certificates of PEM files (several per file allowed). Raises TrustAnchorError."""
    anchors: list[x509.Certificate] = []
    for raw_path in paths:
        path = Path(raw_path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TrustAnchorError(
                path, f"无法读取根证书文件 / cannot read the trust-anchor file: {exc.strerror or exc}"
            ) from None
        # Warning: cryptography warns about some malformed fields, which become errors under -W error.
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except (ValueError, Warning):
            raise TrustAnchorError(
                path, "文件不是 PEM 格式的证书 / the file holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)"
            ) from None
        for n, cert in enumerate(certificates, start=1):
            try:
                cert.public_key()
                constraints = _basic_constraints(cert)
            except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, Warning):
                raise TrustAnchorError(
                    path, f"第 {n} 个证书无法读取 / certificate {n} in the file cannot be read"
                ) from None
            # A physician's own certificate configured as an anchor would let its key vouch for anyone.
            if constraints is None or not constraints.ca:
                raise TrustAnchorError(
                    path,
                    f"第 {n} 个证书不是 CA 证书，不能作为根证书 / certificate {n} in the file is not a CA "
                    "certificate (basicConstraints CA=true) and cannot be a trust anchor",
                )
            anchors.append(cert)
    return tuple(anchors)


# --------------------------------------------------------------------------- verification


def verify_prescriber_signature(
    snapshot: PrescriptionSnapshot, anchors: Sequence[x509.Certificate]
) -> SignatureCheck:
    """Check the prescriber's signature of ``snapshot`` against ``anchors``; never raises."""
    leaf: x509.Certificate | None = None
    try:
        signature = snapshot.signature
        if signature is None:
            return SignatureCheck(
                SignatureStatus.MISSING,
                "处方没有医师电子签名",
                "the prescription carries no prescriber e-signature",
                None,
                None,
            )
        if not signature.jws:
            return SignatureCheck(
                SignatureStatus.MISSING,
                "签名中没有可读取的签名数据",
                "the signature carries no readable signature data",
                None,
                None,
            )
        _check_envelope(signature, snapshot)
        payload = prescription_content(_medication_requests(snapshot))
        try:
            parsed = parse_compact(signature.jws)
        except JwsError as exc:
            zh, en = split_reason(exc.reason)
            raise SignatureRejected(f"签名数据无法解析：{zh}", f"the signature cannot be read: {en}") from None
        leaf = parsed.leaf
        if parsed.payload is not None:
            raise SignatureRejected("签名未采用分离载荷格式", "the signature carries its payload instead of a detached one")
        try:
            verify_detached(signature.jws, payload)
        except JwsError:
            raise SignatureRejected(
                "签名与处方内容不符：签名后处方内容被改动",
                "the signature does not match the prescription: it was changed after it was signed",
            ) from None
        path = trusted_path(parsed.certificates, anchors)
        _check_validity(path, snapshot)
        _check_signer_is_requester(leaf, signature, snapshot.prescriber)
    except SignatureRejected as failure:
        return _check(SignatureStatus.INVALID, failure.zh, failure.en, leaf)
    except Exception as exc:
        # Backstop: every expected failure above has its own reason, but a review must never crash on
        # a hostile or damaged bundle, so whatever slipped through still yields "invalid".
        return _check(
            SignatureStatus.INVALID,
            "签名无法核验：数据异常",
            f"the signature cannot be checked: the data is malformed ({type(exc).__name__})",
            leaf,
        )
    return _check(SignatureStatus.VALID, None, None, leaf)


def _check(status: SignatureStatus, zh: str | None, en: str | None, leaf: x509.Certificate | None) -> SignatureCheck:
    licence: str | None = None
    subject: str | None = None
    if leaf is not None:
        try:
            licence = leaf_serial_number(leaf)
            subject = leaf.subject.rfc4514_string()
        except Exception:  # an unreadable subject only costs the display, not the verdict
            pass
    return SignatureCheck(status, zh, en, licence, subject)


def split_reason(reason: str) -> tuple[str, str]:
    """``jws`` reasons read "中文 / English"; split them, or use the whole text for both."""
    zh, sep, en = reason.partition(" / ")
    return (zh, en) if sep else (reason, reason)


def _check_envelope(signature: Signature, snapshot: PrescriptionSnapshot) -> None:
    """The Provenance must be an author's JOSE signature over exactly the prescription's items."""
    if signature.sig_format != JOSE:
        raise SignatureRejected(
            f"签名格式不是 {JOSE}（实为 {signature.sig_format or '未注明'}）",
            f"the signature format is {signature.sig_format or 'not stated'}, not {JOSE}",
        )
    if AUTHOR_SIGNATURE not in signature.type_codes:
        raise SignatureRejected(
            "签名类型不是作者签名（Author's Signature）",
            f"the signature is not marked as the author's signature ({AUTHOR_SIGNATURE})",
        )
    if not snapshot.items:
        raise SignatureRejected("处方没有药品条目，签名无从核对", "the prescription has no items to check the signature against")
    item_ids = [item.fhir_id for item in snapshot.items]
    targets = {_plain_id(t) for t in signature.target_ids}
    uncovered = [i for i in item_ids if i not in targets]
    if uncovered:
        listed = "、".join(uncovered)
        raise SignatureRejected(
            f"签名未覆盖处方的全部药品条目（未覆盖：{listed}）",
            f"the signature does not cover every item of the prescription (not covered: {', '.join(uncovered)})",
        )
    extra = sorted(targets.difference(item_ids))
    if extra:
        raise SignatureRejected(
            f"签名还涵盖了本处方以外的条目（{'、'.join(extra)}）",
            f"the signature also covers items that are not in this prescription ({', '.join(extra)})",
        )


def _plain_id(target: str) -> str:
    # Intake names a target by its bundle key: "MedicationRequest/<id>", or the fullUrl of a request
    # that had no id (whose id intake then took from the fullUrl's last segment). FHIR ids hold neither
    # "/" nor ":", so reducing both forms to that segment is unambiguous.
    return target.rsplit("/", 1)[-1].removeprefix("urn:uuid:")


def _medication_requests(snapshot: PrescriptionSnapshot) -> list[Mapping[str, Any]]:
    requests: list[Mapping[str, Any]] = []
    for item in snapshot.items:
        try:
            resource = json.loads(item.resource_json)
        except (ValueError, TypeError, RecursionError):
            resource = None
        if not isinstance(resource, dict):
            raise SignatureRejected(
                f"药品条目 {item.fhir_id} 的内容无法读取，签名无从核对",
                f"item {item.fhir_id} cannot be read, so the signature cannot be checked",
            )
        requests.append(resource)
    return requests


# --------------------------------------------------------------------------- chain of trust


def trusted_path(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Walk from the leaf to an anchor; return [leaf, intermediates…, anchor]. Raises SignatureRejected."""
    if not anchors:
        raise SignatureRejected("工作站未配置受信任的根证书，无法确认签名人", "no trust anchor is configured, so no signer can be trusted")
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise SignatureRejected(
            f"签名证书链过长（{len(chain)} 个证书）",
            f"the signing certificate chain is too long ({len(chain)} certificates, at most {MAX_CHAIN_CERTIFICATES})",
        )
    _check_signing_usage(chain[0])
    path = [chain[0]]
    spare = list(chain[1:])  # each x5c certificate may serve once, so the walk ends
    while True:
        child = path[-1]
        _check_certificate(child)
        # Anchors first: x5c may end with a copy of the root, or with a cross-certificate, neither needed.
        issuer = next((a for a in anchors if _issued_by(child, a)), None)
        if issuer is not None:
            _check_issuer(issuer, path)
            return [*path, issuer]
        issuer = next((c for c in spare if _issued_by(child, c)), None)
        if issuer is None:
            if _issued_by(child, child):
                raise SignatureRejected(
                    f"签名证书链的根证书不受信任（{display_name(child)}）",
                    f"the signing certificate chains to a root that is not trusted ({display_name(child)})",
                )
            raise SignatureRejected(
                f"签名证书链无法连接到受信任的根证书（缺少 {_display_name_of(child.issuer)} 的证书）",
                "the signing certificate is not trusted: its chain does not reach a trusted root "
                f"(no certificate of {_display_name_of(child.issuer)})",
            )
        _check_issuer(issuer, path)
        spare.remove(issuer)
        path.append(issuer)


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Names link and ``issuer``'s key verifies ``child``'s signature (RSA PKCS#1 v1.5/PSS, ECDSA, EdDSA)."""
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_certificate(cert: x509.Certificate) -> None:
    """Checks on each certificate below the anchor: a strong signature hash, no unknown critical extension."""
    try:
        algorithm = cert.signature_hash_algorithm  # None for Ed25519/Ed448, which hash internally
    except UnsupportedAlgorithm:
        raise SignatureRejected(
            f"证书 {display_name(cert)} 使用了无法识别的签名算法",
            f"the certificate of {display_name(cert)} is signed with an unknown algorithm "
            f"({cert.signature_algorithm_oid.dotted_string})",
        ) from None
    if isinstance(algorithm, _FORGEABLE_HASHES):
        raise SignatureRejected(
            f"证书 {display_name(cert)} 使用了不安全的签名算法（{algorithm.name}）",
            f"the certificate of {display_name(cert)} is signed with a weak algorithm ({algorithm.name})",
        )
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _KNOWN_CRITICAL:
            raise SignatureRejected(
                f"证书 {display_name(cert)} 含有无法处理的关键扩展",
                f"the certificate of {display_name(cert)} has a critical extension this workstation cannot process "
                f"({ext.oid.dotted_string})",
            )


def _check_signing_usage(leaf: x509.Certificate) -> None:
    """A leaf that restricts its key's use must allow signatures (digitalSignature or nonRepudiation)."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise SignatureRejected(
            "签名证书的密钥不允许用于签名",
            "the signing certificate's key may not be used for signatures (keyUsage)",
        )


def _check_issuer(issuer: x509.Certificate, below: Sequence[x509.Certificate]) -> None:
    """An issuer must be a CA allowed to sign certificates, with a path-length limit that fits, and a sound key."""
    constraints = _basic_constraints(issuer)
    if constraints is None or not constraints.ca:
        raise SignatureRejected(
            f"签发证书 {display_name(issuer)} 不是 CA 证书",
            f"the issuing certificate {display_name(issuer)} is not a certificate authority",
        )
    # below = [leaf, intermediates…]: the intermediates under this issuer must not exceed its pathLen.
    if constraints.path_length is not None and len(below) - 1 > constraints.path_length:
        raise SignatureRejected(
            f"证书链长度超出 {display_name(issuer)} 允许的层级",
            f"the chain is longer than {display_name(issuer)} allows (path length {constraints.path_length})",
        )
    try:
        usage: x509.KeyUsage | None = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise SignatureRejected(
            f"{display_name(issuer)} 的密钥无权签发证书",
            f"the key of {display_name(issuer)} may not sign certificates (keyUsage lacks keyCertSign)",
        )
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        raise SignatureRejected(
            f"{display_name(issuer)} 的 RSA 密钥过短（{key.key_size} 位）",
            f"the RSA key of {display_name(issuer)} is too short ({key.key_size} bits)",
        )


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def display_name(cert: x509.Certificate) -> str:
    return _display_name_of(cert.subject)


def _display_name_of(name: x509.Name) -> str:
    """The common name a pharmacist recognises, else the full RFC 4514 text."""
    common = [a.value for a in name.get_attributes_for_oid(NameOID.COMMON_NAME) if isinstance(a.value, str)]
    return common[0] if common else (name.rfc4514_string() or "—")


# --------------------------------------------------------------------------- validity and identity


def _check_validity(path: Sequence[x509.Certificate], snapshot: PrescriptionSnapshot) -> None:
    """Every certificate of the path must be valid at every authoredOn."""
    times = [item.authored_on for item in snapshot.items]
    if not times or any(t is None or t.utcoffset() is None for t in times):
        raise SignatureRejected(
            "处方缺少带时区的开方时间（authoredOn），无法核对签名证书的有效期",
            "the prescription has no authoredOn with a time and zone, so the certificate's validity cannot be checked",
        )
    known = [t for t in times if t is not None]
    # A validity period is an interval, so checking the earliest and latest authoredOn covers every item.
    check_validity(path, min(known), max(known), moment_zh="开方时", moment_en="when the prescription was written")


def check_validity(
    path: Sequence[x509.Certificate], first: datetime, last: datetime, *, moment_zh: str, moment_en: str
) -> None:
    """Every certificate of ``path`` must be valid from ``first`` to ``last`` (bounds inclusive, RFC 5280 §4.1.2.5).

    ``moment_zh`` / ``moment_en`` name the event in the reason ("开方时" / "when the prescription was
    written"). Both times must carry a zone. Raises :class:`SignatureRejected`.
    """
    for position, cert in enumerate(path):
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        which_zh = "签名证书" if position == 0 else f"证书链中的 {display_name(cert)}"
        which_en = "the signing certificate" if position == 0 else f"the chain certificate {display_name(cert)}"
        if first < start:
            raise SignatureRejected(
                f"{moment_zh}（{_when(first)}）{which_zh}尚未生效（生效于 {_when(start, first)}）",
                f"{which_en} was not yet valid {moment_en} ({_when(first)}; valid from {_when(start, first)})",
            )
        if last > end:
            raise SignatureRejected(
                f"{moment_zh}（{_when(last)}）{which_zh}已过期（有效期至 {_when(end, last)}）",
                f"{which_en} had expired {moment_en} ({_when(last)}; valid until {_when(end, last)})",
            )


def _when(moment: datetime, zone_of: datetime | None = None) -> str:
    """A time in the prescription's own zone, as a pharmacist reads it."""
    shown = moment.astimezone((zone_of or moment).tzinfo)
    return shown.isoformat(sep=" ")


_KIND_ZH = {
    PrescriberKind.DEVICE: "软件设备",
    PrescriberKind.ORGANIZATION: "机构",
    PrescriberKind.OTHER: "非医师",
}
_KIND_EN = {
    PrescriberKind.DEVICE: "a software device",
    PrescriberKind.ORGANIZATION: "an organisation",
    PrescriberKind.OTHER: "not a physician",
}


def _check_signer_is_requester(leaf: x509.Certificate, signature: Signature, prescriber: Prescriber) -> None:
    """The requester must be a Practitioner whose licence is the leaf's, and the signature must name them."""
    if prescriber.kind is PrescriberKind.MISSING:
        raise SignatureRejected(
            "处方没有开方者，无法确认签名人就是开方者",
            "the prescription names no requester, so the signer cannot be the requester",
        )
    if prescriber.kind is PrescriberKind.UNRESOLVED:
        raise SignatureRejected(
            "开方者无法解析，无法确认签名人就是开方者",
            "the requester cannot be resolved, so the signer cannot be shown to be the requester",
        )
    if prescriber.kind is not PrescriberKind.PRACTITIONER:
        label = prescriber.device_name or prescriber.name or prescriber.reference or ""
        detail = f"（{label}）" if label else ""
        raise SignatureRejected(
            f"开方者是{_KIND_ZH.get(prescriber.kind, '非医师')}{detail}而不是医师：签名人不是开方者",
            f"the requester is {_KIND_EN.get(prescriber.kind, 'not a physician')}{f' ({label})' if label else ''}, "
            "not a physician: the signer is not the requester",
        )
    signer_licence = leaf_serial_number(leaf)
    if not prescriber.licence:
        raise SignatureRejected(
            "开方医师没有执业证书编码，无法与签名证书核对",
            "the prescriber has no licence number to compare with the signing certificate",
        )
    if signer_licence is None:
        raise SignatureRejected(
            "签名证书中没有执业证书编码",
            "the signing certificate carries no licence number (subject serialNumber)",
        )
    if signer_licence != prescriber.licence:
        raise SignatureRejected(
            f"签名证书属于执业证书编码为 {signer_licence} 的医师，不是开方医师（{prescriber.licence}）",
            f"the signing certificate belongs to licence {signer_licence}, "
            f"not to the prescriber (licence {prescriber.licence})",
        )
    if not _names_requester(signature.who_reference, prescriber):
        raise SignatureRejected(
            f"签名注明的签名人（{signature.who_reference or '未注明'}）不是开方者（{prescriber.reference}）",
            f"the signature names {signature.who_reference or 'no one'} as signer, "
            f"not the requester ({prescriber.reference})",
        )


def _names_requester(who: str | None, prescriber: Prescriber) -> bool:
    """signature.who may repeat the requester reference, or point at the Practitioner it resolves to."""
    if not who:
        return False
    if who == prescriber.reference:
        return True
    plain = who.split("/_history/", 1)[0]  # a versioned reference names the same resource
    target = f"Practitioner/{prescriber.fhir_id}" if prescriber.fhir_id else None
    return target is not None and (plain == target or plain.endswith("/" + target))
