"""Signing identities and signing sessions (电子签名): the pharmacy CA, enrolment, and the continuous-session rule.

- The pharmacy's own CA (embedded default) issues each pharmacist an ES256 certificate whose subject
  ``serialNumber`` is their licence number; a real deployment imports a CA-issued one instead.
- A private key is stored only encrypted: PKCS#8 under a key derived from the pharmacist's password and
  signing PIN together (neither is stored), re-encrypted when the password changes, so a copy of the database
  cannot be opened by trying the PIN space alone. The CA key is encrypted under a random passphrase kept in
  the OS keyring.
- Five wrong signing PINs in a row lock the credential for 15 minutes (audited); the count and the lock are
  stored with the credential, so a restart or another workstation does not reset them.
- 21 CFR 11.200 continuous session: the first signature of a session needs password and PIN, later
  ones the PIN; after 10 minutes idle or a lock, both again. The decrypted key lives only in the
  session's memory and is dropped when the session ends, locks or idles out.
- Signing is refused when this workstation's clock is more than 5 minutes off the database server's.
"""

from __future__ import annotations

import hmac
import math
import secrets as pysecrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, text

from workstation.adapters import pki, secrets
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.adapters.signature import SignatureRejected, trusted_path
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.errors import DomainError
from workstation.services import audit
from workstation.services.accounts import AccountService, check_password_policy, hash_password

IDLE_LIMIT = timedelta(minutes=10)
CLOCK_REFUSE = timedelta(minutes=5)
CLOCK_WARN = timedelta(seconds=60)
MAX_PIN_FAILURES = 5
PIN_LOCKOUT = timedelta(minutes=15)
BOUND = "password+pin"  # SigningCredential.key_binding of a key encrypted under both secrets
CA_NAME = "处方审核工作站 药房本地CA"
CA_SECRET = "pharmacy-ca-key"


class PasswordRequired(DomainError):
    """The session is new, idle for 10 minutes or locked: password and PIN are both needed."""


class PinLocked(DomainError):
    """Five wrong signing PINs in a row: this signing credential signs nothing until ``until``."""

    def __init__(self, until: datetime, now: datetime) -> None:
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        super().__init__(f"签名PIN连续错误{MAX_PIN_FAILURES}次，签名已锁定，约 {minutes} 分钟后再试（管理员可用 rxws pharmacist "
                         f"unlock 解锁）/ {MAX_PIN_FAILURES} wrong signing PINs in a row: signing is locked for about "
                         f"{minutes} more minute(s) (an administrator can clear it with rxws pharmacist unlock)")
        self.until = until


class ClockSkew(DomainError):
    """This workstation's clock is too far from the database server's to sign."""


class NotEnrolled(DomainError):
    """The pharmacist holds no signing credential."""


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    licence: str
    subject: str
    serial: str
    issuer: str
    not_before: datetime
    not_after: datetime
    source: str


@dataclass(eq=False)
class SigningSession:
    """One pharmacist's signing session; holds the decrypted key in memory only while it is open."""

    principal: Principal
    _key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    _chain: tuple[x509.Certificate, ...] = ()
    _pin_check: bytes = field(default=b"", repr=False)
    _pin_secret: bytes = field(default_factory=lambda: pysecrets.token_bytes(32), repr=False)
    last_activity: datetime | None = None
    clock_warning: str | None = None  # the last clock check's warning, for the UI

    def needs_password(self, now: datetime) -> bool:
        return self._key is None or self.last_activity is None or now - self.last_activity > IDLE_LIMIT

    def lock(self) -> None:
        """Screen lock or end of session: drop the key; password and PIN are needed again."""
        self._key, self._chain, self._pin_check, self.last_activity = None, (), b"", None

    end = lock

    def _verifier(self, pin: str) -> bytes:
        return hmac.new(self._pin_secret, unicodedata.normalize("NFKC", pin).encode("utf-8"), "sha256").digest()


