"""`@auth(permission: ...)` and `@public`: gate 1, declared on every root field.

A field's permission class puts its directive into the SDL and enforces it, so what
clients read in `schema.graphql` is what the server does. Unauthenticated callers get
`extensions.code = "UNAUTHENTICATED"`, authenticated ones without the permission
`FORBIDDEN`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from services.identity.permissions import Actor, Permission


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="auth",
    description="Callers need this permission (and must be logged in).",
)
class AuthDirective:
    permission: str


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="public",
    description="Anyone may call this field, logged in or not.",
)
class PublicDirective:
    pass


class NotAuthenticatedError(StrawberryGraphQLError):
    def __init__(self) -> None:
        super().__init__("Log in first", extensions={"code": "UNAUTHENTICATED"})


class RequirePermission(BasePermission):
    message = "You do not have permission to do this"
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, permission: Permission) -> None:
        self.permission = permission
        # strawberry declares this ClassVar but reads it from the instance: one per field.
        self._schema_directive = AuthDirective(permission=str(permission))  # type: ignore[misc]

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor: Actor = await info.context.get_actor()
        if not actor.is_authenticated:
            raise NotAuthenticatedError
        return actor.can(self.permission)


class AllowAnyone(BasePermission):
    _schema_directive = PublicDirective()

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


def auth(permission: Permission) -> list[FieldExtension]:
    """Field extensions for a field that needs `permission`."""
    return [PermissionExtension(permissions=[RequirePermission(permission)])]


def public() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[AllowAnyone()])]
