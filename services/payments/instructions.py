"""Payment instructions: every movement at the provider, as an outbox.

An instruction is written in the same transaction as its journal (PENDING), sent after
commit, and moves PENDING → SENT (accepted, outcome to follow) → SUCCEEDED / FAILED, or
→ UNKNOWN when the provider did not answer. No database lock is held while the provider
is called: an instruction is claimed in a short transaction (attempts and the next
attempt time are bumped, so a crashed sender's claim simply expires), the call is made,
and the outcome is applied in a new transaction. Retries reuse the request id, so the
provider does each movement once. An UNKNOWN instruction is first looked up with
`query`; the provider's answer decides. Outcomes arrive from the call itself, from
signed callbacks or from queries, in any order and any number of times: the first
final outcome wins and runs the business handler exactly once.

Personal parameters (names, ID, card and phone numbers) are stored encrypted, as
{"cipher": ...} like the personal fields of verification submissions, and decrypted
only to make the call (D4).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.payments import InstructionStatus, PaymentInstruction
from services.kit import crashpoints, wakeups
from services.kit.db import insert_rows
from services.kit.loops import run_until_stopped
from services.payments.calls import call_provider
from services.payments.gateway import get_provider
from services.payments.params import seal_params
from services.payments.provider import (
    ProviderRejectedError,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailableError,
    TransactionKind,
)
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

FINAL = {InstructionStatus.SUCCEEDED, InstructionStatus.FAILED}
# Statuses the dispatcher works on: PENDING and UNKNOWN are (re)sent; SENT ones are asked
# about (`query`) once their callback is overdue, so a lost callback costs a delay only.
_OPEN = (InstructionStatus.PENDING, InstructionStatus.UNKNOWN, InstructionStatus.SENT)
CALLBACK_GRACE = timedelta(seconds=60)
MAX_ATTEMPTS = 12
_wake = wakeups.event(wakeups.INSTRUCTIONS)


@dataclass(frozen=True)
class Outcome:
    status: ProviderStatus
    provider_ref: str = ""
    reason: str = ""
    extra: dict[str, Any] | None = None
    amount_fen: int | None = None  # what the provider says moved; None when it did not say


# business_ref prefix ("deposit", "withdrawal", ...) → handler run once, in the
# transaction that records the final outcome.
Handler = Callable[[PaymentInstruction, Outcome], Awaitable[None]]
_handlers: dict[str, Handler] = {}


def on_outcome(prefix: str) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        _handlers[prefix] = handler
        return handler

    return decorator


# Observers of every first final outcome, whatever its business (per-transaction
# reconciliation, services/reconciliation.py): run after the handler, same transaction.
_observers: dict[str, Handler] = {}


def on_final_outcome(name: str) -> Callable[[Handler], Handler]:
    def decorator(observer: Handler) -> Handler:
        _observers[name] = observer
        return observer

    return decorator


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 5 minutes: twelve attempts span about half an hour."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


@dataclass(frozen=True)
class Instruction:
    """An instruction to write (`create_many`): `create`'s arguments."""

    kind: TransactionKind
    business_ref: str
    amount: int
    params: dict[str, Any]


async def create(
    *, kind: TransactionKind, business_ref: str, amount: int = 0, params: dict[str, Any]
) -> PaymentInstruction:
    """Write an instruction in the caller's transaction; call `wake()` after commit."""
    return await PaymentInstruction.create(
        request_id=uuid.uuid4().hex,
        kind=str(kind),
        amount=amount,
        params=seal_params(params),
        business_ref=business_ref,
        next_attempt_at=system_now(),
    )


