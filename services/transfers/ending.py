"""The listings' life after listing: ended when they can no longer sell (the hourly job
`transfers_end_listings`), repriced when principal is paid to their holding while they
are open (`holdings.on_principal_paid`). Each change is a market event
(`services.transfers.events`)."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.transactions import in_transaction

from models.transfers import ListingStatus, TransferListing
from services.errors import DomainError
from services.platform import clock, outbox, parameters
from services.repayments import holdings
from services.transfers import events, market, policy


async def end_listings() -> int:
    """End every open listing that can no longer sell (the daily job): expired, on a loan
    no longer REPAYING (settled, defaulted), or on an overdue loan when the rules do not
    allow those; ENDED with the reason, its version moved. How many it ended."""
    rules = await parameters.get(policy.RULES)
    now = await clock.now()
    ended = 0
    for listing in await TransferListing.filter(status=ListingStatus.OPEN).order_by("id"):
        reason = ""
        if listing.expires_at <= now:
            reason = "EXPIRED"
        else:
            try:
                await market.tradeable_loan(listing.loan_id, rules)
            except DomainError as error:
                reason = error.code
        if not reason:
            continue
        async with in_transaction():
            changed = await TransferListing.filter(id=listing.id, status=ListingStatus.OPEN).update(
                status=ListingStatus.ENDED,
                end_reason=reason,
                ended_at=now,
                version=listing.version + 1,
            )
            if changed:
                await listing.refresh_from_db()
                await events.enqueue(events.MarketEventKind.ENDED, listing, for_sale_fen=0)
        ended += changed
    if ended:
        outbox.wake()
    return ended


async def _repriced(loan_ids: Sequence[int]) -> None:
    """Principal of `loan_ids` was paid to their holdings (in that transaction): each
    open listing of them offers what its holding still has (`for_sale`), told as
    REPRICED."""
    for listing in await TransferListing.filter(
        loan_id__in=list(loan_ids), status=ListingStatus.OPEN
    ).order_by("id"):
        await events.enqueue(
            events.MarketEventKind.REPRICED, listing, for_sale_fen=await market.for_sale(listing)
        )


holdings.on_principal_paid(_repriced)
