"""A member's repayment events (`myRepaymentEvents`): one broker channel per member,
written through the outbox in the business transaction, published after commit.

Payload: `{kind, loan_id, installment, amount_fen, at}` and, for RECEIVED, the parts
`principal_fen`, `interest_fen`, `penalty_fen`. Kinds: DUE and OVERDUE (the borrower's,
published by the overdue job), PAID (the borrower's, one per installment paid off),
PARTIALLY_PAID (the borrower's, one per installment a repayment of an amount paid only
in part: `amount_fen` paid of it now, the parts `principal_fen`, `interest_fen`,
`fee_fen`, `penalty_fen`, and `remaining_fen` it still asks), RECEIVED (a lender's share
of one installment, paid off or in part), ADVANCED (a holder paid by the risk reserve,
from the overdue job).

`OVERDUE_EVENTS_CHANNEL`: overdue events for staff (the `overdueEvents` subscription),
payload {kind: RAISED | PAID | BUCKET_CHANGED, loan_id, installment, days, bucket,
amount_fen, at}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.kit.broker import Message, get_broker
from services.platform import clock, outbox


class RepaymentEventKind(StrEnum):
    DUE = "DUE"
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    OVERDUE = "OVERDUE"
    RECEIVED = "RECEIVED"
    ADVANCED = "ADVANCED"


def repayment_events_channel(user_id: int) -> str:
    return f"member.{user_id}.repayments"


@dataclass(frozen=True)
class Event:
    """A member's repayment event, as written to the outbox."""

    user_id: int
    kind: RepaymentEventKind
    loan_id: int
    installment: int
    amount_fen: int
    at: datetime
    parts: dict[str, int] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "loan_id": self.loan_id,
            "installment": self.installment,
            "amount_fen": self.amount_fen,
            "at": self.at.isoformat(),
            **self.parts,
        }


async def enqueue(
    *,
    user_id: int,
    kind: RepaymentEventKind,
    loan_id: int,
    installment: int,
    amount_fen: int,
    at: datetime,
    **parts: int,
) -> None:
    """Write one event in the caller's transaction (call `outbox.wake()` after commit)."""
    event = Event(user_id, kind, loan_id, installment, amount_fen, at, parts)
    await outbox.enqueue(repayment_events_channel(user_id), event.payload())


async def enqueue_many(events: Sequence[Event]) -> None:
    """Write several events as one outbox row (`outbox.enqueue_fanout`: published in
    their order), in the caller's transaction."""
    await outbox.enqueue_fanout(
        [(repayment_events_channel(event.user_id), event.payload()) for event in events]
    )


async def stream(user_id: int) -> AsyncIterator[Message]:
    """The member's events as they are committed (any process: the broker)."""
    async with get_broker().subscribe(repayment_events_channel(user_id)) as messages:
        async for message in messages:
            yield message


async def repayment_event(
    user_id: int, *, kind: str, loan_id: int, installment: int, amount_fen: int
) -> None:
    """Queue a member's repayment event in the caller's transaction (overdue job)."""
    await enqueue(
        user_id=user_id,
        kind=RepaymentEventKind(kind),
        loan_id=loan_id,
        installment=installment,
        amount_fen=amount_fen,
        at=await clock.now(),
    )


# --- staff: overdue events ------------------------------------------------------------

OVERDUE_EVENTS_CHANNEL = "overdue.events"


class OverdueEventKind(StrEnum):
    RAISED = "RAISED"  # an installment became overdue
    PAID = "PAID"  # an overdue installment was paid in full
    BUCKET_CHANGED = "BUCKET_CHANGED"  # it moved to the next aging bucket


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


async def overdue_stream() -> AsyncIterator[Message]:
    """Every staff overdue event as it is committed (any process: the broker)."""
    async with get_broker().subscribe(OVERDUE_EVENTS_CHANNEL) as messages:
        async for message in messages:
            yield message
