"""A partner's view of its own usage (issue 18)."""

from __future__ import annotations

from datetime import date

import strawberry


@strawberry.type(description="Your requests on one business day for one operation and outcome.")
class PartnerUsageCount:
    day: date = strawberry.field(description="Business day (UTC).")
    operation: str = strawberry.field(
        description='The persisted operation\'s name; "-" when refused before it was known.'
    )
    outcome: str = strawberry.field(
        description='"ok", or the code of the refusal or of the first error.'
    )
    count: int = strawberry.field(description="How many requests.")
