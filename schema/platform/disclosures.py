"""Root fields: the monthly disclosure (R7), for anyone, logged in or not."""

from __future__ import annotations

import strawberry

from resolvers.platform import disclosures as r
from schema.directives import public
from schema.types.platform import disclosures as t


@strawberry.type
class DisclosuresQuery:
    disclosures: list[t.MonthlyDisclosure] = strawberry.field(
        resolver=r.disclosures,
        extensions=public(),
        description="The published monthly disclosures (R7), newest month first: the first "
        "`first` (default 12, at most 120; BAD_USER_INPUT otherwise). INTEGRITY when a stored "
        "report no longer matches its hash or signature.",
    )
    disclosure: t.MonthlyDisclosure | None = strawberry.field(
        resolver=r.disclosure_of,
        extensions=public(),
        description="The disclosure of `month` (its first day, as 2026-11-01; BAD_USER_INPUT "
        "for another day), or the newest when no month is given; null when none was "
        "published. INTEGRITY when the stored report no longer matches its hash or signature.",
    )
