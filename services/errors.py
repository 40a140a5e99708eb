"""Expected business failures. Resolvers turn them into typed GraphQL errors."""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure with a stable `code`; raising it inside a transaction rolls back."""

    code: str = "INVALID"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInputError(DomainError):
    code = "INVALID"


class NotFoundError(DomainError):
    code = "NOT_FOUND"


class PermissionDeniedError(DomainError):
    """Raised by ownership checks in services (gate 2)."""

    code = "FORBIDDEN"


class AuthenticationError(DomainError):
    code = "UNAUTHENTICATED"
