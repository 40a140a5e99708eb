"""Root fields: investor returns (M12.3)."""

from __future__ import annotations

import strawberry

from resolvers import returns as r
from schema.directives import auth
from schema.types import returns as t
from services.identity.permissions import Permission


@strawberry.type
class ReturnsQuery:
    lender_returns: t.LenderReturns = strawberry.field(
        resolver=r.lender_returns,
        extensions=auth(Permission.PROFILE_READ),
        description="A lender's returns as of asOf (default today): your own without "
        "lenderId; another lender's only with analytics:read (FORBIDDEN otherwise; an id "
        "that is no member: BAD_USER_INPUT on lenderId). asOf after today: BAD_USER_INPUT.",
    )
    platform_returns: t.LenderReturns = strawberry.field(
        resolver=r.platform_returns,
        extensions=auth(Permission.ANALYTICS_READ),
        description="Every lender's cash flows pooled: the platform-wide returns as of "
        "asOf (default today; after today: BAD_USER_INPUT). lenderId is null.",
    )
