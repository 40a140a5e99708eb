"""Balances at the provider against the ledger (step 3 of the daily batch)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, cast, runtime_checkable

from models.finance import BreakKind, BreakState, ReconciliationBreak, ReconciliationRun
from models.ledger import LedgerAccount
from models.payments import PaymentInstruction, ProviderAccount
from services.money import ledger
from services.payments.provider import PaymentProvider, ProviderUnavailableError
from services.platform.clock import system_now
from services.reconciliation.breaks import Tally, record_break
from services.reconciliation.movements import (
    FINAL,
    IN_FLIGHT,
    LEDGER_AFTER_OUTCOME,
    MOVEMENT_KINDS,
    Effect,
    combined,
    effects_of,
    movement_of,
    negated,
)

PLATFORM_OWNERS = (ledger.FEE, ledger.RISK_RESERVE, ledger.GUARANTEE_FUND, ledger.MARGIN)
_MAX_SUMS = 4096  # beyond this many combinations, an interval stands in for the exact set


@runtime_checkable
class BalanceReporter(Protocol):
    """A provider that reports every virtual account's balances (http_provider does)."""

    async def balances(self) -> Sequence[Any]: ...


@dataclass
class _Owner:
    labels: tuple[str, str]  # break account for the available and the frozen balance
    provider: tuple[int, int] = (0, 0)
    ledger: tuple[int, int] = (0, 0)
    account_id: str = ""


@dataclass
class _Uncertain:
    """Something that may or may not be in the balances: its possible effects."""

    options: list[Effect] = field(default_factory=list)


async def _in_flight() -> list[PaymentInstruction]:
    return await PaymentInstruction.filter(
        status__in=list(IN_FLIGHT), kind__in=[str(kind) for kind in MOVEMENT_KINDS]
    )


def _instruction_options(
    instruction: PaymentInstruction, *, settled_while_reading: bool
) -> list[Effect]:
    effect = effects_of(movement_of(instruction, instruction.amount))[0]
    in_flight = effect if instruction.kind in LEDGER_AFTER_OUTCOME else negated(effect)
    return [in_flight, negated(effect)] if settled_while_reading else [in_flight]


def _explains(difference: int, values: Iterable[list[int]]) -> bool:
    """True when `difference` is a sum choosing at most one value from each list."""
    sums = {0}
    low = high = 0
    exact = True
    for choices in values:
        low += min(0, *choices)
        high += max(0, *choices)
        if exact:
            sums = {total + value for total in sums for value in (0, *choices)}
            if len(sums) > _MAX_SUMS:
                exact = False
    return difference in sums if exact else low <= difference <= high


async def check_balances(
    run: ReconciliationRun, day: date, provider: PaymentProvider, tally: Tally
) -> None:
    if not isinstance(provider, BalanceReporter):
        raise ProviderUnavailableError("this provider does not report balances")
    started = system_now()
    reported = await provider.balances()
    flying = {row.id: row for row in await _in_flight()}
    balances = dict(
        cast(list[tuple[str, int]], await LedgerAccount.all().values_list("code", "balance"))
    )
    member_ids = cast(
        list[int],
        await LedgerAccount.filter(user_id__isnull=False)
        .distinct()
        .values_list("user_id", flat=True),
    )
    flying.update({row.id: row for row in await _in_flight()})
    settled = await PaymentInstruction.filter(
        status__in=list(FINAL),
        kind__in=[str(kind) for kind in MOVEMENT_KINDS],
        resolved_at__gte=started,
    )
    open_breaks = await ReconciliationBreak.filter(state=BreakState.OPEN).exclude(
        kind=BreakKind.BALANCE_MISMATCH
    )
    custody = dict(
        cast(
            list[tuple[str, str]],
            await ProviderAccount.filter(provider_account_id__isnull=False).values_list(
                "owner_code", "provider_account_id"
            ),
        )
    )

    owners: dict[str, _Owner] = {}
    for user_id in member_ids:
        owners[f"m:{user_id}"] = _Owner(
            labels=(ledger.available(user_id), ledger.frozen(user_id)),
            ledger=(
                balances.get(ledger.available(user_id), 0)
                + balances.get(ledger.withdrawing(user_id), 0),
                balances.get(ledger.frozen(user_id), 0),
            ),
        )
    for code in PLATFORM_OWNERS:
        owners[code] = _Owner(labels=(code, f"{code}:frozen"), ledger=(balances.get(code, 0), 0))
    # Guarantee companies: the custody account's available and its frozen margin.
    for code in balances:
        if code.startswith("g:") and not code.endswith(":margin"):
            margin = ledger.org_margin(code)
            owners[code] = _Owner(
                labels=(code, margin), ledger=(balances.get(code, 0), balances.get(margin, 0))
            )
    by_account: dict[str, _Owner] = {}
    for owner_code, account_id in custody.items():
        owner = owners.get(owner_code)
        if owner is None and owner_code.startswith("m:"):
            user_id = int(owner_code[2:])
            owner = owners[owner_code] = _Owner(
                labels=(ledger.available(user_id), ledger.frozen(user_id))
            )
        if owner is not None:
            owner.account_id = account_id
            by_account[account_id] = owner
    for balance in reported:
        owner = by_account.get(balance.account_id)
        if owner is None:
            prefix = f"provider:{balance.account_id}"
            owner = owners[prefix] = _Owner(
                labels=(f"{prefix}:available", f"{prefix}:frozen"), account_id=balance.account_id
            )
            by_account[balance.account_id] = owner
        owner.provider = (balance.available_fen, balance.frozen_fen)

    uncertain: list[_Uncertain] = []
    settled_ids = {row.id for row in settled}
    for row in [*flying.values(), *(row for row in settled if row.id not in flying)]:
        uncertain.append(
            _Uncertain(_instruction_options(row, settled_while_reading=row.id in settled_ids))
        )
    for found in open_breaks:
        uncertain.append(_Uncertain(combined(found.details.get("movements") or [])))

    tally.accounts_checked = len(owners)
    for owner in owners.values():
        for index, label in enumerate(owner.labels):
            difference = owner.provider[index] - owner.ledger[index]
            if difference == 0:
                continue
            values = [
                [option.get(owner.account_id, (0, 0))[index] for option in item.options]
                for item in uncertain
                if any(owner.account_id in option for option in item.options)
            ]
            if owner.account_id and _explains(difference, values):
                continue
            if await ReconciliationBreak.filter(
                kind=BreakKind.BALANCE_MISMATCH, account=label, state=BreakState.OPEN
            ).exists():
                tally.known += 1
                continue
            side = "available + withdrawing" if label.endswith(":available") else "balance"
            await record_break(
                key=f"{BreakKind.BALANCE_MISMATCH}:{label}:{day.isoformat()}",
                run=run,
                day=day,
                kind=BreakKind.BALANCE_MISMATCH,
                account=label,
                platform_amount=owner.ledger[index],
                provider_amount=owner.provider[index],
                note=(
                    f"{label}: provider {owner.provider[index]} fen, ledger ({side}) "
                    f"{owner.ledger[index]} fen, unexplained {difference}"
                ),
                tally=tally,
            )
