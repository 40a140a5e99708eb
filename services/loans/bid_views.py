"""Reads of bids: a lender's bids, a loan's bidding progress as a live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from models.bids import Bid
from services.kit.broker import Message, get_broker
from services.loans.bidding import progress_channel
from services.pages import Page


async def bids_of(user_id: int, *, first: int, before_id: int | None) -> Page[Bid]:
    """A lender's bids, newest first (`first` rows before `before_id`)."""
    query = Bid.filter(lender_id=user_id)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)


async def progress_stream(loan_id: int) -> AsyncIterator[Message]:
    """Every progress event of one loan as it is committed (any process: the broker)."""
    async with get_broker().subscribe(progress_channel(loan_id)) as messages:
        async for message in messages:
            yield message
