"""Ids as clients send them: a positive integer, or the thing is not found."""

from __future__ import annotations

import strawberry

from services.errors import NotFoundError


def number_of(value: strawberry.ID, field: str, *, what: str = "Not found") -> int:
    """The id `value` as a positive integer; NotFoundError(`what`, field) otherwise (an
    id that cannot exist is answered as one that does not)."""
    try:
        number = int(value)
    except ValueError as error:
        raise NotFoundError(what, field=field) from error
    if number <= 0:
        raise NotFoundError(what, field=field)
    return number
