"""Recording breaks (idempotent by key), per-transaction reconciliation, listing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from models.finance import (
    BreakKind,
    BreakState,
    InstructionOutcome,
    ReconciliationBreak,
    ReconciliationRun,
)
from models.payments import PaymentInstruction, ProviderAccount
from services.money import ledger
from services.pages import Page
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import ProviderStatus
from services.platform import clock
from services.reconciliation.movements import MOVEMENT_KINDS, movement_of

logger = logging.getLogger(__name__)


@dataclass
class Tally:
    statement_lines: int = 0
    matched: int = 0
    in_flight: int = 0
    accounts_checked: int = 0
    found: int = 0
    known: int = 0


async def record_break(
    *,
    key: str,
    run: ReconciliationRun | None,
    day: date,
    kind: BreakKind,
    request_id: str = "",
    account: str = "",
    platform_amount: int | None,
    provider_amount: int | None,
    note: str,
    movements: Sequence[dict[str, Any]] = (),
    tally: Tally | None = None,
) -> ReconciliationBreak:
    """Record a break once: an existing key is left as it is (whatever its state)."""
    row, created = await ReconciliationBreak.get_or_create(
        key=key,
        defaults={
            "run_id": run.id if run else None,
            "day": day,
            "kind": kind,
            "request_id": request_id,
            "account": account[:64],
            "platform_amount": platform_amount,
            "provider_amount": provider_amount,
            "note": note[:255],
            "details": {"movements": list(movements)},
        },
    )
    if created:
        logger.warning("reconciliation break %s: %s", key, note)
    if tally is not None:
        if created:
            tally.found += 1
        else:
            tally.known += 1
    return row


async def owner_account(provider_account_id: str) -> str:
    """The ledger account a provider account stands for (its available side)."""
    owner = await ProviderAccount.get_or_none(provider_account_id=provider_account_id)
    if owner is None:
        return f"provider:{provider_account_id}" if provider_account_id else ""
    code = owner.owner_code
    return ledger.available(int(code[2:])) if code.startswith("m:") else code


# -- per transaction -----------------------------------------------------------------


@instructions.on_final_outcome("reconciliation")
async def _on_final_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    """Per-transaction reconciliation, in the transaction that records the outcome."""
    if instruction.kind not in MOVEMENT_KINDS:
        return
    today = await clock.today()
    await InstructionOutcome.get_or_create(
        request_id=instruction.request_id,
        defaults={
            "kind": instruction.kind,
            "status": str(instruction.status),
            "business_day": today,
            "platform_amount": instruction.amount,
            "provider_amount": outcome.amount_fen,
        },
    )
    reported = outcome.amount_fen
    if outcome.status != ProviderStatus.SUCCEEDED or reported is None:
        return
    if reported != instruction.amount:
        await record_break(
            key=f"{BreakKind.AMOUNT_MISMATCH}:{instruction.request_id}",
            run=None,
            day=today,
            kind=BreakKind.AMOUNT_MISMATCH,
            request_id=instruction.request_id,
            account=await owner_account(movement_of(instruction, 0)["account_id"]),
            platform_amount=instruction.amount,
            provider_amount=reported,
            note=(
                f"{instruction.kind} {instruction.business_ref}: the provider reports "
                f"{reported} fen, the platform asked for {instruction.amount}"
            ),
            movements=[movement_of(instruction, reported - instruction.amount)],
        )


async def list_breaks(
    *, state: BreakState | None, first: int, before_id: int | None = None
) -> Page[ReconciliationBreak]:
    """Breaks, newest first, optionally in one state."""
    query = ReconciliationBreak.all()
    if state is not None:
        query = query.filter(state=state)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
