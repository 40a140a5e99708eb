"""The provider call each kind of payment instruction makes (`instructions.send`)."""

from __future__ import annotations

from models.payments import InstructionStatus, PaymentInstruction
from services.payments.gateway import get_provider
from services.payments.params import open_params
from services.payments.provider import (
    DepositChannel,
    ProviderResult,
    SplitPart,
    TransactionKind,
    WithdrawSpeed,
)


async def call_provider(instruction: PaymentInstruction) -> ProviderResult:
    """Make the provider call an instruction asks for (asking first, for one whose
    earlier attempt has an unknown outcome). Raises what the provider raises."""
    provider = get_provider()
    p = open_params(instruction.params)
    request_id = instruction.request_id
    kind = TransactionKind(instruction.kind)
    if instruction.status == InstructionStatus.UNKNOWN:
        known = await provider.query(request_id=request_id)
        if known is not None:
            return known
    if kind == TransactionKind.OPEN_ACCOUNT:
        return await provider.open_account(
            request_id=request_id, member_ref=p["member_ref"], real_name=p["real_name"]
        )
    if kind == TransactionKind.BIND_CARD:
        return await provider.bind_card(
            request_id=request_id,
            account_id=p["account_id"],
            card_number=p["card_number"],
            holder_name=p["holder_name"],
            holder_id_number=p["holder_id_number"],
            phone=p["phone"],
        )
    if kind == TransactionKind.DEPOSIT:
        return await provider.deposit(
            request_id=request_id,
            account_id=p["account_id"],
            amount_fen=instruction.amount,
            channel=DepositChannel(p["channel"]),
            card_id=p.get("card_id"),
        )
    if kind == TransactionKind.WITHDRAW:
        return await provider.withdraw(
            request_id=request_id,
            account_id=p["account_id"],
            card_id=p["card_id"],
            amount_fen=instruction.amount,
            speed=WithdrawSpeed(p["speed"]),
        )
    if kind == TransactionKind.FREEZE:
        return await provider.freeze(
            request_id=request_id, account_id=p["account_id"], amount_fen=instruction.amount
        )
    if kind == TransactionKind.UNFREEZE:
        return await provider.unfreeze(
            request_id=request_id, account_id=p["account_id"], amount_fen=instruction.amount
        )
    if kind == TransactionKind.TRANSFER:
        return await provider.transfer(
            request_id=request_id,
            from_account_id=p["from_account_id"],
            to_account_id=p["to_account_id"],
            amount_fen=instruction.amount,
            from_frozen=bool(p.get("from_frozen")),
        )
    if kind == TransactionKind.SPLIT:
        return await provider.split(
            request_id=request_id,
            from_account_id=p["from_account_id"],
            parts=[
                SplitPart(to_account_id=str(part["to_account_id"]), amount_fen=int(part["amount"]))
                for part in p["parts"]
            ],
            from_frozen=bool(p.get("from_frozen")),
        )
    raise ValueError(f"unknown instruction kind {kind}")
