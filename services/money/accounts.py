"""Members' money at the provider (M1.3, M1.4, M1.11, M4.1, M4.2, M4.4, M4.8).

Virtual account and bank card at the provider, deposits (gateway, POS, signed
auto-debit) and withdrawals (T+1, T+0, real time) with a second confirmation by SMS
code bound to the exact operation. Each movement is a ledger journal plus payment
instructions written in one transaction; the provider's outcome (call, callback or
query) completes it through the instruction handlers below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from models.members import User
from models.messaging import SmsPurpose
from models.payments import (
    BankCard,
    Deposit,
    PaymentInstruction,
    PendingOperation,
    ProviderAccount,
    Withdrawal,
)
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity import sms_codes
from services.identity.permissions import Actor
from services.identity.security import decrypt_pii, encrypt_pii, lookup_hash
from services.kit import crashpoints
from services.kit.settings import get_settings
from services.money import idempotency, ledger
from services.money.money import format_money
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import (
    DepositChannel,
    ProviderStatus,
    TransactionKind,
    WithdrawSpeed,
)
from services.platform import notifier, outbox
from services.platform.clock import system_now

MAX_AMOUNT = 100_000_000_00  # ¥100 million: anything above is a typing error

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def validate_id_number(raw: str) -> str:
    """An 18-character resident ID with a valid check character (GB 11643)."""
    value = (raw or "").strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise InvalidInputError("Enter the 18-character resident ID number", field="idNumber")
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        raise InvalidInputError("This ID number's check character is wrong", field="idNumber")
    return value


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def validate_card_number(raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw or "")
    if not re.fullmatch(r"\d{12,19}", value) or not luhn_ok(value):
        raise InvalidInputError("Enter a valid bank card number", field="cardNumber")
    return value


def mask_id_number(value: str) -> str:
    return f"{value[:3]}***********{value[-4:]}"


def mask_card(value: str) -> str:
    return f"**** **** **** {value[-4:]}"


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if name else ""


def validate_amount(amount: int, *, field: str = "amount") -> int:
    if amount <= 0:
        raise InvalidInputError("The amount must be more than 0.00", field=field)
    if amount > MAX_AMOUNT:
        raise InvalidInputError("The amount is too large", field=field)
    return amount


def withdraw_fee(speed: WithdrawSpeed) -> int:
    settings = get_settings()
    return {
        WithdrawSpeed.T1: settings.withdraw_fee_t1,
        WithdrawSpeed.T0: settings.withdraw_fee_t0,
        WithdrawSpeed.REALTIME: settings.withdraw_fee_realtime,
    }[speed]


async def _member_account(user_id: int) -> ProviderAccount:
    account = await ProviderAccount.get_or_none(owner_code=f"m:{user_id}")
    if account is None or account.status != "open" or not account.provider_account_id:
        raise DomainError("Open your custody account first", code="ACCOUNT_NOT_OPEN")
    return account


async def _platform_account_id(code: str) -> str:
    account = await ProviderAccount.get_or_none(owner_code=code)
    if account is None or not account.provider_account_id:
        raise RuntimeError(f"platform account {code} is not open at the provider")
    return account.provider_account_id


async def _send_now(*instruction_ids: int) -> None:
    """Try the instructions at once (the caller wants the provider's answer); whatever
    does not settle now is left to the dispatcher."""
    for instruction_id in instruction_ids:
        await instructions.send(instruction_id)
    instructions.wake()


# Opening the custody account and binding cards (M4.1, M4.2) ----------------------------


async def open_account(*, actor: Actor, real_name: str, id_number: str) -> ProviderAccount:
    """Open the member's virtual account at the provider under their real name.

    Raises InvalidInputError, DomainError ALREADY_OPEN.
    """
    assert actor.user_id is not None
    name = (real_name or "").strip()
    if not 2 <= len(name) <= 32:
        raise InvalidInputError("Enter your real name (2 to 32 characters)", field="realName")
    id_value = validate_id_number(id_number)
    async with in_transaction():
        existing = (
            await ProviderAccount.filter(owner_code=f"m:{actor.user_id}")
            .select_for_update()
            .first()
        )
        if existing is not None and existing.status in ("open", "opening"):
            raise DomainError("The custody account is already open", code="ALREADY_OPEN")
        if existing is not None:
            await existing.delete()
        account = await ProviderAccount.create(
            owner_code=f"m:{actor.user_id}",
            user_id=actor.user_id,
            real_name_masked=mask_name(name),
            real_name_cipher=encrypt_pii(name),
            id_number_cipher=encrypt_pii(id_value),
            id_number_masked=mask_id_number(id_value),
        )
        await ledger.ensure_member_accounts(actor.user_id)
        instruction = await instructions.create(
            kind=TransactionKind.OPEN_ACCOUNT,
            business_ref=f"account:{account.id}",
            params={"member_ref": f"m:{actor.user_id}", "real_name": name},
        )
    await _send_now(instruction.id)
    return await ProviderAccount.get(id=account.id)


async def ensure_platform_provider_accounts() -> None:
    """Open the platform's own virtual accounts (fee, risk reserve, guarantee fund,
    margin) at the provider if they are not open yet."""
    pending = []
    async with in_transaction():
        for code in (ledger.FEE, ledger.RISK_RESERVE, ledger.GUARANTEE_FUND, ledger.MARGIN):
            account, created = await ProviderAccount.get_or_create(owner_code=code)
            if account.status == "open":
                continue
            if (
                created
                or not await PaymentInstruction.filter(
                    business_ref=f"account:{account.id}", status__in=["PENDING", "SENT", "UNKNOWN"]
                ).exists()
            ):
                instruction = await instructions.create(
                    kind=TransactionKind.OPEN_ACCOUNT,
                    business_ref=f"account:{account.id}",
                    params={"member_ref": code, "real_name": "LendBridge platform"},
                )
                pending.append(instruction.id)
    await _send_now(*pending)


@instructions.on_outcome("account")
async def _account_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    account_id = int(instruction.business_ref.split(":")[1])
    # A provider that already holds an account for this member reference answers FAILED
    # with that account's id: it is the same owner, so the platform adopts it.
    provider_account_id = (outcome.extra or {}).get("account_id")
    if outcome.status == ProviderStatus.SUCCEEDED or provider_account_id:
        await ProviderAccount.filter(id=account_id).update(
            status="open", provider_account_id=provider_account_id
        )
    else:
        await ProviderAccount.filter(id=account_id).update(status="failed")


async def bind_card(*, actor: Actor, card_number: str, bank_name: str = "") -> BankCard:
    """Bind a bank card in the member's own name; the provider verifies the holder.

    Raises InvalidInputError, DomainError ACCOUNT_NOT_OPEN / CARD_ALREADY_BOUND.
    """
    assert actor.user_id is not None
    number = validate_card_number(card_number)
    account = await _member_account(actor.user_id)
    user = await User.get(id=actor.user_id)
    async with in_transaction():
        if await BankCard.filter(
            user_id=actor.user_id, card_lookup=lookup_hash(number), status__in=["binding", "bound"]
        ).exists():
            raise DomainError(
                "This card is already bound", code="CARD_ALREADY_BOUND", field="cardNumber"
            )
        card = await BankCard.create(
            user_id=actor.user_id,
            card_cipher=encrypt_pii(number),
            card_lookup=lookup_hash(number),
            card_masked=mask_card(number),
            bank_name=(bank_name or "")[:64],
        )
        instruction = await instructions.create(
            kind=TransactionKind.BIND_CARD,
            business_ref=f"card:{card.id}",
            params={
                "account_id": account.provider_account_id,
                "card_number": number,
                "holder_name": decrypt_pii(account.real_name_cipher),
                "holder_id_number": decrypt_pii(account.id_number_cipher),
                "phone": decrypt_pii(user.phone_cipher),
            },
        )
    await _send_now(instruction.id)
    # The card number and ID travel to the provider once; the stored parameters keep
    # only what the instruction needs to be retried while it is unresolved.
    return await BankCard.get(id=card.id)


@instructions.on_outcome("card")
async def _card_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    card_id = int(instruction.business_ref.split(":")[1])
    if outcome.status == ProviderStatus.SUCCEEDED:
        await BankCard.filter(id=card_id).update(
            status="bound", provider_card_id=(outcome.extra or {}).get("card_id")
        )
    else:
        await BankCard.filter(id=card_id).update(
            status="failed", failure_reason=outcome.reason[:255]
        )
    # Personal data is no longer needed in the finished instruction.
    await PaymentInstruction.filter(id=instruction.id).update(params={"redacted": True})


# Deposits (M1.3, M4.3) ------------------------------------------------------------------


async def deposit(
    *,
    actor: Actor,
    amount: int,
    channel: DepositChannel,
    idempotency_key: str,
    card_id: int | None = None,
) -> Deposit:
    """Start a deposit. Gateway and POS deposits wait for the bank (pay_url); an
    auto-debit of a bound card completes at once. The ledger moves only when the
    provider confirms the money arrived.

    Raises InvalidInputError, DomainError ACCOUNT_NOT_OPEN / CARD_NOT_BOUND and the
    idempotency errors.
    """
    assert actor.user_id is not None
    user_id: int = actor.user_id
    validate_amount(amount)

    async def execute(claim: idempotency.Claim) -> dict[str, Any]:
        account = await _member_account(user_id)
        params: dict[str, Any] = {
            "account_id": account.provider_account_id,
            "channel": str(channel),
        }
        if channel == DepositChannel.AUTO_DEBIT:
            card = await _bound_card(user_id, card_id)
            params["card_id"] = card.provider_card_id
        async with in_transaction():
            request_id = uuid.uuid4().hex
            row = await Deposit.create(
                user_id=actor.user_id, amount=amount, channel=str(channel), request_id=request_id
            )
            instruction = await instructions.create(
                kind=TransactionKind.DEPOSIT,
                business_ref=f"deposit:{row.id}",
                amount=amount,
                params=params,
            )
            await Deposit.filter(id=row.id).update(request_id=instruction.request_id)
            await claim.complete({"deposit_id": row.id})
        await _send_now(instruction.id)
        sent = await PaymentInstruction.get(id=instruction.id)
        pay_url = str((sent.result or {}).get("pay_url", ""))
        if pay_url:
            await Deposit.filter(id=row.id).update(pay_url=pay_url)
        return {"deposit_id": row.id}

    answer = await idempotency.run_once(
        user_id=actor.user_id,
        key=idempotency_key,
        operation="deposit",
        request={"amount": amount, "channel": str(channel), "card_id": card_id},
        execute=execute,
    )
    return await Deposit.get(id=answer["deposit_id"])


@instructions.on_outcome("deposit")
async def _deposit_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    row = await Deposit.get(id=int(instruction.business_ref.split(":")[1]))
    if outcome.status == ProviderStatus.SUCCEEDED:
        await ledger.post(
            key=f"deposit:{row.id}",
            kind="deposit_paid",
            entries=[(ledger.available(row.user_id), row.amount), (ledger.BANK, -row.amount)],
            memo=f"deposit {row.channel}",
        )
        await Deposit.filter(id=row.id).update(status="PAID", settled_at=system_now())
        await notifier.notify(
            user=row.user_id,
            kind="deposit",
            title="Deposit received",
            body=f"{_yuan(row.amount)} has arrived in your account.",
        )
    else:
        await Deposit.filter(id=row.id).update(status="FAILED", settled_at=system_now())
        await notifier.notify(
            user=row.user_id,
            kind="deposit",
            title="Deposit failed",
            body=f"Your deposit of {_yuan(row.amount)} did not go through.",
        )
    outbox.wake()


def _yuan(fen: int) -> str:
    return f"¥{format_money(fen)}"


async def _bound_card(user_id: int, card_id: int | None) -> BankCard:
    if card_id is None:
        raise InvalidInputError("Choose a bound card", field="cardId")
    card = await BankCard.get_or_none(id=card_id, user_id=user_id)
    if card is None or card.status != "bound" or not card.provider_card_id:
        raise DomainError("This card is not bound", code="CARD_NOT_BOUND", field="cardId")
    return card


# Withdrawals with second confirmation (M1.4, M4.4, M4.8) -------------------------------


def _binding(operation: PendingOperation) -> str:
    return f"op:{operation.id}:{operation.kind}:{operation.amount}:{operation.counterparty}"


async def withdraw(
    *, actor: Actor, amount: int, speed: WithdrawSpeed, card_id: int, idempotency_key: str
) -> PendingOperation:
    """Ask to withdraw `amount` to a bound card. Nothing moves yet: an SMS code bound to
    this amount and card is sent, and `confirm_operation` carries it out.

    Raises InvalidInputError, DomainError ACCOUNT_NOT_OPEN / CARD_NOT_BOUND /
    INSUFFICIENT_FUNDS and the idempotency errors.
    """
    assert actor.user_id is not None
    user_id: int = actor.user_id
    validate_amount(amount)
    fee = withdraw_fee(speed)

    async def execute(claim: idempotency.Claim) -> dict[str, Any]:
        await _member_account(user_id)
        card = await _bound_card(user_id, card_id)
        if await ledger.balance(ledger.available(user_id)) < amount + fee:
            raise DomainError(
                "Not enough available money for this withdrawal and its fee",
                code="INSUFFICIENT_FUNDS",
                field="amount",
            )
        async with in_transaction():
            row = await Withdrawal.create(
                user_id=actor.user_id,
                card=card,
                amount=amount,
                fee=fee,
                speed=str(speed),
                request_id=uuid.uuid4().hex,
            )
            operation = await open_operation(
                user_id=row.user_id,
                kind="WITHDRAW",
                target_id=row.id,
                amount=amount,
                counterparty=card.card_masked,
            )
            await claim.complete({"operation_id": str(operation.id)})
        await send_operation_code(operation)
        return {"operation_id": str(operation.id)}

    answer = await idempotency.run_once(
        user_id=actor.user_id,
        key=idempotency_key,
        operation="withdraw",
        request={"amount": amount, "speed": str(speed), "card_id": card_id},
        execute=execute,
    )
    return await PendingOperation.get(id=answer["operation_id"])


async def _describe_withdrawal(operation: PendingOperation) -> str:
    """The withdrawal's SMS: amount, fee and the card's last four digits."""
    row = await Withdrawal.get(id=operation.target_id)
    return (
        f"[LendBridge] Code {{code}} confirms withdrawing {_yuan(operation.amount)} "
        f"(fee {_yuan(row.fee)}) to card {operation.counterparty[-4:]}. Do not share it."
    )


@dataclass(frozen=True)
class Confirmed:
    operation: PendingOperation
    withdrawal: Withdrawal | None
    target: object | None = None  # what another registered kind confirmed (e.g. a bid)


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
    describe: Describe | None = None,
) -> None:
    """Let `confirm_operation` carry out pending operations of `kind`.

    Once the code is right, `execute` runs in the transaction that claims the operation
    (AWAITING_CODE -> CONFIRMED, so two confirmations never both run it) and returns
    what it made; when it raises a DomainError nothing of it is kept, and `refuse`
    records the refusal in a transaction of its own, with the operation CONFIRMED (the
    code is spent). `cancel` runs when the operation is cancelled or expires. `describe`
    writes the SMS (see `describe_operation`)."""
    _operation_kinds[kind] = _OperationKind(execute=execute, refuse=refuse, cancel=cancel)
    if describe is not None:
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
    return (
        f"[LendBridge] Code {{code}} confirms your {operation.kind.lower()} of "
        f"{format_money(operation.amount)}. Do not share it."
    )


describe_operation("WITHDRAW", _describe_withdrawal)


async def _claim(operation: PendingOperation) -> None:
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
            await _claim(operation)
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
    if operation.kind == "WITHDRAW":
        withdrawal = await _execute_withdrawal(operation)
        return Confirmed(await PendingOperation.get(id=operation.id), withdrawal)
    if operation.kind == "ADJUSTMENT_CONSENT":
        # The member agrees to a finance correction (services/money/adjustments.py); nothing moves.
        await _claim(operation)
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


async def _execute_withdrawal(operation: PendingOperation) -> Withdrawal:
    user_id = operation.user_id
    fee_account = await _platform_account_id(ledger.FEE)
    async with in_transaction():
        await _claim(operation)
        row = await Withdrawal.filter(id=operation.target_id).select_for_update().get()
        card = await BankCard.get(id=row.card_id)
        account = await _member_account(user_id)
        await ledger.post(
            key=f"withdrawal:{row.id}:confirmed",
            kind="withdrawal_confirmed",
            entries=[
                (ledger.available(user_id), -(row.amount + row.fee)),
                (ledger.withdrawing(user_id), row.amount),
                (ledger.FEE, row.fee),
            ],
            memo=f"withdraw {row.speed}",
        )
        await Withdrawal.filter(id=row.id).update(status="PROCESSING")
        pending = [
            await instructions.create(
                kind=TransactionKind.WITHDRAW,
                business_ref=f"withdrawal:{row.id}",
                amount=row.amount,
                params={
                    "account_id": account.provider_account_id,
                    "card_id": card.provider_card_id,
                    "speed": row.speed,
                },
            )
        ]
        if row.fee:
            pending.append(
                await instructions.create(
                    kind=TransactionKind.TRANSFER,
                    business_ref=f"withdrawalfee:{row.id}",
                    amount=row.fee,
                    params={
                        "from_account_id": account.provider_account_id,
                        "to_account_id": fee_account,
                    },
                )
            )
    await _send_now(*(instruction.id for instruction in pending))
    return await Withdrawal.get(id=row.id)


@instructions.on_outcome("withdrawal")
async def _withdrawal_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    row = await Withdrawal.get(id=int(instruction.business_ref.split(":")[1]))
    if outcome.status == ProviderStatus.SUCCEEDED:
        await ledger.post(
            key=f"withdrawal:{row.id}:settled",
            kind="withdrawal_settled",
            entries=[(ledger.withdrawing(row.user_id), -row.amount), (ledger.BANK, row.amount)],
        )
        await Withdrawal.filter(id=row.id).update(status="SUCCEEDED", settled_at=system_now())
        await notifier.notify(
            user=row.user_id,
            kind="withdrawal",
            title="Withdrawal paid",
            body=f"{_yuan(row.amount)} was paid to your card.",
        )
    else:
        await ledger.post(
            key=f"withdrawal:{row.id}:failed",
            kind="withdrawal_failed",
            entries=[
                (ledger.withdrawing(row.user_id), -row.amount),
                (ledger.available(row.user_id), row.amount),
            ],
        )
        await Withdrawal.filter(id=row.id).update(
            status="FAILED", settled_at=system_now(), failure_reason=outcome.reason[:255]
        )
        if row.fee:
            await _refund_fee(row)
        await notifier.notify(
            user=row.user_id,
            kind="withdrawal",
            title="Withdrawal failed",
            body=f"Withdrawal of {_yuan(row.amount)} failed: the money is back in your account.",
        )
    outbox.wake()


async def _refund_fee(row: Withdrawal) -> None:
    """A failed withdrawal costs nothing: the fee goes back (ledger and provider)."""
    account = await _member_account(row.user_id)
    await ledger.post(
        key=f"withdrawal:{row.id}:fee_refund",
        kind="withdrawal_fee_refund",
        entries=[(ledger.FEE, -row.fee), (ledger.available(row.user_id), row.fee)],
    )
    await instructions.create(
        kind=TransactionKind.TRANSFER,
        business_ref=f"feerefund:{row.id}",
        amount=row.fee,
        params={
            "from_account_id": await _platform_account_id(ledger.FEE),
            "to_account_id": account.provider_account_id,
        },
    )
    instructions.wake()


@instructions.on_outcome("withdrawalfee")
async def _withdrawal_fee_outcome(instruction: PaymentInstruction, outcome: Outcome) -> None:
    if outcome.status != ProviderStatus.FAILED:
        return
    # The provider refused to move the fee: undo it in the ledger too.
    row = await Withdrawal.get(id=int(instruction.business_ref.split(":")[1]))
    await ledger.post(
        key=f"withdrawal:{row.id}:fee_reversed",
        kind="withdrawal_fee_reversed",
        entries=[(ledger.FEE, -row.fee), (ledger.available(row.user_id), row.fee)],
    )


# Views (M1.11) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountView:
    available: int
    frozen: int
    withdrawing: int
    custody: ProviderAccount | None
    cards: list[BankCard]


async def my_account(*, actor: Actor) -> AccountView:
    assert actor.user_id is not None
    balances = await ledger.member_balances(actor.user_id)
    return AccountView(
        available=balances["available"],
        frozen=balances["frozen"],
        withdrawing=balances["withdrawing"],
        custody=await ProviderAccount.get_or_none(owner_code=f"m:{actor.user_id}"),
        cards=await BankCard.filter(user_id=actor.user_id).exclude(status="failed").order_by("id"),
    )
