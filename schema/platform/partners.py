"""Root fields: what partners run about themselves (issue 18, docs/partners.md)."""

from __future__ import annotations

import strawberry

from resolvers.platform import partners as r
from schema.directives import auth
from schema.types.platform import partners as t
from services.identity.permissions import Permission


@strawberry.type
class PartnersQuery:
    partner_usage: list[t.PartnerUsageCount] = strawberry.field(
        resolver=r.partner_usage,
        extensions=auth(Permission.PARTNER_QUERY),
        description="Partners: your own requests per business day, operation and outcome "
        "(`since`/`until` inclusive, business days; the last 7 days by default, at most "
        "92). Counts reach it within PARTNER_USAGE_FLUSH_SECONDS of each request.",
    )
