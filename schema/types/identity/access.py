"""Roles and permissions (M11.1)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type


@strawberry.type(description="A role: a named set of permissions.")
class RoleType:
    name: str = strawberry.field(description="Role name, e.g. risk_l1.")
    description: str = strawberry.field(description="What the role is for.")
    is_staff: bool = strawberry.field(description="Held by staff (not members or partners).")
    permissions: list[str] = strawberry.field(description="Permission codes granted.")


@strawberry.input(description="Replace a role's permissions.")
class SetRolePermissionsInput:
    role: str = strawberry.field(description="Role name.")
    permissions: list[str] = strawberry.field(description="The complete new set of codes.")


@strawberry.type(description="The role now grants exactly these permissions.")
class RoleUpdated:
    role: RoleType = strawberry.field(description="The role after the change.")


SetRolePermissionsErrorCode = error_codes(
    "SetRolePermissions", ["NOT_FOUND", "UNKNOWN_PERMISSION"], "Why the role was not changed."
)
SetRolePermissionsError = error_type(
    "SetRolePermissions", SetRolePermissionsErrorCode, "Nothing was changed."
)
SetRolePermissionsResult = Annotated[
    RoleUpdated | SetRolePermissionsError, strawberry.union("SetRolePermissionsResult")
]


@strawberry.input(description="Replace the roles a user holds.")
class AssignRolesInput:
    user_id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    roles: list[str] = strawberry.field(description="The complete new set of role names.")


@strawberry.type(description="The user now holds exactly these roles.")
class RolesAssigned:
    user_id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    roles: list[str] = strawberry.field(description="Role names held.")


AssignRolesErrorCode = error_codes(
    "AssignRoles", ["NOT_FOUND", "INVALID"], "Why the roles were not changed."
)
AssignRolesError = error_type("AssignRoles", AssignRolesErrorCode, "Nothing was changed.")
AssignRolesResult = Annotated[
    RolesAssigned | AssignRolesError, strawberry.union("AssignRolesResult")
]
