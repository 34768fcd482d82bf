"""Pharmacist accounts (药师账户): add, list, lock, unlock, and log in with a lockout after five failures.

Passwords are hashed with argon2id (memory-hard); every login, failure and lock is an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import argon2
from sqlalchemy import select

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import (
    Action,
    AuthenticationFailed,
    Principal,
    Role,
    parse_roles,
    require,
    roles_text,
)
from workstation.domain.errors import DomainError
from workstation.services import audit

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 8

_HASHER = argon2.PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults (64 MiB, t=3)


@dataclass(frozen=True, slots=True)
class PharmacistInfo:
    id: int
    licence: str
    name: str
    roles: frozenset[Role]
    active: bool
    locked_until: datetime | None
    enrolled: bool  # holds an active signing credential
    pin_locked_until: datetime | None = None  # five wrong signing PINs in a row lock signing until then


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise DomainError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符 / the password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(set(password)) < 3:
        raise DomainError("密码过于简单 / the password is too simple")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (argon2.exceptions.VerifyMismatchError, argon2.exceptions.InvalidHashError):
        return False


def principal_of(row: orm.Pharmacist) -> Principal:
    return Principal(name=row.name, roles=parse_roles(row.roles), pharmacist_id=row.id, licence=row.licence)


class AccountService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime] = utcnow) -> None:
        self._uow = uow_factory
        self._clock = clock

    def add(self, principal: Principal, *, name: str, licence: str, roles: frozenset[Role], password: str) -> PharmacistInfo:
        require(principal, Action.MANAGE_ACCOUNTS)
        name, licence = name.strip(), licence.strip()
        if not name or not licence:
            raise DomainError("姓名和药师注册证号不能为空 / name and licence number are required")
        if not roles:
            raise DomainError("至少需要一个角色 / at least one role is needed")
        check_password_policy(password)
        password_hash = hash_password(password)
        with self._uow() as uow:
            if uow.session.scalar(select(orm.Pharmacist.id).where(orm.Pharmacist.licence == licence)) is not None:
                raise DomainError(f"注册证号 {licence} 已有账户 / an account with licence {licence} exists already")
            now = self._clock()
            row = orm.Pharmacist(licence=licence, name=name, roles=roles_text(roles), active=True,
                                 password_hash=password_hash, failed_logins=0, created_at=now, updated_at=now)
            uow.session.add(row)
            uow.session.flush()
            audit.record(uow, actor=principal.actor, action="account.added", subject=f"pharmacist:{licence}",
                         details={"name": name, "roles": roles_text(roles)}, at=now)
            info = self._info(uow, row)
            uow.commit()
            return info

    def list(self, principal: Principal) -> list[PharmacistInfo]:
        require(principal, Action.VIEW_COVERAGE)
        with self._uow() as uow:
            rows = uow.session.scalars(select(orm.Pharmacist).order_by(orm.Pharmacist.licence)).all()
            return [self._info(uow, r) for r in rows]

    def lock(self, principal: Principal, licence: str, *, reason: str) -> None:
        require(principal, Action.MANAGE_ACCOUNTS)
        with self._uow() as uow:
            row = _by_licence(uow, licence)
            row.active = False
            row.updated_at = self._clock()
            audit.record(uow, actor=principal.actor, action="account.locked", subject=f"pharmacist:{licence}",
                         details={"reason": reason}, at=row.updated_at)
            uow.commit()

    def unlock(self, principal: Principal, licence: str) -> None:
        """Re-activate an account and clear a lockout after failed logins or wrong signing PINs."""
        require(principal, Action.MANAGE_ACCOUNTS)
        with self._uow() as uow:
            row = _by_licence(uow, licence)
            row.active, row.failed_logins, row.locked_until = True, 0, None
            row.updated_at = self._clock()
            credentials = uow.session.scalars(select(orm.SigningCredential).where(
                orm.SigningCredential.pharmacist_id == row.id, orm.SigningCredential.active.is_(True))).all()
            pin_locked = any(c.pin_locked_until is not None and c.pin_locked_until > row.updated_at for c in credentials)
            for c in credentials:
                c.pin_failures, c.pin_locked_until = 0, None
            audit.record(uow, actor=principal.actor, action="account.unlocked", subject=f"pharmacist:{licence}",
                         details={"signing_pin_lock_cleared": pin_locked}, at=row.updated_at)
            uow.commit()

    def authenticate(self, licence: str, password: str, *, where: str = "cli") -> Principal:
        """Log in. Five failures in a row lock the account for 15 minutes; each outcome is audited.

        A failed attempt is committed even though the login fails: the count must survive.
        """
        with self._uow() as uow:
            now = self._clock()
            row = uow.session.scalar(select(orm.Pharmacist).where(orm.Pharmacist.licence == licence.strip()))
            subject = f"pharmacist:{licence.strip()}"
            if row is None:
                audit.record(uow, actor="anonymous", action="auth.login_failed", subject=subject,
                             details={"reason": "unknown licence", "where": where}, at=now)
                uow.commit()
                raise AuthenticationFailed("注册证号或密码错误 / wrong licence number or password")
            if not row.active:
                audit.record(uow, actor=subject, action="auth.login_refused", subject=subject,
                             details={"reason": "account inactive", "where": where}, at=now)
                uow.commit()
                raise AuthenticationFailed("账户已停用，请联系管理员 / this account is deactivated: ask an administrator")
            if row.locked_until is not None and row.locked_until > now:
                audit.record(uow, actor=subject, action="auth.login_refused", subject=subject,
                             details={"reason": "locked", "until": row.locked_until.isoformat(), "where": where}, at=now)
                uow.commit()
                minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
                raise AuthenticationFailed(f"连续登录失败，账户锁定中，约 {minutes} 分钟后再试 / too many failed logins: "
                                           f"the account is locked for about {minutes} more minute(s)")
            if not password_matches(row.password_hash, password):
                row.failed_logins += 1  # reset to 0 by a login and by a lock
                audit.record(uow, actor=subject, action="auth.login_failed", subject=subject,
                             details={"reason": "wrong password", "failures": row.failed_logins, "where": where}, at=now)
                locked = row.failed_logins >= MAX_FAILED_LOGINS
                if locked:
                    row.locked_until = now + LOCKOUT
                    row.failed_logins = 0
                    audit.record(uow, actor="system", action="auth.locked", subject=subject,
                                 details={"until": row.locked_until.isoformat(), "after_failures": MAX_FAILED_LOGINS},
                                 at=now)
                uow.commit()
                raise AuthenticationFailed(
                    "注册证号或密码错误 / wrong licence number or password"
                    + ("；已连续失败5次，账户锁定15分钟 / five failures in a row: locked for 15 minutes" if locked else ""))
            if _HASHER.check_needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
            row.failed_logins, row.locked_until = 0, None
            audit.record(uow, actor=subject, action="auth.login", subject=subject, details={"where": where}, at=now)
            principal = principal_of(row)
            uow.commit()
            return principal

    @staticmethod
    def _info(uow: UnitOfWork, row: orm.Pharmacist) -> PharmacistInfo:
        credential = uow.session.scalar(select(orm.SigningCredential).where(
            orm.SigningCredential.pharmacist_id == row.id, orm.SigningCredential.active.is_(True)).limit(1))
        return PharmacistInfo(row.id, row.licence, row.name, parse_roles(row.roles), row.active, row.locked_until,
                              credential is not None, None if credential is None else credential.pin_locked_until)


def _by_licence(uow: UnitOfWork, licence: str) -> orm.Pharmacist:
    row = uow.session.scalar(select(orm.Pharmacist).where(orm.Pharmacist.licence == licence.strip()))
    if row is None:
        raise DomainError(f"没有注册证号为 {licence} 的药师 / no pharmacist with licence {licence}")
    return row
