"""Where repayment and overdue events are published (after commit, through the outbox).

`repayment_events_channel(user_id)`: a member's own repayment events (borrower and
lender), payload {kind, loan_id, installment, amount_fen, at}. The overdue code sends
DUE (the warning before a due date) and OVERDUE to the borrower, ADVANCED to a holder
paid by the risk reserve; the repayments code adds its own kinds on the same channel.

`OVERDUE_EVENTS_CHANNEL`: overdue events for staff (the `overdueEvents` subscription),
payload {kind: RAISED | PAID | BUCKET_CHANGED, loan_id, installment, days, bucket,
amount_fen, at}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

from services import clock, outbox
from services.broker import get_broker

OVERDUE_EVENTS_CHANNEL = "overdue.events"


def repayment_events_channel(user_id: int) -> str:
    return f"repayments.{user_id}"


class OverdueEventKind(StrEnum):
    RAISED = "RAISED"  # an installment became overdue
    PAID = "PAID"  # an overdue installment was paid in full
    BUCKET_CHANGED = "BUCKET_CHANGED"  # it moved to the next aging bucket


async def repayment_event(
    user_id: int, *, kind: str, loan_id: int, installment: int, amount_fen: int
) -> None:
    """Queue a member's repayment event in the caller's transaction."""
    await outbox.enqueue(
        repayment_events_channel(user_id),
        {
            "kind": kind,
            "loan_id": loan_id,
            "installment": installment,
            "amount_fen": amount_fen,
            "at": (await clock.now()).isoformat(),
        },
    )


async def overdue_event(
    *,
    kind: OverdueEventKind,
    loan_id: int,
    installment: int,
    days: int,
    bucket: str | None,
    amount_fen: int,
) -> None:
    """Queue a staff overdue event in the caller's transaction."""
    await outbox.enqueue(
        OVERDUE_EVENTS_CHANNEL,
        {
            "kind": str(kind),
            "loan_id": loan_id,
            "installment": installment,
            "days": days,
            "bucket": bucket,
            "amount_fen": amount_fen,
            "at": (await clock.now()).isoformat(),
        },
    )


async def overdue_stream() -> AsyncIterator[dict[str, Any]]:
    """Every staff overdue event as it is committed (any process: the broker)."""
    async with get_broker().subscribe(OVERDUE_EVENTS_CHANNEL) as messages:
        async for message in messages:
            yield message
