"""The secondary market's housekeeping (issue 20): open listings that can no longer sell
(expired, on a loan settled, defaulted or overdue) are ended (`ending.end_listings`).
Idempotent: an ended listing is not open any more, so a second run ends nothing."""

from __future__ import annotations

from services.jobs.registry import register

# `handlers`: so that a worker dispatching the outbox knows the market's handlers.
from services.transfers import ending, handlers


@register("transfers_end_listings", every_seconds=3_600)
async def transfers_end_listings() -> int:
    """End the open listings that can no longer sell; how many."""
    return await ending.end_listings()


__all__ = ["handlers", "transfers_end_listings"]
