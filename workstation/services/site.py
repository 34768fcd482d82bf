"""Pharmacy-wide settings (药房设置) in the database, and the first run of an empty one (首次设置).

Site settings are shared by every workstation of the pharmacy (the ``site_setting`` table); only an
administrator changes them, and every change is an audit event. On an empty database the setup screen
creates the first administrator: that is allowed only while no account exists at all, and the guard
holds in the database itself (a ``setup.first_admin`` row whose primary key a second attempt collides
with), so two machines running setup at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.accounts import PermissionDenied, Principal, Role, roles_text
from workstation.domain.errors import DomainError
from workstation.services import audit
from workstation.services.accounts import PharmacistInfo, check_password_policy, hash_password

PHARMACY_NAME = "pharmacy.name"
FIRST_ADMIN = "setup.first_admin"  # written once, in the transaction that creates the first account
MAX_NAME_CHARS = 200


class SetupRefused(DomainError):
    """First-run setup was attempted on a database that already has accounts."""


def pharmacy_name(uow: UnitOfWork) -> str | None:
    """The pharmacy's name (药房名称) as set by an administrator, or None before it is set."""
    with uow:
        return uow.session.scalar(select(orm.SiteSetting.value).where(orm.SiteSetting.key == PHARMACY_NAME))


def needs_setup(uow: UnitOfWork) -> bool:
    """True while the database holds no pharmacist account at all (not even a deactivated one)."""
    with uow:
        return uow.session.scalar(select(orm.Pharmacist.id).limit(1)) is None


def set_pharmacy_name(uow_factory: Callable[[], UnitOfWork], principal: Principal, name: str,
                      *, clock: Callable[[], datetime] = utcnow) -> str:
    """Set the pharmacy's name (administrators only); audited with the old and the new value."""
    _require_admin(principal, "change the pharmacy settings")
    clean = _clean_name(name)
    with uow_factory() as uow:
        old = _put(uow, PHARMACY_NAME, clean, actor=principal.actor, at=clock())
        audit.record(uow, actor=principal.actor, action="site.setting_changed", subject=f"site:{PHARMACY_NAME}",
                     details={"old": old, "new": clean}, at=clock())
        uow.commit()
    return clean


def name_demo_pharmacy(uow_factory: Callable[[], UnitOfWork], name: str, *, actor: str, at: datetime) -> bool:
    """Give a pharmacy that has no name yet the demo's (demo data only; audited). True when it was set."""
    with uow_factory() as uow:
        if uow.session.get(orm.SiteSetting, PHARMACY_NAME) is not None:
            return False
        _put(uow, PHARMACY_NAME, _clean_name(name), actor=actor, at=at)
        audit.record(uow, actor=actor, action="site.setting_changed", subject=f"site:{PHARMACY_NAME}",
                     details={"old": None, "new": name, "why": "demo data"}, at=at)
        uow.commit()
    return True


def create_first_admin(uow_factory: Callable[[], UnitOfWork], *, name: str, licence: str, password: str,
                       os_user: str, pharmacy: str | None = None,
                       clock: Callable[[], datetime] = utcnow) -> PharmacistInfo:
    """Create the first administrator account on an empty database, and the pharmacy name with it.

    Refused (SetupRefused, and audited) once any account exists: from then on accounts are added by an
    administrator who has signed in. ``os_user`` is the operating-system user running setup, who is
    named in the audit trail as the actor, as ``rxws pharmacist add`` names them.
    """
    actor = Principal.system(os_user).actor
    name, licence = name.strip(), licence.strip()
    if not name or not licence:
        raise DomainError("姓名和注册证号不能为空 / name and licence number are required")
    clean_pharmacy = _clean_name(pharmacy) if pharmacy is not None else None
    check_password_policy(password)
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    try:
        with uow_factory() as uow:
            s = uow.session
            now = clock()
            accounts_exist = s.scalar(select(orm.Pharmacist.id).limit(1)) is not None
            if accounts_exist or s.get(orm.SiteSetting, FIRST_ADMIN) is not None:
                _audit_refusal(uow, actor, licence, now)
                uow.commit()
                raise _refusal()
            s.add(orm.SiteSetting(key=FIRST_ADMIN, value=licence, updated_at=now, updated_by=actor))
            s.flush()  # a concurrent setup collides here (or at commit) on the key
            row = orm.Pharmacist(licence=licence, name=name, roles=roles_text(frozenset({Role.ADMIN})), active=True,
                                 password_hash=password_hash, failed_logins=0, created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            audit.record(uow, actor=actor, action="setup.first_admin", subject=f"pharmacist:{licence}",
                         details={"name": name}, at=now)
            audit.record(uow, actor=actor, action="account.added", subject=f"pharmacist:{licence}",
                         details={"name": name, "roles": roles_text(frozenset({Role.ADMIN}))}, at=now)
            if clean_pharmacy is not None:
                old = _put(uow, PHARMACY_NAME, clean_pharmacy, actor=actor, at=now)
                audit.record(uow, actor=actor, action="site.setting_changed", subject=f"site:{PHARMACY_NAME}",
                             details={"old": old, "new": clean_pharmacy}, at=now)
            info = PharmacistInfo(row.id, row.licence, row.name, frozenset({Role.ADMIN}), True, None, False)
            uow.commit()
            return info
    except IntegrityError:
        pass  # another workstation finished setup between our check and our commit
    with uow_factory() as uow:  # the failed one is closed by now
        _audit_refusal(uow, actor, licence, clock())
        uow.commit()
    raise _refusal()


def _audit_refusal(uow: UnitOfWork, actor: str, licence: str, at: datetime) -> None:
    audit.record(uow, actor=actor, action="setup.refused", subject=f"pharmacist:{licence}",
                 details={"reason": "accounts exist"}, at=at)


def _refusal() -> SetupRefused:
    return SetupRefused("已有账户，首次设置不再可用；请由管理员登录后添加账户 / accounts exist already: first-run setup is "
                        "no longer available; an administrator signs in and adds accounts")


def _put(uow: UnitOfWork, key: str, value: str, *, actor: str, at: datetime) -> str | None:
    """Insert or update one setting inside the caller's transaction; returns the old value."""
    row = uow.session.get(orm.SiteSetting, key)
    if row is None:
        uow.session.add(orm.SiteSetting(key=key, value=value, updated_at=at, updated_by=actor))
        return None
    old = row.value
    row.value, row.updated_at, row.updated_by = value, at, actor
    return old


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise DomainError("药房名称不能为空 / the pharmacy name is required")
    if len(clean) > MAX_NAME_CHARS:
        raise DomainError(f"药房名称最多 {MAX_NAME_CHARS} 个字符 / the pharmacy name takes at most {MAX_NAME_CHARS} characters")
    return clean


def _require_admin(principal: Principal, what: str) -> None:
    # Site settings have no Action of their own yet; they are an administrator's, like accounts and the CA.
    if Role.ADMIN not in principal.roles:
        raise PermissionDenied(f"{principal.name} 不是系统管理员，无权修改药房设置 / {principal.actor} is not an "
                               f"administrator and may not {what}")
