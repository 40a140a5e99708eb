"""Signed callbacks from the provider (per-transaction reconciliation on every callback).

A callback is accepted only with a valid signature and a fresh timestamp (the adapter
checks both) and an event id never seen before (checked here, in the database, so a
replay to any process is refused). Its outcome is applied to the instruction it names.
"""

from __future__ import annotations

import logging

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.payments import ProcessedCallback
from services.payments import instructions
from services.payments.gateway import get_provider
from services.payments.instructions import Outcome
from services.payments.provider import InvalidCallbackError
from services.platform import outbox

logger = logging.getLogger(__name__)


class ReplayedCallbackError(Exception):
    """The event id was processed before."""


async def handle(*, headers: dict[str, str], body: bytes) -> str:
    """Verify and apply one callback; returns the instruction's status.

    Raises InvalidCallbackError (forged or stale) and ReplayedCallbackError.
    """
    event = get_provider().verify_callback(headers=headers, body=body)
    try:
        async with in_transaction():
            await ProcessedCallback.create(event_id=event.event_id, request_id=event.request_id)
    except IntegrityError as error:
        raise ReplayedCallbackError(event.event_id) from error
    status = await instructions.apply(
        event.request_id,
        Outcome(event.status, reason=event.reason, extra={}, amount_fen=event.amount_fen),
    )
    outbox.wake()
    return str(status) if status is not None else "UNKNOWN_REQUEST"


__all__ = ["InvalidCallbackError", "ReplayedCallbackError", "handle"]
