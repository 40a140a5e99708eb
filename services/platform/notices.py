"""In-app notices a member reads, live over the `notifications` subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from models.messaging import Notice, OutgoingMessage
from services.kit.broker import Message, get_broker
from services.pages import Page
from services.platform import notifier

if TYPE_CHECKING:
    from services.identity.permissions import Actor


async def list_for(*, actor: Actor, first: int, before_id: int | None = None) -> Page[Notice]:
    """The actor's own notices, newest first."""
    query = Notice.filter(user_id=actor.user_id)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)


async def stream_for(*, actor: Actor) -> AsyncIterator[Message]:
    """Each new notice of the actor as it is committed (published by the outbox)."""
    if actor.user_id is None:
        return
    async with get_broker().subscribe(notifier.notices_channel(actor.user_id)) as messages:
        async for message in messages:
            yield message


async def latest_messages(*, limit: int) -> list[OutgoingMessage]:
    return await notifier.latest_messages(limit=limit)
