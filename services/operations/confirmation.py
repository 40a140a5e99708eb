"""Second confirmation (M4.8): open an operation, send, resend, check and expire its SMS code.

A fund movement a member starts (withdrawal, bid, repayment, auto-bid opt-in, consent
to an adjustment) is first a `PendingOperation` waiting for an SMS code bound to that
exact operation (id, kind, amount, counterparty). `confirm_operation` checks the code
and carries the operation out through the registry (`services.operations.registry`);
a wrong code five times, or the time running out, cancels it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from models.members import User
from models.messaging import SmsPurpose
from models.payments import (
    PendingOperation,
    Withdrawal,
)
from services.errors import DomainError, NotFoundError
from services.identity import sms_codes
from services.identity.permissions import Actor
from services.kit import crashpoints
from services.kit.security import decrypt_pii
from services.kit.settings import get_settings
from services.operations.registry import (
    _direct_kinds,
    _operation_kinds,
    _operation_text,
    _OperationKind,
)
from services.payments import instructions
from services.platform import outbox
from services.platform.clock import system_now


def _binding(operation: PendingOperation) -> str:
    return f"op:{operation.id}:{operation.kind}:{operation.amount}:{operation.counterparty}"


@dataclass(frozen=True)
class Confirmed:
    operation: PendingOperation
    withdrawal: Withdrawal | None
    target: object | None = None  # what another registered kind confirmed (e.g. a bid)


async def claim_operation(operation: PendingOperation) -> None:
    """AWAITING_CODE -> CONFIRMED in the caller's transaction; OPERATION_CLOSED when
    another confirmation got there first."""
    claimed = await PendingOperation.filter(id=operation.id, status="AWAITING_CODE").update(
        status="CONFIRMED"
    )
    if not claimed:
        raise DomainError("This operation was already handled", code="OPERATION_CLOSED")


async def _run_registered(operation: PendingOperation, registered: _OperationKind) -> object:
    try:
        async with in_transaction():
            await claim_operation(operation)
            target = await registered.execute(operation)
    except DomainError as error:
        if error.code == "OPERATION_CLOSED" or registered.refuse is None:
            raise
        async with in_transaction():
            await PendingOperation.filter(id=operation.id, status="AWAITING_CODE").update(
                status="CONFIRMED"
            )
            await registered.refuse(operation, error)
        raise
    # Committed, its instructions not sent yet: the crash tests die here to show that
    # the dispatcher of the restarted process sends them.
    crashpoints.hit("operation.after_commit", operation.kind)
    instructions.wake()
    outbox.wake()
    return target


def operation_binding(operation: PendingOperation) -> str:
    """What an SMS code confirming `operation` is bound to."""
    return _binding(operation)


async def open_operation(
    *, user_id: int, kind: str, target_id: int, amount: int, counterparty: str
) -> PendingOperation:
    """A pending operation waiting for the member's SMS code (M4.8), valid for
    OPERATION_CONFIRM_MINUTES. Create it in the business transaction; send the code with
    `send_operation_code` after the commit."""
    return await PendingOperation.create(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        target_id=target_id,
        amount=amount,
        counterparty=counterparty,
        expires_at=system_now() + timedelta(minutes=get_settings().operation_confirm_minutes),
    )


async def send_operation_code(operation: PendingOperation) -> None:
    """Send the member an SMS code bound to `operation` (its id, kind, amount and
    counterparty), in the words its kind's describer gives. A code sent before for it
    stops working; the new one keeps its wrong attempts (five per operation).

    Raises DomainError(TOO_SOON) within a minute of the last code for it."""
    user = await User.get(id=operation.user_id)
    await sms_codes.issue(
        phone=decrypt_pii(user.phone_cipher),
        purpose=SmsPurpose.CONFIRM_OPERATION,
        binding=_binding(operation),
        text=await _operation_text(operation),
        keep_attempts=True,
    )


@dataclass(frozen=True)
class CodeResent:
    operation: PendingOperation
    phone_masked: str  # where the new code went


async def resend_operation_code(*, actor: Actor, operation_id: str) -> CodeResent:
    """Send a new code for the caller's pending operation whose code was lost (never
    arrived, deleted, or spent by a request that died before carrying it out): the same
    text as the first SMS, and the earlier codes stop working. At most one code a
    minute per operation, as for the first one.

    The operation's expiry is not extended: the time to confirm is the operation's, a
    resend only replaces a lost code. Nor are its attempts renewed: the new code starts
    with the wrong attempts of the old one.

    Raises NotFoundError (also for another member's operation), DomainError
    OPERATION_CLOSED / OPERATION_EXPIRED (the operation is cancelled, as by
    `confirm_operation`) / TOO_SOON.
    """
    operation = await _awaiting_operation(actor, operation_id)
    async with in_transaction():
        # One resend of an operation at a time: a second waits here, then is TOO_SOON.
        locked = (
            await PendingOperation.filter(id=operation.id, status="AWAITING_CODE")
            .select_for_update()
            .first()
        )
        if locked is None:
            raise DomainError("This operation was already handled", code="OPERATION_CLOSED")
        await send_operation_code(locked)
    outbox.wake()
    user = await User.get(id=operation.user_id)
    return CodeResent(operation=locked, phone_masked=user.phone_masked)


async def _awaiting_operation(actor: Actor, operation_id: str) -> PendingOperation:
    """The caller's operation still waiting for its code. Another member's operation is
    NotFoundError like an unknown one, so an id tells nothing about who owns it; an
    expired one is cancelled here (OPERATION_EXPIRED)."""
    assert actor.user_id is not None
    try:
        operation_uuid = uuid.UUID(str(operation_id))
    except ValueError as error:
        raise NotFoundError("No such operation", field="operationId") from error
    operation = await PendingOperation.get_or_none(id=operation_uuid, user_id=actor.user_id)
    if operation is None:
        raise NotFoundError("No such operation", field="operationId")
    if operation.status != "AWAITING_CODE":
        raise DomainError(f"This operation is {operation.status.lower()}", code="OPERATION_CLOSED")
    if operation.expires_at <= system_now():
        await _cancel(operation, "EXPIRED")
        raise DomainError("The confirmation time ran out", code="OPERATION_EXPIRED")
    return operation


async def confirm_operation(*, actor: Actor, operation_id: str, code: str) -> Confirmed:
    """Carry out a pending operation with the SMS code bound to it. The code works once,
    within 5 minutes, 5 attempts (over all the codes sent for the operation, see
    `resend_operation_code`); after the fifth wrong attempt or expiry the operation is
    cancelled.

    Raises NotFoundError, DomainError OPERATION_CLOSED / OPERATION_EXPIRED /
    OPERATION_CANCELLED / INSUFFICIENT_FUNDS and the SMS code errors.
    """
    operation = await _awaiting_operation(actor, operation_id)
    user = await User.get(id=operation.user_id)
    try:
        await sms_codes.verify(
            phone=decrypt_pii(user.phone_cipher),
            purpose=SmsPurpose.CONFIRM_OPERATION,
            code=code,
            binding=_binding(operation),
            field="code",
        )
    except DomainError as error:
        attempts_used = error.code == "CODE_ATTEMPTS_EXCEEDED" or (
            error.code == "CODE_INVALID" and "(0 attempts left)" in error.message
        )
        if attempts_used or error.code == "CODE_EXPIRED":
            await _cancel(operation, "CANCELLED")
            raise DomainError(
                "Too many wrong codes: the operation is cancelled",
                code="OPERATION_CANCELLED",
                field="code",
            ) from error
        raise
    carry_out = _direct_kinds.get(operation.kind)
    if carry_out is not None:
        withdrawal = await carry_out(operation)
        return Confirmed(await PendingOperation.get(id=operation.id), withdrawal)
    if operation.kind == "ADJUSTMENT_CONSENT":
        # The member agrees to a finance correction (services/money/adjustments.py); nothing moves.
        await claim_operation(operation)
        return Confirmed(await PendingOperation.get(id=operation.id), None)
    registered = _operation_kinds.get(operation.kind)
    if registered is not None:
        target = await _run_registered(operation, registered)
        return Confirmed(await PendingOperation.get(id=operation.id), None, target)
    raise DomainError(f"Unknown operation kind {operation.kind}", code="OPERATION_CLOSED")


async def _cancel(operation: PendingOperation, status: str) -> None:
    async with in_transaction():
        updated = await PendingOperation.filter(id=operation.id, status="AWAITING_CODE").update(
            status=status
        )
        if updated and operation.kind == "WITHDRAW":
            await Withdrawal.filter(id=operation.target_id, status="AWAITING_CONFIRMATION").update(
                status="CANCELLED"
            )
        registered = _operation_kinds.get(operation.kind)
        if updated and registered is not None and registered.cancel is not None:
            await registered.cancel(operation)
