"""Contract e-mails (M3.5): retry the failed ones whose backoff has passed."""

from __future__ import annotations

from services.contracts import emails
from services.jobs.registry import register


@register("contract_emails", every_seconds=30)
async def retry_contract_emails() -> int:
    """Sends every due retry; returns how many went out."""
    return await emails.retry_due()
