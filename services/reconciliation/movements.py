"""Money movements as reconciliation sees them: what a movement does to provider
balances (available, frozen), so differences can be explained."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.payments import InstructionStatus, PaymentInstruction
from services.payments.provider import StatementLine, TransactionKind

MOVEMENT_KINDS = frozenset(
    {
        TransactionKind.DEPOSIT,
        TransactionKind.WITHDRAW,
        TransactionKind.FREEZE,
        TransactionKind.UNFREEZE,
        TransactionKind.TRANSFER,
        TransactionKind.SPLIT,
    }
)
# Money entering or leaving the provider: the ledger view moves only with the outcome.
# Every other movement is posted to the ledger when its instruction is written.
LEDGER_AFTER_OUTCOME = frozenset({TransactionKind.DEPOSIT, TransactionKind.WITHDRAW})
IN_FLIGHT = (InstructionStatus.PENDING, InstructionStatus.SENT, InstructionStatus.UNKNOWN)
FINAL = (InstructionStatus.SUCCEEDED, InstructionStatus.FAILED)

# A movement's effect on provider balances: provider account id -> (available, frozen).
Effect = dict[str, tuple[int, int]]


def movement_of(instruction: PaymentInstruction, amount: int) -> dict[str, Any]:
    """The movement an instruction asks for, as stored in a break's details."""
    params = instruction.params or {}
    if instruction.kind == TransactionKind.SPLIT:
        return {
            "kind": instruction.kind,
            "account_id": str(params.get("from_account_id", "")),
            "counter_account_id": "",
            "from_frozen": bool(params.get("from_frozen")),
            "amount": amount,
            "parts": _scaled(
                [
                    (str(part["to_account_id"]), int(part["amount"]))
                    for part in params.get("parts") or ()
                ],
                amount,
            ),
        }
    if instruction.kind == TransactionKind.TRANSFER:
        return {
            "kind": instruction.kind,
            "account_id": str(params.get("from_account_id", "")),
            "counter_account_id": str(params.get("to_account_id", "")),
            "from_frozen": bool(params.get("from_frozen")),
            "amount": amount,
        }
    return {
        "kind": instruction.kind,
        "account_id": str(params.get("account_id", "")),
        "counter_account_id": "",
        "from_frozen": False,
        "amount": amount,
    }


def movement_of_line(line: StatementLine, amount: int) -> dict[str, Any]:
    # The statement does not say whether a transfer came from frozen money: either.
    return {
        "kind": str(line.kind),
        "account_id": line.account_id,
        "counter_account_id": line.counter_account_id,
        "from_frozen": None,
        "amount": amount,
        **(
            {
                "parts": _scaled(
                    [(part.to_account_id, part.amount_fen) for part in line.parts], amount
                )
            }
            if line.kind == TransactionKind.SPLIT
            else {}
        ),
    }


def _scaled(parts: list[tuple[str, int]], amount: int) -> list[list[Any]]:
    """A split's parts for a movement of `amount`: as they are for the whole split, negated
    for its undoing (-total); for any other amount (a misreported total) no target can
    be told, so none is listed and only the source's side is explained."""
    total = sum(fen for _account, fen in parts)
    if amount not in (total, -total) or not total:
        return []
    sign = 1 if amount == total else -1
    return [[account, sign * fen] for account, fen in parts]


def _add(effect: Effect, account_id: str, available: int, frozen: int) -> None:
    old = effect.get(account_id, (0, 0))
    effect[account_id] = (old[0] + available, old[1] + frozen)


def effects_of(movement: dict[str, Any]) -> list[Effect]:
    """The possible effects of one movement on provider balances (two for a transfer
    whose source balance is unknown)."""
    amount = int(movement["amount"])
    account = str(movement["account_id"])
    kind = movement["kind"]
    effect: Effect = {}
    if kind == TransactionKind.DEPOSIT:
        _add(effect, account, amount, 0)
    elif kind == TransactionKind.WITHDRAW:
        _add(effect, account, -amount, 0)
    elif kind == TransactionKind.FREEZE:
        _add(effect, account, -amount, amount)
    elif kind == TransactionKind.UNFREEZE:
        _add(effect, account, amount, -amount)
    elif kind in (TransactionKind.TRANSFER, TransactionKind.SPLIT):
        # A split's targets get their parts; a transfer's one target the amount.
        if kind == TransactionKind.SPLIT:
            targets = movement.get("parts") or []
        else:
            targets = [[movement["counter_account_id"], amount]]
        sources = (
            [False, True] if movement.get("from_frozen") is None else [movement["from_frozen"]]
        )
        options = []
        for from_frozen in sources:
            option: Effect = {}
            _add(option, account, 0 if from_frozen else -amount, -amount if from_frozen else 0)
            for target, part in targets:
                _add(option, str(target), int(part), 0)
            options.append(option)
        return options
    return [effect]


def combined(movements: Iterable[dict[str, Any]], sign: int = 1) -> list[Effect]:
    """Every possible total effect of several movements happening together."""
    totals: list[Effect] = [{}]
    for movement in movements:
        next_totals = []
        for total in totals:
            for effect in effects_of(movement):
                merged = dict(total)
                for account, (available, frozen) in effect.items():
                    _add(merged, account, sign * available, sign * frozen)
                next_totals.append(merged)
        totals = next_totals
    return totals


def negated(effect: Effect) -> Effect:
    return {account: (-available, -frozen) for account, (available, frozen) in effect.items()}
