"""Typed errors for expected failures: union members implementing `UserError`."""

from __future__ import annotations

from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from services.credit import catalogue, eligibility
from services.errors import DomainError
from services.kit.broker import Gap


@strawberry.interface(description="An expected failure: nothing was changed.")
class UserError:
    message: str = strawberry.field(description="What went wrong, for a person to read.")
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), if one is."
    )


@strawberry.type(description="A verification kind the member must have approved first.")
class MissingVerification:
    code: str = strawberry.field(
        description="The kind's code (verificationKinds): submit it with submitVerification."
    )
    title: str = strawberry.field(description="What it is.")


def missing_verifications(error: DomainError) -> list[MissingVerification]:
    """The kinds a LENDING_VERIFICATION_REQUIRED error names; empty for other codes."""
    found = []
    for code in eligibility.missing_of(error):
        kind = catalogue.get_kind(code)
        found.append(MissingVerification(code=code, title=kind.title if kind else code))
    return found


def error_type(
    name: str, codes: type[Enum], description: str, *, lists_missing_verifications: bool = False
) -> Any:
    """A `<name>Error` type implementing UserError with `code: <name>ErrorCode!`; with
    `lists_missing_verifications` also `missingVerifications: [MissingVerification!]!`
    (for mutations that take money to lend: LENDING_VERIFICATION_REQUIRED)."""

    def from_domain(cls: Any, error: DomainError) -> Any:
        extra: dict[str, Any] = {}
        if lists_missing_verifications:
            extra["missing_verifications"] = missing_verifications(error)
        return cls(message=error.message, field=error.field, code=codes[error.code], **extra)

    annotations: dict[str, Any] = {"code": codes}
    namespace: dict[str, Any] = {
        "code": strawberry.field(description="Stable code a client can switch on."),
        "from_domain": classmethod(from_domain),
    }
    if lists_missing_verifications:
        annotations["missing_verifications"] = list[MissingVerification]
        namespace["missing_verifications"] = strawberry.field(
            description="For LENDING_VERIFICATION_REQUIRED: the verification kinds the "
            "catalogue requires for lending (requiredForLending) that the member has not "
            "had approved yet, in catalogue order. Empty for every other code."
        )
    namespace["__annotations__"] = annotations
    cls = type(f"{name}Error", (UserError,), namespace)
    return strawberry.type(cls, name=f"{name}Error", description=description)


def error_codes(name: str, codes: list[str], description: str) -> Any:
    # Enum(...) with a computed name makes a new enum class; mypy types it as a member.
    enum_class = cast(type[Enum], Enum(f"{name}ErrorCode", {c: c for c in codes}))
    return strawberry.enum(enum_class, description=description)


class ResyncError(StrawberryGraphQLError):
    """In a subscription's stream: events may have been missed here (the subscriber fell
    behind, or the event broker reconnected). The stream goes on; read the state again."""

    def __init__(self, gap: Gap) -> None:
        super().__init__(
            f"Events may have been missed ({gap.reason}); read the current state again.",
            extensions={"code": "RESYNC"},
        )


def resync(gap: Gap) -> Any:
    """What a subscription yields for a `Gap`: graphql-core reports a yielded error as
    that event's error (`data: null`, code RESYNC) and the stream goes on. Typed Any so
    it fits the subscription's declared event type."""
    return ResyncError(gap)


class BadUserInputError(StrawberryGraphQLError):
    """Bad arguments to a query (queries have no result union): a top-level error."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT", "field": field})
