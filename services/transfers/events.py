"""The market's events (`transferMarketEvents`): one public broker channel, written
through the outbox in the business transaction, published after the commit.

Kinds: LISTED (a new listing), REPRICED (an installment paid while it is open lowered
what it offers: the holding's outstanding principal fell), SOLD (a purchase: `principal_fen`
bought, what is left), CANCELLED (by the seller), ENDED (expired, the loan settled or
defaulted, overdue: `reason`). Public figures only, as `transferListings` shows them: no
seller, buyer or borrower identity.

Payload: {kind, listing_id, loan_id, status, for_sale_fen, listed_fen, sold_fen, rate,
version, principal_fen (SOLD) or null, reason, at}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum

from models.transfers import TransferListing
from services.kit.broker import Message, get_broker
from services.platform import clock, outbox

MARKET_CHANNEL = "transfers.market"
# A new listing, for the automatic buyers (`services.transfers.autobuy`): an outbox
# event with a handler, not a broker message.
LISTED_TOPIC = "transfers.listed"
# A purchase done, for its contract (`services.transfers.contracting`).
CONTRACT_TOPIC = "transfers.contract"


class MarketEventKind(StrEnum):
    LISTED = "LISTED"
    REPRICED = "REPRICED"
    SOLD = "SOLD"
    CANCELLED = "CANCELLED"
    ENDED = "ENDED"


async def enqueue(
    kind: MarketEventKind,
    listing: TransferListing,
    *,
    for_sale_fen: int,
    principal_fen: int | None = None,
) -> None:
    """Write one event in the caller's transaction (call `outbox.wake()` after commit)."""
    await outbox.enqueue(
        MARKET_CHANNEL,
        {
            "kind": str(kind),
            "listing_id": listing.id,
            "loan_id": listing.loan_id,
            "status": str(listing.status),
            "for_sale_fen": for_sale_fen,
            "listed_fen": listing.listed_fen,
            "sold_fen": listing.sold_fen,
            "rate": str(listing.rate),
            "version": listing.version,
            "principal_fen": principal_fen,
            "reason": listing.end_reason,
            "at": (await clock.now()).isoformat(),
        },
    )


async def stream() -> AsyncIterator[Message]:
    """The market's events as they are committed (any process: the broker)."""
    async with get_broker().subscribe(MARKET_CHANNEL) as messages:
        async for message in messages:
            yield message
