"""The daily reconciliation batch (M4.6): once a day, the previous day against the
provider's statement file and balances."""

from __future__ import annotations

import logging

from services import reconciliation
from services.jobs.registry import register
from services.payments.gateway import current_provider

logger = logging.getLogger(__name__)


@register("daily_reconciliation", every_seconds=3600)
async def daily_reconciliation() -> list[str]:
    """Checked hourly, runs once a day: reconciles yesterday (business clock), and any
    earlier day of the last week the job missed, unless a COMPLETED run of that day
    exists. A FAILED run (provider down) is tried again the next hour."""
    if current_provider() is None:
        logger.warning("daily reconciliation skipped: no payment provider in this process")
        return []
    runs = await reconciliation.catch_up()
    return [f"{run.day.isoformat()}:{run.status}" for run in runs]
