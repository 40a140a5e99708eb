"""A partner's own usage (issue 18)."""

from __future__ import annotations

from datetime import date

from strawberry.types import Info

from schema.errors import BadUserInputError
from schema.types.platform import partners as t
from services.errors import InvalidInputError
from services.partners import usage


async def partner_usage(
    info: Info, since: date | None = None, until: date | None = None
) -> list[t.PartnerUsageCount]:
    try:
        rows = await usage.own_usage(await info.context.get_actor(), since, until)
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return [
        t.PartnerUsageCount(day=r.day, operation=r.operation, outcome=r.outcome, count=r.count)
        for r in rows
    ]
