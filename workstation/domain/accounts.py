"""Who may do what (岗位与权限): roles, actions and the principal a service acts for.

Permissions are checked in the services, never only in the UI: every service method that changes
or reveals something calls :func:`require` with the principal it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from workstation.domain.errors import DomainError


class Role(str, Enum):
    PHARMACIST = "pharmacist"  # 审方药师
    LEAD = "lead"  # 药房负责人: reviews too, and watches coverage and the backlog
    ADMIN = "admin"  # 信息科 / IT: accounts, enrolment, the CA, releases; does not review


class Action(str, Enum):
    VIEW_QUEUE = "view_queue"
    CLAIM = "claim"
    DECIDE = "decide"
    BREAK_CLAIM = "break_claim"  # take back a colleague's claim before it expires
    VIEW_COVERAGE = "view_coverage"
    RETRY_RELEASE = "retry_release"
    RUN_RELEASE = "run_release"
    MANAGE_ACCOUNTS = "manage_accounts"  # add, lock, unlock
    ENROL = "enrol"  # issue or import a signing identity
    MANAGE_CA = "manage_ca"
    PRINT_LABELS = "print_labels"  # dispensing labels of approved prescriptions
    MANAGE_ROSTER = "manage_roster"  # shifts and business hours


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.PHARMACIST: frozenset({Action.VIEW_QUEUE, Action.CLAIM, Action.DECIDE, Action.PRINT_LABELS}),
    Role.LEAD: frozenset({Action.VIEW_QUEUE, Action.CLAIM, Action.DECIDE, Action.BREAK_CLAIM,
                          Action.VIEW_COVERAGE, Action.RETRY_RELEASE, Action.PRINT_LABELS, Action.MANAGE_ROSTER}),
    # Separation of duties: whoever runs the system does not review prescriptions with that account.
    Role.ADMIN: frozenset({Action.VIEW_QUEUE, Action.VIEW_COVERAGE, Action.RETRY_RELEASE, Action.RUN_RELEASE,
                           Action.MANAGE_ACCOUNTS, Action.ENROL, Action.MANAGE_CA, Action.MANAGE_ROSTER}),
}

ROLE_LABELS = {Role.PHARMACIST: "审方药师", Role.LEAD: "药房负责人", Role.ADMIN: "系统管理员"}


class PermissionDenied(DomainError):
    """The principal's roles do not allow the action."""


class AuthenticationFailed(DomainError):
    """Wrong licence or password, or a locked or inactive account (the message says which may be told)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Whom a service call acts for: an authenticated pharmacist, or the operating-system administrator."""

    name: str
    roles: frozenset[Role]
    pharmacist_id: int | None = None
    licence: str | None = None
    os_user: str | None = None

    @classmethod
    def system(cls, os_user: str) -> Principal:
        """The person at this machine's command line with access to its settings (hospital IT)."""
        return cls(name=os_user, roles=frozenset({Role.ADMIN}), os_user=os_user)

    @property
    def actor(self) -> str:
        """How the audit trail names them."""
        return f"pharmacist:{self.licence}" if self.licence else f"os:{self.os_user or self.name}"

    def can(self, action: Action) -> bool:
        return any(action in PERMISSIONS[r] for r in self.roles)


def require(principal: Principal, action: Action) -> None:
    if not principal.can(action):
        roles = "、".join(ROLE_LABELS[r] for r in sorted(principal.roles, key=lambda r: r.value)) or "无角色"
        raise PermissionDenied(
            f"{principal.name}（{roles}）无权执行此操作 / {principal.actor} "
            f"({', '.join(sorted(r.value for r in principal.roles)) or 'no role'}) may not {action.value.replace('_', ' ')}"
        )


def parse_roles(text: str) -> frozenset[Role]:
    """'pharmacist,lead' → roles; unknown names are refused with the valid ones listed."""
    roles = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            roles.add(Role(part))
        except ValueError:
            raise DomainError(f"未知角色 / unknown role {part!r}: use pharmacist, lead or admin") from None
    if not roles:
        raise DomainError("至少需要一个角色 / at least one role is needed: pharmacist, lead or admin")
    return frozenset(roles)


def roles_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))
