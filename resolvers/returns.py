"""Investor returns (M12.3): the lender's own, any lender's for staff, platform-wide."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import Info

from resolvers.identity.access import decode_user_id
from schema.errors import BadUserInputError
from schema.scalars import Money, SignedRate
from schema.types import returns as t
from services.analytics import returns
from services.errors import DomainError, PermissionDeniedError


def _rate(value: Decimal | None) -> SignedRate | None:
    return None if value is None else SignedRate(value)


def _returns(figures: returns.LenderReturns) -> t.LenderReturns:
    lender = figures.lender_id
    return t.LenderReturns(
        lender_id=None
        if lender is None
        else strawberry.ID(str(relay.GlobalID("User", str(lender)))),
        as_of=figures.as_of,
        invested=Money(figures.invested_fen),
        received=Money(figures.received_fen),
        outstanding_principal=Money(figures.outstanding_principal_fen),
        realised_xirr=_rate(figures.realised_xirr),
        expected_xirr=_rate(figures.expected_xirr),
    )


def _refused(error: DomainError) -> StrawberryGraphQLError:
    """A top-level error: FORBIDDEN for ownership, BAD_USER_INPUT (with the field) for an
    unknown lender or a day after today."""
    if isinstance(error, PermissionDeniedError):
        return StrawberryGraphQLError(error.message, extensions={"code": "FORBIDDEN"})
    return BadUserInputError(error.message, field=error.field)


async def lender_returns(
    info: Info, lender_id: strawberry.ID | None = None, as_of: date | None = None
) -> t.LenderReturns:
    actor = await info.context.get_actor()
    try:
        wanted = None if lender_id is None else decode_user_id(lender_id, field="lenderId")
        figures = await returns.lender_returns(actor=actor, lender_id=wanted, as_of=as_of)
    except DomainError as error:
        raise _refused(error) from error
    return _returns(figures)


async def platform_returns(info: Info, as_of: date | None = None) -> t.LenderReturns:
    actor = await info.context.get_actor()
    try:
        figures = await returns.platform_returns(actor=actor, as_of=as_of)
    except DomainError as error:
        raise _refused(error) from error
    return _returns(figures)
