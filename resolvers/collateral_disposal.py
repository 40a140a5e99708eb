"""Collateral's transfer of rights and disposal (issue 21, M8.3-M8.4)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.collateral import CollateralDisposal, CollateralTransfer, TransferTo
from models.payments import PaymentInstruction
from resolvers.ids import number_of
from schema.scalars import Money
from schema.types import collateral_disposal as t
from services.collateral import disposal
from services.errors import DomainError
from services.payments.provider import DepositChannel


def transfer_view(row: CollateralTransfer) -> t.CollateralTransfer:
    return t.CollateralTransfer(
        id=strawberry.ID(str(row.id)),
        item_id=strawberry.ID(str(row.item_id)),
        to=t.CollateralTransferTo(str(row.to_kind)),
        to_name=row.to_name,
        reason=row.reason,
        status=str(row.status),
        requested_at=row.created_at,
        approved_at=row.approved_at,
    )


async def disposal_view(row: CollateralDisposal) -> t.CollateralDisposal:
    pay_url = ""
    if row.status == "RECORDED":
        instruction = await PaymentInstruction.get_or_none(business_ref=f"disposal:{row.id}")
        pay_url = str(((instruction.result or {}) if instruction else {}).get("pay_url", ""))
    return t.CollateralDisposal(
        id=strawberry.ID(str(row.id)),
        item_id=strawberry.ID(str(row.item_id)),
        buyer=row.buyer,
        price=Money(row.price_fen),
        costs=Money(row.costs_fen),
        net=Money(row.net_fen),
        sold_on=row.sold_on,
        status=str(row.status),
        applied=Money(row.applied_fen),
        surplus=Money(row.surplus_fen),
        pay_url=pay_url,
    )


async def request_collateral_transfer(
    info: Info, input: t.RequestCollateralTransferInput
) -> t.CollateralTransferResult:
    try:
        row = await disposal.request_transfer(
            actor=await info.context.get_actor(),
            item_id=number_of(input.item_id, "itemId"),
            to=TransferTo(input.to.value),
            to_name=input.to_name,
            reason=input.reason,
        )
    except DomainError as error:
        return t.CollateralTransferError.from_domain(error)
    return t.CollateralTransferDone(transfer=transfer_view(row))


async def approve_collateral_transfer(
    info: Info, transfer_id: strawberry.ID
) -> t.CollateralTransferResult:
    try:
        row = await disposal.approve_transfer(
            actor=await info.context.get_actor(),
            transfer_id=number_of(transfer_id, "transferId"),
        )
    except DomainError as error:
        return t.CollateralTransferError.from_domain(error)
    return t.CollateralTransferDone(transfer=transfer_view(row))


async def record_collateral_disposal(
    info: Info, input: t.RecordCollateralDisposalInput
) -> t.RecordCollateralDisposalResult:
    try:
        row = await disposal.record_disposal(
            actor=await info.context.get_actor(),
            item_id=number_of(input.item_id, "itemId"),
            buyer=input.buyer,
            price_fen=int(input.price),
            costs_fen=int(input.costs),
            sold_on=input.sold_on,
            channel=DepositChannel(input.channel.value),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.RecordCollateralDisposalError.from_domain(error)
    return t.CollateralDisposalRecorded(disposal=await disposal_view(row))
