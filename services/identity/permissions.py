"""Permission vocabulary, roles as data, and who the caller is (the actor).

Roles and their permissions are rows edited at run time (M11.1). Each process caches the
role → permissions map and re-reads it when the broker's "roles" version moves, so a
change takes effect on the next request in every process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

from tortoise.transactions import in_transaction

from models.access import Role, RolePermission, UserRole
from models.members import User, UserStatus
from services.errors import DomainError, NotFoundError
from services.kit.broker import get_broker


class Permission(StrEnum):
    """Every `resource:action` code a field or a service can require."""

    PROFILE_READ = "profile:read"
    NOTICES_READ = "notices:read"
    SESSION_LOGOUT = "session:logout"
    ROLES_READ = "roles:read"
    ROLES_MANAGE = "roles:manage"
    STAFF_CREATE = "staff:create"
    OPLOG_READ = "oplog:read"
    OPLOG_VERIFY = "oplog:verify"
    CLOCK_ADVANCE = "clock:advance"
    # Domains built on this foundation (granted now so the seeded roles are complete).
    ACCOUNT_USE = "account:use"
    LOAN_PUBLISH = "loan:publish"
    BID_PLACE = "bid:place"
    LOAN_REVIEW = "loan:review"  # the review fields; each level needs its own below
    LOAN_REVIEW_L1 = "loan:review:l1"
    LOAN_REVIEW_L2 = "loan:review:l2"
    LOAN_REVIEW_L3 = "loan:review:l3"
    CREDIT_REVIEW = "credit:review"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_MANAGE = "customers:manage"
    CASES_MANAGE = "cases:manage"
    HELP_MANAGE = "help:manage"  # write help-centre articles and categories (M1.13)
    COLLECTION_READ = "collection:read"  # the overdue list, collection records, events
    COLLECTION_WRITE = "collection:write"
    GUARANTEE_MANAGE = "guarantee:manage"  # act for one's own guarantee company
    GUARANTEE_READ = "guarantee:read"  # a company's book: policies, margin, compensations
    GUARANTORS_MANAGE = "guarantors:manage"  # register guarantee companies and their staff
    FINANCE_READ = "finance:read"
    FINANCE_ADJUST_PROPOSE = "finance:adjust:propose"
    FINANCE_ADJUST_APPROVE = "finance:adjust:approve"
    PARAMETERS_MANAGE = "parameters:manage"
    REPORTS_READ = "reports:read"
    PII_VIEW = "pii:view"
    CONTRACTS_READ = "contracts:read"  # every contract, not only one's own (staff)
    CONTRACTS_SIGN = "contracts:sign"  # consent to a contract one is a party to
    CONTRACTS_MANAGE = "contracts:manage"  # publish contract templates
    PARTNER_QUERY = "partner:query"
    ANALYTICS_READ = "analytics:read"  # platform figures and any lender's returns (M12)


_SELF = {Permission.PROFILE_READ, Permission.NOTICES_READ, Permission.SESSION_LOGOUT}
_STAFF_BASE = _SELF | {Permission.CUSTOMERS_READ}
# Staff who work with contracts read them all (docs/decisions.md, "Electronic contracts").
_CONTRACTS = {Permission.CONTRACTS_READ}
# Staff who see the overdue list and collection records (docs/decisions.md, "Overdue").
_COLLECTION = {Permission.COLLECTION_READ}
# Risk reviewers read the platform and risk figures too (finance, admin and auditor
# hold analytics:read in their own sets).
_ANALYTICS = {Permission.ANALYTICS_READ}

DEFAULT_ROLES: dict[str, tuple[str, bool, set[Permission]]] = {
    "member": (
        "A person who borrows and/or lends",
        False,
        _SELF
        | {
            Permission.ACCOUNT_USE,
            Permission.LOAN_PUBLISH,
            Permission.BID_PLACE,
            Permission.CONTRACTS_SIGN,
        },
    ),
    "guarantor": (
        "Staff of a guarantee company",
        True,
        _SELF | {Permission.GUARANTEE_MANAGE, Permission.GUARANTEE_READ, Permission.CONTRACTS_SIGN},
    ),
    "cs": (
        "Customer service",
        True,
        _STAFF_BASE
        | _CONTRACTS
        | _COLLECTION
        | {
            Permission.CASES_MANAGE,
            Permission.PII_VIEW,
            Permission.CUSTOMERS_MANAGE,
            Permission.HELP_MANAGE,
        },
    ),
    "risk_l1": (
        "Loan reviewer, level 1",
        True,
        _STAFF_BASE
        | _ANALYTICS
        | _CONTRACTS
        | _COLLECTION
        | {Permission.LOAN_REVIEW, Permission.LOAN_REVIEW_L1},
    ),
    "risk_l2": (
        "Loan reviewer, level 2",
        True,
        _STAFF_BASE
        | _ANALYTICS
        | _CONTRACTS
        | _COLLECTION
        | {Permission.LOAN_REVIEW, Permission.LOAN_REVIEW_L2},
    ),
    "risk_l3": (
        "Loan reviewer, level 3",
        True,
        _STAFF_BASE
        | _ANALYTICS
        | _CONTRACTS
        | _COLLECTION
        | {Permission.LOAN_REVIEW, Permission.LOAN_REVIEW_L3},
    ),
    "credit": (
        "Verification officer",
        True,
        _STAFF_BASE | {Permission.CREDIT_REVIEW, Permission.PII_VIEW},
    ),
    "collector": (
        "Collections",
        True,
        _STAFF_BASE | _CONTRACTS | _COLLECTION | {Permission.COLLECTION_WRITE},
    ),
    "finance": (
        "Finance",
        True,
        _STAFF_BASE
        | _CONTRACTS
        | {
            Permission.FINANCE_READ,
            Permission.FINANCE_ADJUST_PROPOSE,
            Permission.FINANCE_ADJUST_APPROVE,
            Permission.ANALYTICS_READ,
            Permission.GUARANTEE_READ,
        },
    ),
    "admin": (
        "System manager",
        True,
        _STAFF_BASE
        | {
            Permission.ROLES_READ,
            Permission.ROLES_MANAGE,
            Permission.STAFF_CREATE,
            Permission.OPLOG_READ,
            Permission.CUSTOMERS_MANAGE,
            Permission.PARAMETERS_MANAGE,
            Permission.CLOCK_ADVANCE,
            Permission.CONTRACTS_READ,
            Permission.CONTRACTS_MANAGE,
            Permission.COLLECTION_READ,
            Permission.ANALYTICS_READ,
            Permission.GUARANTORS_MANAGE,
            Permission.HELP_MANAGE,
        },
    ),
    "auditor": (
        "Read-only audit",
        True,
        _STAFF_BASE
        | {
            Permission.ROLES_READ,
            Permission.OPLOG_READ,
            Permission.OPLOG_VERIFY,
            Permission.FINANCE_READ,
            Permission.REPORTS_READ,
            Permission.CONTRACTS_READ,
            Permission.COLLECTION_READ,
            Permission.ANALYTICS_READ,
            Permission.GUARANTEE_READ,
        },
    ),
    "partner": ("API client limited to persisted queries", False, {Permission.PARTNER_QUERY}),
}

# One version for everything an actor is made of: role grants, role assignments, account
# status and revoked sessions. Any change bumps it after commit; every process then
# rebuilds its cached actors on their next request.
_VERSION_NAME = "access"
_ACTOR_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Actor:
    """Who is calling. Passed into every service function, never global."""

    user_id: int | None = None
    kind: str = "anonymous"
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    label: str = "anonymous"
    token_id: str | None = None
    # A partner's system (services/partners): no user, a key instead of a token.
    partner_id: int | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.partner_id is not None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


ANONYMOUS = Actor()


@dataclass
class _RoleCache:
    version: int = -1
    grants: dict[str, frozenset[str]] = field(default_factory=dict)


_cache = _RoleCache()
# access-token id → (access version when built, actor)
_actors: OrderedDict[str, tuple[int, Actor]] = OrderedDict()


def reset_cache() -> None:
    _cache.version = -1
    _actors.clear()


async def access_changed() -> None:
    """Call after committing any change to roles, grants, account status or sessions."""
    await get_broker().bump(_VERSION_NAME)


async def role_grants(version: int | None = None) -> dict[str, frozenset[str]]:
    """role name → permission codes, from the cache when its version is current."""
    if version is None:
        version = await get_broker().version(_VERSION_NAME)
    if version != _cache.version:
        # tortoise types a flat values_list as tuples: these are the role names.
        names = cast(list[str], await Role.all().values_list("name", flat=True))
        grants: dict[str, set[str]] = {name: set() for name in names}
        for role_name, permission in await RolePermission.all().values_list(
            "role_id", "permission"
        ):
            grants.setdefault(role_name, set()).add(permission)
        _cache.grants = {name: frozenset(codes) for name, codes in grants.items()}
        _cache.version = version
    return _cache.grants


async def load_actor(
    user_id: int, *, token_id: str | None = None, is_revoked: Callable[[str], Awaitable[bool]]
) -> Actor | None:
    """The actor for an access token, or None when it is revoked or the user may not act
    (locked, closed). Cached per token until the access version moves."""
    version = await get_broker().version(_VERSION_NAME)
    if token_id is not None:
        hit = _actors.get(token_id)
        if hit is not None and hit[0] == version and hit[1].user_id == user_id:
            _actors.move_to_end(token_id)
            return hit[1]
        if await is_revoked(token_id):
            return None
    user = await User.get_or_none(id=user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        return None
    role_ids = await UserRole.filter(user_id=user_id).values_list("role_id", flat=True)
    roles = frozenset(cast(list[str], role_ids))
    grants = await role_grants(version)
    permissions = frozenset().union(*(grants.get(role, frozenset()) for role in roles))
    actor = Actor(
        user_id=user.id,
        kind=str(user.kind),
        roles=roles,
        permissions=permissions,
        label=f"{user.kind}:{user.id}",
        token_id=token_id,
    )
    if token_id is not None:
        _actors[token_id] = (version, actor)
        if len(_actors) > _ACTOR_CACHE_SIZE:
            _actors.popitem(last=False)
    return actor


async def seed_roles() -> None:
    """Create the default roles with their permissions; existing roles are left as they are."""
    async with in_transaction():
        for name, (description, is_staff, permissions) in DEFAULT_ROLES.items():
            role, created = await Role.get_or_create(
                name=name, defaults={"description": description, "is_staff": is_staff}
            )
            if created:
                await RolePermission.bulk_create(
                    [
                        RolePermission(role=role, permission=str(code))
                        for code in sorted(permissions)
                    ]
                )
    await access_changed()


async def list_roles() -> list[tuple[Role, list[str]]]:
    grants = await role_grants()
    roles = await Role.all().order_by("name")
    return [(role, sorted(grants.get(role.name, ()))) for role in roles]


def _validate_permissions(permissions: Iterable[str]) -> list[str]:
    known = {str(code) for code in Permission}
    unknown = sorted(set(permissions) - known)
    if unknown:
        raise DomainError(
            f"Unknown permissions: {', '.join(unknown)}",
            code="UNKNOWN_PERMISSION",
            field="permissions",
        )
    return sorted(set(permissions))


async def set_role_permissions(*, actor: Actor, role: str, permissions: Iterable[str]) -> Role:
    """Replace the permissions of `role`. Takes effect on the next request in every process.

    Raises NotFoundError (unknown role) and DomainError(UNKNOWN_PERMISSION).
    """
    codes = _validate_permissions(permissions)
    async with in_transaction():
        role_row = await Role.get_or_none(name=role)
        if role_row is None:
            raise NotFoundError(f"No role named {role!r}", field="role")
        await RolePermission.filter(role_id=role).delete()
        await RolePermission.bulk_create(
            [RolePermission(role=role_row, permission=c) for c in codes]
        )
    await access_changed()
    return role_row


async def assign_roles(*, actor: Actor, user_id: int, roles: Iterable[str]) -> list[str]:
    """Replace the roles of a user. A member keeps the member role; staff cannot take it.

    Raises NotFoundError (user or role) and DomainError(INVALID).
    """
    wanted = sorted(set(roles))
    async with in_transaction():
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise NotFoundError("No such user", field="userId")
        names = await Role.filter(name__in=wanted).values_list("name", flat=True)
        existing = set(cast(list[str], names))
        missing = [name for name in wanted if name not in existing]
        if missing:
            raise NotFoundError(f"Unknown roles: {', '.join(missing)}", field="roles")
        is_member = str(user.kind) == "member"
        if is_member != ("member" in wanted):
            raise DomainError(
                "Members always hold the member role and staff never do", field="roles"
            )
        if actor.user_id == user_id and "admin" in actor.roles and "admin" not in wanted:
            raise DomainError("An admin cannot remove their own admin role", field="roles")
        await UserRole.filter(user_id=user_id).delete()
        await UserRole.bulk_create([UserRole(user=user, role_id=name) for name in wanted])
    await access_changed()
    return wanted


async def access_version() -> int:
    """The current version of everything an actor is made of (roles, grants, account
    status, revoked sessions): a change means cached actors must be built again."""
    return await get_broker().version(_VERSION_NAME)
