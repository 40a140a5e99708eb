"""Members' money at the provider (M1.3, M1.4, M1.11, M4.1, M4.2, M4.4, M4.8).

Virtual account and bank card at the provider, deposits (gateway, POS, signed
auto-debit) and withdrawals (T+1, T+0, real time) with a second confirmation by SMS
code bound to the exact operation (asked for and carried out in
services/money/withdrawals.py, confirmed through services/operations). Each movement is
a ledger journal plus payment instructions written in one transaction; the provider's
outcome (call, callback or query) completes it through the instruction handlers below.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from models.members import User
from models.payments import (
    BankCard,
    Deposit,
    PaymentInstruction,
    ProviderAccount,
    Withdrawal,
)
from services.errors import DomainError, InvalidInputError
from services.identity.permissions import Actor
from services.kit.security import decrypt_pii, encrypt_pii, lookup_hash
from services.money import idempotency, ledger
from services.money.money import format_money
from services.payments import instructions
from services.payments.instructions import Outcome
from services.payments.provider import (
    DepositChannel,
    ProviderStatus,
    TransactionKind,
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


async def _member_account(user_id: int, owner_code: str | None = None) -> ProviderAccount:
    account = await ProviderAccount.get_or_none(owner_code=owner_code or f"m:{user_id}")
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
            id_number_lookup=lookup_hash(id_value),
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
    owner_code: str | None = None,
) -> Deposit:
    """Start a deposit. Gateway and POS deposits wait for the bank (pay_url); an
    auto-debit of a bound card completes at once. The ledger moves only when the
    provider confirms the money arrived.

    Raises InvalidInputError, DomainError ACCOUNT_NOT_OPEN / CARD_NOT_BOUND and the
    idempotency errors. `owner_code`: into that organisation's account instead (a
    guarantee company's, by its staff: `services.guarantees`; gateway or POS only).
    """
    assert actor.user_id is not None
    user_id: int = actor.user_id
    validate_amount(amount)

    async def execute(claim: idempotency.Claim) -> dict[str, Any]:
        account = await _member_account(user_id, owner_code)
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
                user_id=actor.user_id,
                amount=amount,
                channel=str(channel),
                request_id=request_id,
                owner_code=owner_code,
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
        request={
            "amount": amount,
            "channel": str(channel),
            "card_id": card_id,
            **({"owner": owner_code} if owner_code else {}),
        },
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
            entries=[
                (row.owner_code or ledger.available(row.user_id), row.amount),
                (ledger.BANK, -row.amount),
            ],
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
