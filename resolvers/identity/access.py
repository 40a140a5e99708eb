"""Roles and permissions at run time (M11.1)."""

from __future__ import annotations

from strawberry import relay
from strawberry.types import Info

from schema.types.identity import access as t
from services.errors import DomainError, NotFoundError
from services.identity import permissions


async def roles(info: Info) -> list[t.RoleType]:
    return [
        t.RoleType(
            name=role.name,
            description=role.description,
            is_staff=role.is_staff,
            permissions=codes,
        )
        for role, codes in await permissions.list_roles()
    ]


def permission_codes(info: Info) -> list[str]:
    return sorted(str(code) for code in permissions.Permission)


async def set_role_permissions(
    info: Info, input: t.SetRolePermissionsInput
) -> t.SetRolePermissionsResult:
    actor = await info.context.get_actor()
    try:
        role = await permissions.set_role_permissions(
            actor=actor, role=input.role, permissions=input.permissions
        )
    except DomainError as error:
        return t.SetRolePermissionsError.from_domain(error)
    codes = sorted(set(input.permissions))
    return t.RoleUpdated(
        role=t.RoleType(
            name=role.name, description=role.description, is_staff=role.is_staff, permissions=codes
        )
    )


def decode_user_id(global_id: str, *, field: str = "userId") -> int:
    """The integer id inside a User global ID. Raises NotFoundError for anything else."""
    try:
        decoded = relay.GlobalID.from_id(global_id)
        if decoded.type_name != "User":
            raise ValueError(decoded.type_name)
        return int(decoded.node_id)
    except (ValueError, TypeError) as error:
        raise NotFoundError("No such user", field=field) from error


async def assign_roles(info: Info, input: t.AssignRolesInput) -> t.AssignRolesResult:
    actor = await info.context.get_actor()
    try:
        user_id = decode_user_id(input.user_id)
        roles = await permissions.assign_roles(actor=actor, user_id=user_id, roles=input.roles)
    except DomainError as error:
        return t.AssignRolesError.from_domain(error)
    return t.RolesAssigned(user_id=input.user_id, roles=roles)
