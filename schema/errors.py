"""Typed errors for expected failures: union members implementing `UserError`."""

from __future__ import annotations

from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from services.errors import DomainError


@strawberry.interface(description="An expected failure: nothing was changed.")
class UserError:
    message: str = strawberry.field(description="What went wrong, for a person to read.")
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), if one is."
    )


def error_type(name: str, codes: type[Enum], description: str) -> Any:
    """A `<name>Error` type implementing UserError with `code: <name>ErrorCode!`."""

    def from_domain(cls: Any, error: DomainError) -> Any:
        return cls(message=error.message, field=error.field, code=codes[error.code])

    cls = type(
        f"{name}Error",
        (UserError,),
        {
            "__annotations__": {"code": codes},
            "code": strawberry.field(description="Stable code a client can switch on."),
            "from_domain": classmethod(from_domain),
        },
    )
    return strawberry.type(cls, name=f"{name}Error", description=description)


def error_codes(name: str, codes: list[str], description: str) -> Any:
    # Enum(...) with a computed name makes a new enum class; mypy types it as a member.
    enum_class = cast(type[Enum], Enum(f"{name}ErrorCode", {c: c for c in codes}))
    return strawberry.enum(enum_class, description=description)


class BadUserInputError(StrawberryGraphQLError):
    """Bad arguments to a query (queries have no result union): a top-level error."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT", "field": field})
