"""The monthly disclosure job (R7): once a business day, on one of the month's first five
working days, last month's report is built and published if it is not yet
(`services.analytics.disclosure.publish`).

Idempotent: the month is unique in `monthly_disclosures`, so a second run, or a second
worker racing this one, stores nothing more; a run cut off before the row was written
builds the report again on its next run, from figures as of a day already past.
"""

from __future__ import annotations

from services.analytics import disclosure
from services.jobs.registry import register


@register("publish_disclosure", every_seconds=86_400)
async def publish_disclosure() -> str:
    """Publish last month's disclosure when due; says what it did."""
    return (await disclosure.publish()).summary
