"""The secondary market's housekeeping (issue 20): open listings that can no longer sell
(expired, on a loan settled, defaulted or overdue) are ended (`ending.end_listings`).
Idempotent: an ended listing is not open any more, so a second run ends nothing."""

from __future__ import annotations

from services.jobs.registry import register

# Imported so that a worker dispatching the outbox knows the handlers that make each
# purchase's contract and serve the automatic buyers of a new listing (each registers
# when its module is imported).
from services.transfers import autobuy as autobuy
from services.transfers import contracting as contracting
from services.transfers import ending


@register("transfers_end_listings", every_seconds=3_600)
async def transfers_end_listings() -> int:
    """End the open listings that can no longer sell; how many."""
    return await ending.end_listings()
