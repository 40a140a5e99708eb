"""Root fields: industry credit sharing, answered for partner platforms (R1, M2.7)."""

from __future__ import annotations

import strawberry

from resolvers.credit import sharing as r
from schema.directives import auth
from schema.types.credit import sharing as t
from services.identity.permissions import Permission


@strawberry.type
class SharingQuery:
    industry_credit_query: t.IndustryCreditAnswer = strawberry.field(
        resolver=r.industry_credit_query,
        extensions=auth(Permission.PARTNER_QUERY),
        description="For partner platforms: what the person with this ID number owes on "
        "LendBridge as borrower, and whether any of it is overdue. Each query is recorded "
        "(who asked, a keyed hash of the number, the purpose). Bad input: BAD_USER_INPUT "
        "with `field` (idNumber or purpose), and nothing is recorded.",
    )