async def create_many(asked: Sequence[Instruction]) -> None:
    """Write several instructions in one statement in the caller's transaction, as
    `create` writes one (a day's repayment batch: one SPLIT per loan); call `wake()`
    after commit."""
    now = system_now()
    await insert_rows(
        PaymentInstruction,
        [
            ("request_id", "text"),
            ("kind", "text"),
            ("status", "text"),
            ("amount", "bigint"),
            ("params", "jsonb"),
            ("business_ref", "text"),
            ("attempts", "int"),
            ("last_error", "text"),
            ("next_attempt_at", "timestamptz"),
            ("provider_ref", "text"),
            ("result", "jsonb"),
            ("created_at", "timestamptz"),
        ],
        [
            (
                uuid.uuid4().hex,
                str(one.kind),
                str(InstructionStatus.PENDING),
                one.amount,
                seal_params(one.params),
                one.business_ref,
                0,
                "",
                now,
                "",
                {},
                now,
            )
            for one in asked
        ],
    )


def wake() -> None:
    wakeups.wake(wakeups.INSTRUCTIONS)


async def _claim(instruction_id: int) -> PaymentInstruction | None:
    now = system_now()
    async with in_transaction():
        instruction = (
            await PaymentInstruction.filter(
                id=instruction_id, status__in=list(_OPEN), next_attempt_at__lte=now
            )
            .select_for_update(skip_locked=True)
            .first()
        )
        if instruction is None:
            return None
        instruction.attempts += 1
        # The claim lasts until the next attempt time: if this process dies mid-call,
        # another picks the instruction up then, with the same request id.
        instruction.next_attempt_at = now + backoff(instruction.attempts)
        await instruction.save(update_fields=["attempts", "next_attempt_at"])
    return instruction


_ACCOUNT_PARAMS = ("account_id", "from_account_id", "to_account_id")
# Kinds that take money out of an account (its available or frozen balance): what the
# provider refuses when an earlier movement into that account has not reached it yet.
_DEBITS = {
    str(TransactionKind.TRANSFER): "from_account_id",
    str(TransactionKind.SPLIT): "from_account_id",
    str(TransactionKind.FREEZE): "account_id",
    str(TransactionKind.UNFREEZE): "account_id",
    str(TransactionKind.WITHDRAW): "account_id",
}


def _accounts(params: dict[str, Any]) -> set[str]:
    """The provider accounts an instruction moves money on or off (in clear: ids only)."""
    found = {str(params[name]) for name in _ACCOUNT_PARAMS if params.get(name)}
    for part in params.get("parts") or ():  # a SPLIT's targets
        found.add(str(part["to_account_id"]))
    return found


async def _waits_for_an_earlier_one(instruction_id: int) -> bool:
    """True when the instruction takes money out of an account and an earlier instruction
    on that account has not been taken by the provider yet (PENDING, or UNKNOWN after an
    error, with attempts left). Deposits and account openings never wait.

    The provider must see an account's movements in the order the ledger wrote them: a
    bid's freeze before the disbursement that transfers the frozen money, a deposit before
    the repayment paid from it. Sent out of order, after the first one met a 503, the
    second is refused ("insufficient frozen balance") and its movement reversed: part of
    a loan was never paid out (found by the simulation with provider faults, issue 13).
    An instruction the provider accepted (SENT, outcome to follow) no longer holds the
    account up."""
    held = await _Holds.read(instruction_id)
    return held.waits(instruction_id)


# What each instruction takes money out of and moves money on, by request id (unique for
# ever, unlike a row id after a database is emptied), read from its parameters once per
# process: they do not change while it is open, and a backlog read again on every pass
# (a day's SPLITs, each with a part per holder) cost a decoding of every open
# instruction's parameters per pass (bench/repayments.py: 2,000 open SPLITs of 100
# parts, 40 passes). Bounded: the oldest half goes past _MOVES_KEPT.
_MOVES: dict[str, tuple[str | None, frozenset[str]]] = {}
_MOVES_KEPT = 100_000