@dataclass(frozen=True, slots=True)
class Signer:
    """The key and chain to sign with, handed out for one decision."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]
    licence: str
    name: str


class SigningService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], accounts: AccountService,
                 clock: Callable[[], datetime] = utcnow, server_clock: Callable[[], datetime] | None = None) -> None:
        self._uow = uow_factory
        self._accounts = accounts
        self._clock = clock
        self._server_clock = server_clock  # None: ask the database server (tests may stand in for it)
        self._ca: x509.Certificate | None = None  # read once; a CA is created once and lasts ten years

    # -- the pharmacy CA

    def ca_certificate(self) -> x509.Certificate | None:
        """The active pharmacy CA certificate (public; receivers must trust it), or None before setup."""
        if self._ca is None:
            with self._uow() as uow:
                pem = uow.session.scalar(select(orm.PharmacyCa.certificate_pem).where(orm.PharmacyCa.active.is_(True))
                                         .order_by(orm.PharmacyCa.id.desc()).limit(1))
            self._ca = pki.certificates_from_pem(pem.encode("ascii"))[0] if pem else None
        return self._ca

    def ensure_ca(self, principal: Principal) -> x509.Certificate:
        """Create the pharmacy CA if there is none. Needs a secure OS keyring for the key's passphrase."""
        require(principal, Action.MANAGE_CA)
        existing = self.ca_certificate()
        if existing is not None:
            return existing
        if not secrets.secure_backend_available():
            raise secrets.SecretStoreError(
                "创建药房CA需要安全的系统密钥环 / creating the pharmacy CA needs a secure OS keyring to hold its key's "
                f"passphrase (backend now: {secrets.backend_description()}); or import CA-issued certificates instead")
        now = self._clock()
        cert, key = pki.create_pharmacy_ca(CA_NAME, now=now)
        passphrase = pysecrets.token_urlsafe(32)
        secret_name = f"{CA_SECRET}:{cert.serial_number:x}"
        secrets.set_secret(secret_name, passphrase)
        with self._uow() as uow:
            uow.session.add(orm.PharmacyCa(certificate_pem=pki.certificate_pem([cert]).decode("ascii"),
                                           encrypted_key_pem=pki.encrypt_private_key(key, passphrase).decode("ascii"),
                                           key_secret_name=secret_name, created_at=now, active=True))
            audit.record(uow, actor=principal.actor, action="ca.created", subject=f"ca:{cert.serial_number:x}",
                         details={"subject": cert.subject.rfc4514_string(),
                                  "not_after": cert.not_valid_after_utc.isoformat()}, at=now)
            uow.commit()
        self._ca = cert
        return cert

    def _ca_key(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        with self._uow() as uow:
            row = uow.session.scalar(select(orm.PharmacyCa).where(orm.PharmacyCa.active.is_(True))
                                     .order_by(orm.PharmacyCa.id.desc()).limit(1))
            if row is None:
                raise DomainError("还没有药房CA / there is no pharmacy CA yet: `rxws ca init`")
            cert_pem, key_pem, secret_name = row.certificate_pem, row.encrypted_key_pem, row.key_secret_name
        passphrase = secrets.get_secret(secret_name)
        if passphrase is None:
            raise DomainError(f"本机密钥环中没有药房CA密钥口令 / the OS keyring of this machine does not hold the "
                              f"pharmacy CA passphrase ({secret_name}): enrol on the machine that created the CA")
        return pki.certificates_from_pem(cert_pem.encode("ascii"))[0], pki.decrypt_private_key(key_pem.encode("ascii"), passphrase)

    # -- enrolment

    def enroll(self, principal: Principal, licence: str, *, password: str, pin: str) -> CredentialInfo:
        """Issue a pharmacist a key and certificate from the pharmacy CA (the pharmacist types password and PIN)."""
        require(principal, Action.ENROL)
        pki.check_pin_policy(pin)
        pharmacist = self._accounts.authenticate(licence, password, where="enrol")
        ca_cert, ca_key = self._ca_key()
        key = pki.generate_key()
        cert = pki.issue_pharmacist_certificate(ca_cert, ca_key, name=pharmacist.name, licence=licence,
                                                public_key=key.public_key(), now=self._clock())
        return self.store_credential(principal, pharmacist, key, [cert, ca_cert], password=password, pin=pin,
                                     source="local-ca")

    def import_credential(self, principal: Principal, licence: str, *, password: str, pin: str,
                          files: Sequence[Path], file_password: str | None) -> CredentialInfo:
        """Import a CA-issued certificate and key (PEM or PKCS#12); re-encrypted under the pharmacist's PIN."""
        require(principal, Action.ENROL)
        pki.check_pin_policy(pin)
        pharmacist = self._accounts.authenticate(licence, password, where="enrol")
        key, chain = pki.load_credential_files(list(files), file_password)
        serial = _serial(chain[0])
        if serial != licence:
            raise DomainError(f"证书的 serialNumber 为 {serial!r}，与药师注册证号 {licence} 不符 / the certificate's subject "
                              f"serialNumber is {serial!r}, not the licence number {licence}")
        return self.store_credential(principal, pharmacist, key, chain, password=password, pin=pin, source="imported")

    def store_credential(self, principal: Principal, pharmacist: Principal, key: ec.EllipticCurvePrivateKey,
                         chain: Sequence[x509.Certificate], *, password: str, pin: str, source: str) -> CredentialInfo:
        """Make ``key`` and ``chain`` the pharmacist's one active credential, the key encrypted under the
        pharmacist's password and PIN together; earlier credentials stay, inactive, for verifying."""
        passphrase = pki.key_passphrase(password, pin)
        leaf = chain[0]
        now = self._clock()
        with self._uow() as uow:
            old = uow.session.scalars(select(orm.SigningCredential).where(
                orm.SigningCredential.pharmacist_id == pharmacist.pharmacist_id, orm.SigningCredential.active.is_(True)))
            for row in old:
                row.active = False  # one active identity; old ones stay for verifying old signatures
            uow.session.add(orm.SigningCredential(
                pharmacist_id=pharmacist.pharmacist_id, certificate_pem=pki.certificate_pem([leaf]).decode("ascii"),
                chain_pem=pki.certificate_pem(chain[1:]).decode("ascii"),
                encrypted_key_pem=pki.encrypt_private_key(key, passphrase).decode("ascii"), key_binding=BOUND, source=source,
                serial=f"{leaf.serial_number:x}", not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
                active=True, created_at=now))
            audit.record(uow, actor=principal.actor, action="signing.enrolled", subject=f"pharmacist:{pharmacist.licence}",
                         details={"source": source, "certificate_serial": f"{leaf.serial_number:x}",
                                  "issuer": leaf.issuer.rfc4514_string(), "not_after": leaf.not_valid_after_utc.isoformat()},
                         at=now)
            uow.commit()
        assert pharmacist.licence is not None
        return _info(pharmacist.licence, leaf, source)

    def credential(self, licence: str) -> CredentialInfo | None:
        with self._uow() as uow:
            row = _active_of_licence(uow, licence)
            if row is None:
                return None
            return _info(licence, pki.certificates_from_pem(row.certificate_pem.encode("ascii"))[0], row.source)

    def chains_to(self, licence: str, anchors: Sequence[x509.Certificate]) -> bool:
        """Whether the active credential's chain leads to one of ``anchors`` (what receivers will trust)."""
        with self._uow() as uow:
            row = _active_of_licence(uow, licence)
            if row is None:
                return False
            chain = _chain_of(row.certificate_pem, row.chain_pem)
        return chains_to(chain, anchors)

    # -- sessions

    def begin(self, principal: Principal) -> SigningSession:
        """A session for a logged-in pharmacist; the first signature still needs password and PIN."""
        return SigningSession(principal)

    def signer(self, session: SigningSession, *, pin: str, password: str | None = None) -> Signer:
        """The key to sign one decision with, under the continuous-session rule, after the clock and PIN-lock checks."""
        now = self._clock()
        self.check_clock(session)
        p = session.principal
        assert p.licence is not None and p.pharmacist_id is not None
        failures = self._refuse_if_locked(session, now)
        if session.needs_password(now):
            if password is None:
                session.lock()
                raise PasswordRequired("本次签名需要密码和签名PIN / this signature needs your password and your signing PIN "
                                       "(first signature of the session, 10 minutes idle, or after a lock)")
            self._accounts.authenticate(p.licence, password, where="signing")
            try:
                key, chain = self._unlock(p, password, pin, now)
            except pki.WrongPin:
                self._pin_failed(session, now)
            session._key, session._chain, session._pin_check = key, chain, session._verifier(pin)
        elif not hmac.compare_digest(session._verifier(pin), session._pin_check):
            self._pin_failed(session, now)
        if failures:
            self._pin_succeeded(p)
        session.last_activity = now
        assert session._key is not None
        return Signer(session._key, session._chain, p.licence, p.name)

    def change_password(self, principal: Principal, *, old_password: str, new_password: str,
                        pin: str | None = None) -> None:
        """A pharmacist changes their own password; their signing key is re-encrypted under the new one.

        The PIN is needed when the pharmacist holds a signing credential (the key opens only with both);
        a wrong one counts towards the PIN lock. Password, key and audit event change in one transaction."""
        assert principal.licence is not None and principal.pharmacist_id is not None
        check_password_policy(new_password)
        if new_password == old_password:
            raise DomainError("新密码不能与旧密码相同 / the new password must differ from the old one")
        now = self._clock()
        self._accounts.authenticate(principal.licence, old_password, where="password-change")
        session = SigningSession(principal)
        key: ec.EllipticCurvePrivateKey | None = None
        if self._active(principal) is not None:
            if not pin:
                raise DomainError("修改密码需要签名PIN（签名密钥随密码重新加密）/ changing the password needs your signing "
                                  "PIN: the signing key is re-encrypted under the new password")
            failures = self._refuse_if_locked(session, now)
            try:
                key, _chain = self._unlock(principal, old_password, pin, now)
            except pki.WrongPin:
                self._pin_failed(session, now)
            if failures:
                self._pin_succeeded(principal)
        new_hash = hash_password(new_password)  # slow on purpose: outside the transaction
        sealed = None if key is None else pki.encrypt_private_key(key, pki.key_passphrase(new_password, pin or ""))
        with self._uow() as uow:
            account = uow.session.get_one(orm.Pharmacist, principal.pharmacist_id)
            account.password_hash, account.updated_at = new_hash, now
            row = self._active_row(uow, principal)
            if sealed is not None and row is not None:
                row.encrypted_key_pem, row.key_binding = sealed.decode("ascii"), BOUND
            audit.record(uow, actor=principal.actor, action="account.password_changed",
                         subject=f"pharmacist:{principal.licence}",
                         details={"signing_key_reencrypted": sealed is not None}, at=now)
            uow.commit()

    # -- the stored key and its PIN lock

    @staticmethod
    def _active_row(uow: UnitOfWork, p: Principal, *, for_update: bool = False) -> orm.SigningCredential | None:
        q = select(orm.SigningCredential).where(orm.SigningCredential.pharmacist_id == p.pharmacist_id,
                                                orm.SigningCredential.active.is_(True))
        return uow.session.scalar(q.with_for_update() if for_update else q)

    def _active(self, p: Principal) -> tuple[int, datetime | None] | None:
        """The active credential's wrong-PIN count and lock, or None when the pharmacist holds none."""
        with self._uow() as uow:
            row = self._active_row(uow, p)
            return None if row is None else (row.pin_failures, row.pin_locked_until)

    def _refuse_if_locked(self, session: SigningSession, now: datetime) -> int:
        """The wrong PINs counted so far; PinLocked while the credential's lock lasts, NotEnrolled without one."""
        p = session.principal
        state = self._active(p)
        if state is None:
            session.lock()
            raise NotEnrolled(f"{p.name} 还没有签名证书 / {p.actor} holds no signing certificate: "
                              "`rxws pharmacist enroll`")
        failures, until = state
        if until is not None and until > now:
            session.lock()
            raise PinLocked(until, now)
        return failures

    def _pin_failed(self, session: SigningSession, now: datetime) -> NoReturn:
        """Count a wrong PIN on the stored credential (committed, audited); the fifth in a row locks it."""
        p = session.principal
        with self._uow() as uow:
            row = self._active_row(uow, p, for_update=True)
            assert row is not None
            row.pin_failures += 1
            failures = row.pin_failures
            audit.record(uow, actor=p.actor, action="signing.pin_failed", subject=p.actor,
                         details={"failures": failures}, at=now)
            until = None
            if failures >= MAX_PIN_FAILURES:
                until = row.pin_locked_until = now + PIN_LOCKOUT
                row.pin_failures = 0
                audit.record(uow, actor="system", action="signing.pin_locked", subject=p.actor,
                             details={"until": until.isoformat(), "after_failures": failures}, at=now)
            uow.commit()
        if until is not None:
            session.lock()
            raise PinLocked(until, now)
        left = MAX_PIN_FAILURES - failures
        raise pki.WrongPin(f"签名PIN错误，再错 {left} 次将锁定15分钟 / wrong signing PIN: {left} more wrong "
                           f"and signing locks for 15 minutes")

    def _pin_succeeded(self, p: Principal) -> None:
        with self._uow() as uow:
            row = self._active_row(uow, p, for_update=True)
            if row is not None and row.pin_failures:
                row.pin_failures = 0
                uow.commit()

    def _unlock(self, p: Principal, password: str, pin: str,
                now: datetime) -> tuple[ec.EllipticCurvePrivateKey, tuple[x509.Certificate, ...]]:
        """Open the stored key with password and PIN; a key stored under the PIN alone is re-bound to both."""
        with self._uow() as uow:
            row = self._active_row(uow, p)
            if row is None:
                raise NotEnrolled(f"{p.name} 还没有签名证书 / {p.actor} holds no signing certificate: "
                                  "`rxws pharmacist enroll`")
            key_pem, cert_pem, chain_pem, binding = row.encrypted_key_pem, row.certificate_pem, row.chain_pem, row.key_binding
        key = pki.decrypt_private_key(key_pem.encode("ascii"), pin if binding != BOUND else pki.key_passphrase(password, pin))
        if binding != BOUND:
            sealed = pki.encrypt_private_key(key, pki.key_passphrase(password, pin)).decode("ascii")
            with self._uow() as uow:
                row = self._active_row(uow, p, for_update=True)
                if row is not None and row.key_binding != BOUND:
                    row.encrypted_key_pem, row.key_binding = sealed, BOUND
                    audit.record(uow, actor=p.actor, action="signing.key_rebound", subject=p.actor,
                                 details={"binding": BOUND, "was": binding}, at=now)
                    uow.commit()
        return key, _chain_of(cert_pem, chain_pem)

    # -- the clock

    def clock_offset(self) -> timedelta:
        """The database server's clock minus this workstation's."""
        if self._server_clock is not None:
            return self._server_clock() - self._clock()
        with self._uow() as uow:
            local_before = self._clock()
            server: object
            if uow.dialect == "postgresql":
                server = uow.session.execute(text("SELECT clock_timestamp()")).scalar_one()
            else:  # SQLite runs in this process: its clock is the machine's own
                server = datetime.fromisoformat(
                    uow.session.execute(text("SELECT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')")).scalar_one())
            local_after = self._clock()
        assert isinstance(server, datetime)
        return server - (local_before + (local_after - local_before) / 2)

    def check_clock(self, session: SigningSession | None = None) -> timedelta:
        offset = self.clock_offset()
        seconds = abs(offset.total_seconds())
        if abs(offset) > CLOCK_REFUSE:
            raise ClockSkew(f"本机时钟与数据库服务器相差 {seconds:.0f} 秒，超过5分钟，拒绝签名；请校准时间 / this workstation's clock "
                            f"is {seconds:.0f} s off the database server's (over 5 minutes): signing refused; fix the clock")
        if session is not None:
            session.clock_warning = (f"本机时钟与数据库服务器相差 {seconds:.0f} 秒 / the clock is {seconds:.0f} s off the "
                                     "database server's" if abs(offset) > CLOCK_WARN else None)
        return offset


def _active_of_licence(uow: UnitOfWork, licence: str) -> orm.SigningCredential | None:
    return uow.session.execute(
        select(orm.SigningCredential).join(orm.Pharmacist, orm.Pharmacist.id == orm.SigningCredential.pharmacist_id)
        .where(orm.Pharmacist.licence == licence, orm.SigningCredential.active.is_(True))).scalar()


def _chain_of(certificate_pem: str, chain_pem: str) -> tuple[x509.Certificate, ...]:
    """The leaf, then the issuers above it as stored."""
    return (pki.certificates_from_pem(certificate_pem.encode("ascii"))[0],
            *(pki.certificates_from_pem(chain_pem.encode("ascii")) if chain_pem.strip() else ()))


def chains_to(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> bool:
    try:
        trusted_path(chain, anchors)
    except SignatureRejected:
        return False
    return True


def _serial(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)
    value = attrs[0].value if attrs else None
    return value if isinstance(value, str) else None


def _info(licence: str, leaf: x509.Certificate, source: str) -> CredentialInfo:
    return CredentialInfo(licence, leaf.subject.rfc4514_string(), f"{leaf.serial_number:x}", leaf.issuer.rfc4514_string(),
                          leaf.not_valid_before_utc, leaf.not_valid_after_utc, source)
