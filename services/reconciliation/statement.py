"""Statement lines against the platform's instructions, and the platform's settled
movements against the provider's records (steps 1 and 2 of the daily batch)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from models.finance import BreakKind, InstructionOutcome, ReconciliationRun
from models.payments import InstructionStatus, PaymentInstruction
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import PaymentProvider, ProviderStatus, StatementLine
from services.reconciliation.breaks import Tally, owner_account, record_break
from services.reconciliation.movements import (
    IN_FLIGHT,
    MOVEMENT_KINDS,
    movement_of,
    movement_of_line,
)

_CHUNK = 500


async def instructions_by_request(request_ids: Sequence[str]) -> dict[str, PaymentInstruction]:
    found: dict[str, PaymentInstruction] = {}
    for start in range(0, len(request_ids), _CHUNK):
        chunk = list(request_ids[start : start + _CHUNK])
        for row in await PaymentInstruction.filter(request_id__in=chunk):
            found[row.request_id] = row
    return found


async def _settle_late(
    instruction: PaymentInstruction, provider: PaymentProvider
) -> PaymentInstruction:
    """Apply the provider's answer to an instruction still in flight on the platform,
    through the normal outcome path (a lost callback, found again)."""
    known = await provider.query(request_id=instruction.request_id)
    if known is not None and known.status != ProviderStatus.PENDING:
        await instructions.apply(
            instruction.request_id,
            Outcome(
                known.status, known.provider_ref, known.reason, dict(known.extra), known.amount_fen
            ),
        )
    return await PaymentInstruction.get(id=instruction.id)


async def match_statement(
    run: ReconciliationRun,
    day: date,
    lines: Sequence[StatementLine],
    provider: PaymentProvider,
    tally: Tally,
) -> set[str]:
    platform = await instructions_by_request([line.request_id for line in lines])
    seen: set[str] = set()
    for line in lines:
        seen.add(line.request_id)
        instruction = platform.get(line.request_id)
        common: dict[str, Any] = {
            "run": run,
            "day": day,
            "request_id": line.request_id,
            "provider_amount": line.amount_fen,
            "tally": tally,
        }
        if instruction is None:
            await record_break(
                key=f"{BreakKind.MISSING_AT_PLATFORM}:{line.request_id}",
                kind=BreakKind.MISSING_AT_PLATFORM,
                account=await owner_account(line.account_id),
                platform_amount=None,
                note=f"{line.kind} of {line.amount_fen} fen at the provider, unknown here",
                movements=[movement_of_line(line, line.amount_fen)],
                **common,
            )
            continue
        account = await owner_account(movement_of(instruction, 0)["account_id"])
        if instruction.kind != line.kind:
            await record_break(
                key=f"{BreakKind.KIND_MISMATCH}:{line.request_id}",
                kind=BreakKind.KIND_MISMATCH,
                account=account,
                platform_amount=instruction.amount,
                note=f"the provider settled a {line.kind}, the platform a {instruction.kind}",
                movements=[
                    movement_of_line(line, line.amount_fen),
                    movement_of(instruction, -instruction.amount),
                ],
                **common,
            )
            continue
        if instruction.status in IN_FLIGHT:
            instruction = await _settle_late(instruction, provider)
            if instruction.status in IN_FLIGHT:
                tally.in_flight += 1
                continue
        if instruction.status == InstructionStatus.FAILED:
            await record_break(
                key=f"{BreakKind.STATUS_MISMATCH}:{line.request_id}",
                kind=BreakKind.STATUS_MISMATCH,
                account=account,
                platform_amount=0,
                note=f"{instruction.kind} SUCCEEDED at the provider, FAILED on the platform",
                movements=[movement_of(instruction, line.amount_fen)],
                **common,
            )
        elif instruction.amount != line.amount_fen:
            await record_break(
                key=f"{BreakKind.AMOUNT_MISMATCH}:{line.request_id}",
                kind=BreakKind.AMOUNT_MISMATCH,
                account=account,
                platform_amount=instruction.amount,
                note=(
                    f"{instruction.kind} {instruction.business_ref}: the statement says "
                    f"{line.amount_fen} fen, the platform {instruction.amount}"
                ),
                movements=[movement_of(instruction, line.amount_fen - instruction.amount)],
                **common,
            )
        else:
            tally.matched += 1
    return seen


async def _succeeded_on(day: date) -> list[PaymentInstruction]:
    """The platform's movements whose SUCCEEDED outcome arrived on business day `day`."""
    request_ids = cast(
        list[str],
        await InstructionOutcome.filter(
            business_day=day, status=InstructionStatus.SUCCEEDED
        ).values_list("request_id", flat=True),
    )
    rows = list((await instructions_by_request(request_ids)).values())
    # Outcomes from before the InstructionOutcome table: by their (UTC) resolution day.
    start = datetime.combine(day, time(), tzinfo=UTC)
    legacy = await PaymentInstruction.filter(
        status=InstructionStatus.SUCCEEDED,
        kind__in=[str(kind) for kind in MOVEMENT_KINDS],
        resolved_at__gte=start,
        resolved_at__lt=start + timedelta(days=1),
    )
    recorded = set(
        cast(
            list[str],
            await InstructionOutcome.filter(
                request_id__in=[row.request_id for row in legacy] or [""]
            ).values_list("request_id", flat=True),
        )
    )
    rows += [row for row in legacy if row.request_id not in recorded]
    return sorted(rows, key=lambda row: row.id)


async def check_platform_side(
    run: ReconciliationRun,
    day: date,
    seen: set[str],
    provider: PaymentProvider,
    tally: Tally,
) -> None:
    for instruction in await _succeeded_on(day):
        if instruction.request_id in seen:
            continue
        known = await provider.query(request_id=instruction.request_id)
        common: dict[str, Any] = {
            "run": run,
            "day": day,
            "request_id": instruction.request_id,
            "account": await owner_account(movement_of(instruction, 0)["account_id"]),
            "platform_amount": instruction.amount,
            "tally": tally,
        }
        if known is None:
            await record_break(
                key=f"{BreakKind.MISSING_AT_PROVIDER}:{instruction.request_id}",
                kind=BreakKind.MISSING_AT_PROVIDER,
                provider_amount=None,
                note=f"{instruction.kind} {instruction.business_ref} unknown to the provider",
                movements=[movement_of(instruction, -instruction.amount)],
                **common,
            )
        elif known.status != ProviderStatus.SUCCEEDED:
            await record_break(
                key=f"{BreakKind.STATUS_MISMATCH}:{instruction.request_id}",
                kind=BreakKind.STATUS_MISMATCH,
                provider_amount=0,
                note=f"{instruction.kind} SUCCEEDED here, {known.status} at the provider",
                movements=[movement_of(instruction, -instruction.amount)],
                **common,
            )
        elif known.amount_fen != instruction.amount:
            await record_break(
                key=f"{BreakKind.AMOUNT_MISMATCH}:{instruction.request_id}",
                kind=BreakKind.AMOUNT_MISMATCH,
                provider_amount=known.amount_fen,
                note=(
                    f"{instruction.kind} {instruction.business_ref}: the provider's record "
                    f"says {known.amount_fen} fen, the platform {instruction.amount}"
                ),
                movements=[movement_of(instruction, known.amount_fen - instruction.amount)],
                **common,
            )