async def _learn_accounts(request_ids: list[str]) -> None:
    """`_MOVES` of every instruction of `request_ids` not known yet (one query)."""
    if len(_MOVES) + len(request_ids) > _MOVES_KEPT:
        for old in list(itertools.islice(_MOVES, len(_MOVES) // 2)):
            del _MOVES[old]
    missing = [request_id for request_id in request_ids if request_id not in _MOVES]
    if not missing:
        return
    for request_id, kind, params in await PaymentInstruction.filter(
        request_id__in=missing
    ).values_list("request_id", "kind", "params"):
        opened = cast(dict[str, Any], params)
        source = opened.get(_DEBITS.get(str(kind), ""))
        _MOVES[str(request_id)] = (str(source) if source else None, frozenset(_accounts(opened)))


@dataclass
class _Holds:
    """The open instructions up to some id (PENDING or UNKNOWN with attempts left: they
    hold their accounts) and what each one debits, read once; `send_due` reads it once a
    pass instead of once an instruction (which read every earlier open instruction each
    time: a backlog of n cost n^2 / 2 rows). A snapshot can only be too careful: an
    instruction becomes open only when it is written (with a higher id), so one that
    another process sends meanwhile at most makes this pass wait for it once more."""

    accounts: dict[int, set[str]]  # open instruction -> the accounts it moves money on
    debits: dict[int, str]  # any instruction read -> the account it takes money out of

    @classmethod
    async def read(cls, *ids: int) -> _Holds:
        top = max(ids)
        rows = await PaymentInstruction.filter(
            Q(id__in=list(ids))
            | Q(
                id__lt=top,
                status__in=[InstructionStatus.PENDING, InstructionStatus.UNKNOWN],
                attempts__lt=MAX_ATTEMPTS,
            )
        ).values_list("id", "request_id", "status", "attempts")
        await _learn_accounts([str(row[1]) for row in rows])
        accounts: dict[int, set[str]] = {}
        debits: dict[int, str] = {}
        for row_id, request_id, status, attempts in rows:
            source, moved = _MOVES[str(request_id)]
            if source:
                debits[int(row_id)] = source
            if (
                status in (InstructionStatus.PENDING, InstructionStatus.UNKNOWN)
                and int(attempts) < MAX_ATTEMPTS
            ):
                accounts[int(row_id)] = set(moved)
        return cls(accounts, debits)

    def waits(self, instruction_id: int) -> bool:
        source = self.debits.get(instruction_id)
        if source is None:
            return False
        return any(
            source in accounts
            for other, accounts in self.accounts.items()
            if other < instruction_id
        )

    def done(self, instruction_id: int, status: InstructionStatus | None) -> None:
        """After sending: an instruction the provider took holds nothing any more."""
        if status not in (None, InstructionStatus.PENDING, InstructionStatus.UNKNOWN):
            self.accounts.pop(instruction_id, None)


async def send(instruction_id: int, *, order_checked: bool = False) -> InstructionStatus | None:
    """Send one due instruction (or do nothing if it is not due or already claimed, or
    waits for an earlier one on the same account: `_waits_for_an_earlier_one`, unless
    the caller has just checked that: `order_checked`)."""
    if not order_checked and await _waits_for_an_earlier_one(instruction_id):
        return None
    instruction = await _claim(instruction_id)
    if instruction is None:
        return None
    crashpoints.hit("instruction.after_claim", instruction.kind)
    if instruction.status == InstructionStatus.SENT:
        return await _poll(instruction)
    try:
        result = await call_provider(instruction)
    except ProviderUnavailableError as error:
        await _mark_unknown(instruction, str(error) or "provider unavailable")
        return InstructionStatus.UNKNOWN
    except ProviderRejectedError as error:
        logger.error("provider rejected instruction %s: %s", instruction.request_id, error)
        result = ProviderResult(
            request_id=instruction.request_id,
            kind=TransactionKind(instruction.kind),
            status=ProviderStatus.FAILED,
            reason=f"rejected: {error}"[:255],
        )
    crashpoints.hit("instruction.after_call", instruction.kind)
    return await apply(
        instruction.request_id,
        Outcome(
            result.status, result.provider_ref, result.reason, dict(result.extra), result.amount_fen
        ),
    )


async def _poll(instruction: PaymentInstruction) -> InstructionStatus | None:
    """The provider accepted this instruction but its callback has not come: ask."""
    try:
        known = await get_provider().query(request_id=instruction.request_id)
    except ProviderUnavailableError:
        return InstructionStatus.SENT
    if known is None or known.status == ProviderStatus.PENDING:
        return InstructionStatus.SENT
    return await apply(
        instruction.request_id,
        Outcome(
            known.status, known.provider_ref, known.reason, dict(known.extra), known.amount_fen
        ),
    )


async def _mark_unknown(instruction: PaymentInstruction, error: str) -> None:
    await PaymentInstruction.filter(
        id=instruction.id, status__in=[InstructionStatus.PENDING, InstructionStatus.UNKNOWN]
    ).update(status=InstructionStatus.UNKNOWN, last_error=error[:255])


async def apply(request_id: str, outcome: Outcome) -> InstructionStatus | None:
    """Record what the provider said about `request_id`; run the handler on the first
    final outcome. Later or repeated outcomes change nothing. Returns the new status."""
    async with in_transaction():
        instruction = (
            await PaymentInstruction.filter(request_id=request_id).select_for_update().first()
        )
        if instruction is None:
            logger.warning("outcome for unknown instruction %s", request_id)
            return None
        if instruction.status in FINAL:
            return instruction.status
        if outcome.status == ProviderStatus.PENDING:
            if instruction.status != InstructionStatus.SENT:
                instruction.status = InstructionStatus.SENT
                instruction.provider_ref = outcome.provider_ref or instruction.provider_ref
                instruction.result = outcome.extra or {}
                instruction.next_attempt_at = system_now() + CALLBACK_GRACE
                await instruction.save(
                    update_fields=["status", "provider_ref", "result", "next_attempt_at"]
                )
            return instruction.status
        instruction.status = (
            InstructionStatus.SUCCEEDED
            if outcome.status == ProviderStatus.SUCCEEDED
            else InstructionStatus.FAILED
        )
        instruction.provider_ref = outcome.provider_ref or instruction.provider_ref
        instruction.last_error = outcome.reason[:255]
        instruction.result = {**(instruction.result or {}), **(outcome.extra or {})}
        instruction.resolved_at = system_now()
        await instruction.save(
            update_fields=["status", "provider_ref", "last_error", "result", "resolved_at"]
        )
        handler = _handlers.get(instruction.business_ref.split(":", 1)[0])
        if handler is not None:
            await handler(instruction, outcome)
        for observer in _observers.values():
            await observer(instruction, outcome)
    return instruction.status


SEND_BATCH = 50


async def send_due(limit: int = SEND_BATCH) -> int:
    """Send every instruction whose time has come (up to `limit`, oldest first); returns
    how many were tried."""
    return (await _send_pass(limit))[0]


async def _send_pass(limit: int) -> tuple[int, int]:
    """One pass of `send_due`: (instructions due, of them sent)."""
    due = cast(
        list[int],
        await PaymentInstruction.filter(
            Q(
                status__in=[InstructionStatus.PENDING, InstructionStatus.UNKNOWN],
                attempts__lt=MAX_ATTEMPTS,
            )
            | Q(status=InstructionStatus.SENT),
            next_attempt_at__lte=system_now(),
        )
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True),
    )
    if not due:
        return 0, 0
    holds = await _Holds.read(*due)
    sent = 0
    for instruction_id in due:
        if holds.waits(instruction_id):
            continue
        try:
            status = await send(instruction_id, order_checked=True)
        except Exception:
            logger.exception("sending instruction %s failed", instruction_id)
            continue
        holds.done(instruction_id, status)
        sent += status is not None
    return len(due), sent


async def _send_all() -> None:
    """Passes until one finds fewer than a batch due or sends nothing: a backlog goes
    out at the speed of the provider, not a batch per poll."""
    while True:
        due, sent = await _send_pass(SEND_BATCH)
        if due < SEND_BATCH or not sent:
            return


async def run_dispatcher(stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
    """Send due instructions until `stop`: at once when woken, else every poll."""
    await run_until_stopped(
        name="instruction dispatcher",
        step=_send_all,
        wake=_wake,
        stop=stop,
        poll_seconds=poll_seconds,
    )


async def pending_count() -> int:
    return await PaymentInstruction.filter(
        status__in=[InstructionStatus.PENDING, InstructionStatus.UNKNOWN, InstructionStatus.SENT]
    ).count()
