"""Withdrawals with second confirmation (M1.4, M4.4, M4.8).

`withdraw` opens a WITHDRAW operation and sends its SMS code; `confirm_operation`
(services.operations) hands the confirmed operation to `_execute_withdrawal`, which
posts the journal and sends the provider instructions at once. The provider outcome
handlers of withdrawals stay with the custody accounts (services.money.accounts).
"""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.transactions import in_transaction

from models.payments import (
    BankCard,
    PendingOperation,
    Withdrawal,
)
from services.errors import DomainError
from services.identity.permissions import Actor
from services.kit.settings import get_settings
from services.money import idempotency, ledger
from services.money.accounts import (
    _bound_card,
    _member_account,
    _platform_account_id,
    _send_now,
    _yuan,
    validate_amount,
)
from services.operations.confirmation import claim_operation, open_operation, send_operation_code
from services.operations.registry import describe_operation, register_direct_operation
from services.payments import instructions
from services.payments.provider import (
    TransactionKind,
    WithdrawSpeed,
)


def withdraw_fee(speed: WithdrawSpeed) -> int:
    settings = get_settings()
    return {
        WithdrawSpeed.T1: settings.withdraw_fee_t1,
        WithdrawSpeed.T0: settings.withdraw_fee_t0,
        WithdrawSpeed.REALTIME: settings.withdraw_fee_realtime,
    }[speed]


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


describe_operation("WITHDRAW", _describe_withdrawal)


async def _execute_withdrawal(operation: PendingOperation) -> Withdrawal:
    user_id = operation.user_id
    fee_account = await _platform_account_id(ledger.FEE)
    async with in_transaction():
        await claim_operation(operation)
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


register_direct_operation("WITHDRAW", _execute_withdrawal)
