"""Root fields: roles and permissions edited at run time (M11.1)."""

from __future__ import annotations

import strawberry

from resolvers.identity import access as r
from schema.directives import auth
from schema.types.identity import access as t
from services.identity.permissions import Permission


@strawberry.type
class AccessQuery:
    roles: list[t.RoleType] = strawberry.field(
        resolver=r.roles,
        extensions=auth(Permission.ROLES_READ),
        description="Every role with the permissions it grants.",
    )
    permission_codes: list[str] = strawberry.field(
        resolver=r.permission_codes,
        extensions=auth(Permission.ROLES_READ),
        description="Every permission code a role can be granted.",
    )


@strawberry.type
class AccessMutation:
    set_role_permissions: t.SetRolePermissionsResult = strawberry.mutation(
        resolver=r.set_role_permissions,
        extensions=auth(Permission.ROLES_MANAGE),
        description="Replace a role's permissions; effective on the next request everywhere.",
    )
    assign_roles: t.AssignRolesResult = strawberry.mutation(
        resolver=r.assign_roles,
        extensions=auth(Permission.ROLES_MANAGE),
        description="Replace the roles a user holds.",
    )
