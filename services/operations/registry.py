"""What each kind of operation does once confirmed, and what its SMS says: one registry.

Bids, auto-bid opt-in and repayments `register_operation` their kind; a withdrawal hands
the whole confirmation to its own module (`register_direct_operation`); any kind may
`describe_operation` its SMS text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models.payments import (
    PendingOperation,
    Withdrawal,
)
from services.errors import DomainError


@dataclass(frozen=True)
class _OperationKind:
    execute: Callable[[PendingOperation], Awaitable[object]]
    refuse: Callable[[PendingOperation, DomainError], Awaitable[None]] | None
    cancel: Callable[[PendingOperation], Awaitable[None]] | None


# Kinds other modules confirm through `confirm_operation` (bids, auto-bid opt-in, ...).
_operation_kinds: dict[str, _OperationKind] = {}


Describe = Callable[[PendingOperation], Awaitable[str]]


# What the SMS of each kind says, for its first code and every resent one.
_describers: dict[str, Describe] = {}


def register_operation(
    kind: str,
    *,
    execute: Callable[[PendingOperation], Awaitable[object]],
    refuse: Callable[[PendingOperation, DomainError], Awaitable[None]] | None = None,
    cancel: Callable[[PendingOperation], Awaitable[None]] | None = None,
    describe: Describe,
) -> None:
    """Let `confirm_operation` carry out pending operations of `kind`.

    Once the code is right, `execute` runs in the transaction that claims the operation
    (AWAITING_CODE -> CONFIRMED, so two confirmations never both run it) and returns
    what it made; when it raises a DomainError nothing of it is kept, and `refuse`
    records the refusal in a transaction of its own, with the operation CONFIRMED (the
    code is spent). `cancel` runs when the operation is cancelled or expires. `describe`
    writes the SMS (see `describe_operation`)."""
    _operation_kinds[kind] = _OperationKind(execute=execute, refuse=refuse, cancel=cancel)
    describe_operation(kind, describe)


def describe_operation(kind: str, describe: Describe) -> None:
    """Say what the SMS code of a `kind` operation confirms: `describe` returns the text
    from the stored operation (and what it targets), with `{code}` where the code goes.
    The first code and every resent one use it, so the member reads the same words."""
    _describers[kind] = describe


async def _operation_text(operation: PendingOperation) -> str:
    describe = _describers.get(operation.kind)
    if describe is not None:
        return await describe(operation)
    # Every kind says what it confirms (register_operation requires it); a kind
    # registered without words still gets a code it can use.
    return f"[LendBridge] Code {{code}} confirms your {operation.kind.lower()}. Do not share it."


# Kinds whose own module carries out the whole confirmation (a withdrawal: claim the
# operation, post, send the provider instructions at once) and answers the withdrawal.
_direct_kinds: dict[str, Callable[[PendingOperation], Awaitable[Withdrawal]]] = {}


def register_direct_operation(
    kind: str, carry_out: Callable[[PendingOperation], Awaitable[Withdrawal]]
) -> None:
    """Let `confirm_operation` hand a confirmed `kind` operation to `carry_out`, which
    claims it itself (`claim_operation`) and answers the withdrawal it made."""
    _direct_kinds[kind] = carry_out
