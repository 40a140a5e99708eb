"""Expected business failures. Resolvers turn them into typed GraphQL errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """An expected failure with a stable `code`; raising it inside a transaction rolls back.

    `details` holds JSON-able facts beyond the message that a client may need to act
    (which verifications are missing, say); the typed GraphQL error of a mutation shows
    the ones it declares. An idempotent request keeps them with its stored answer, so a
    replay raises the same error with the same details."""

    code: str = "INVALID"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details: dict[str, Any] = dict(details or {})


class InvalidInputError(DomainError):
    code = "INVALID"


class NotFoundError(DomainError):
    code = "NOT_FOUND"


class PermissionDeniedError(DomainError):
    """Raised by ownership checks in services (gate 2)."""

    code = "FORBIDDEN"


class AuthenticationError(DomainError):
    code = "UNAUTHENTICATED"
