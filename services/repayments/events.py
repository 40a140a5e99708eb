"""A member's repayment events (`myRepaymentEvents`): one broker channel per member,
written through the outbox in the business transaction, published after commit.

Payload: `{kind, loan_id, installment, amount_fen, at}` and, for RECEIVED, the parts
`principal_fen`, `interest_fen`, `penalty_fen`. Kinds: DUE and OVERDUE (the borrower's,
published by the overdue job), PAID (the borrower's, one per installment paid) and
RECEIVED (a lender's share of one installment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from services import outbox
from services.broker import get_broker


class RepaymentEventKind(StrEnum):
    DUE = "DUE"
    PAID = "PAID"
    OVERDUE = "OVERDUE"
    RECEIVED = "RECEIVED"


def repayment_events_channel(user_id: int) -> str:
    return f"member.{user_id}.repayments"


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
    payload: dict[str, Any] = {
        "kind": str(kind),
        "loan_id": loan_id,
        "installment": installment,
        "amount_fen": amount_fen,
        "at": at.isoformat(),
        **parts,
    }
    await outbox.enqueue(repayment_events_channel(user_id), payload)


async def stream(user_id: int) -> AsyncIterator[dict[str, Any]]:
    """The member's events as they are committed (any process: the broker)."""
    async with get_broker().subscribe(repayment_events_channel(user_id)) as messages:
        async for message in messages:
            yield message
