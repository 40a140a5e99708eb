"""GraphQL types of collateral's transfer of rights and disposal (issue 21, M8.3-M8.4)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money
from schema.types.money.accounts import DepositChannelEnum


@strawberry.enum(description="To whom an item's rights go.")
class CollateralTransferTo(Enum):
    HOLDERS = "HOLDERS"
    TRUSTEE = "TRUSTEE"
    GUARANTOR = "GUARANTOR"


@strawberry.type(description="A transfer of the rights in an item.")
class CollateralTransfer:
    id: strawberry.ID = strawberry.field(description="Transfer id.")
    item_id: strawberry.ID = strawberry.field(description="The item.")
    to: CollateralTransferTo = strawberry.field(description="To whom.")
    to_name: str = strawberry.field(description="The trustee's name (else empty).")
    reason: str = strawberry.field(description="Why.")
    status: str = strawberry.field(description="REQUESTED or APPROVED.")
    requested_at: datetime = strawberry.field(description="When asked.")
    approved_at: datetime | None = strawberry.field(description="When approved.")


@strawberry.type(description="The sale of an item and where its net proceeds went.")
class CollateralDisposal:
    id: strawberry.ID = strawberry.field(description="Disposal id.")
    item_id: strawberry.ID = strawberry.field(description="The item.")
    buyer: str = strawberry.field(description="Who bought it.")
    price: Money = strawberry.field(description="The sale price.")
    costs: Money = strawberry.field(description="The costs of the sale.")
    net: Money = strawberry.field(description="Price less costs: what the provider collects.")
    sold_on: date = strawberry.field(description="The day of the sale.")
    status: str = strawberry.field(
        description="RECORDED (proceeds awaited), DISTRIBUTED or FAILED (did not arrive)."
    )
    applied: Money = strawberry.field(description="Paid towards the loan.")
    surplus: Money = strawberry.field(description="Left to the owner.")
    pay_url: str = strawberry.field(
        description="Where the buyer pays the net proceeds (gateway), while RECORDED."
    )


@strawberry.input(description="Ask for an item's rights to be transferred.")
class RequestCollateralTransferInput:
    item_id: strawberry.ID = strawberry.field(description="A PLEDGED item.")
    to: CollateralTransferTo = strawberry.field(
        description="HOLDERS or TRUSTEE once the loan is in default; GUARANTOR once the "
        "guarantee company has compensated."
    )
    to_name: str = strawberry.field(default="", description="The trustee's name.")
    reason: str = strawberry.field(description="1 to 500 characters.")


@strawberry.type(description="The transfer, asked or approved.")
class CollateralTransferDone:
    transfer: CollateralTransfer = strawberry.field(description="The transfer.")


CollateralTransferErrorCode = error_codes(
    "CollateralTransfer",
    [
        "INVALID",
        "NOT_FOUND",
        "ITEM_NOT_PLEDGED",
        "TRANSFER_PENDING",
        "LOAN_NOT_IN_DEFAULT",
        "NOT_COMPENSATED",
        "SAME_PERSON",
        "FORBIDDEN",
    ],
    "Why the transfer was not asked or approved (FORBIDDEN: approving needs level 3).",
)
CollateralTransferError = error_type(
    "CollateralTransfer", CollateralTransferErrorCode, "Nothing was changed."
)
CollateralTransferResult = Annotated[
    CollateralTransferDone | CollateralTransferError,
    strawberry.union("CollateralTransferResult"),
]


@strawberry.input(description="A sale of a transferred item.")
class RecordCollateralDisposalInput:
    item_id: strawberry.ID = strawberry.field(description="A TRANSFERRED item.")
    buyer: str = strawberry.field(description="1 to 128 characters.")
    price: Money = strawberry.field(description="The sale price, above 0.00.")
    costs: Money = strawberry.field(description="Costs of the sale, less than the price.")
    sold_on: date = strawberry.field(description="Not after today.")
    channel: DepositChannelEnum = strawberry.field(
        description="How the net proceeds come in: GATEWAY or POS."
    )
    idempotency_key: str = strawberry.field(description="8 to 128 characters; one sale.")


@strawberry.type(description="The sale is recorded; its net proceeds are awaited.")
class CollateralDisposalRecorded:
    disposal: CollateralDisposal = strawberry.field(description="The disposal.")


RecordCollateralDisposalErrorCode = error_codes(
    "RecordCollateralDisposal",
    [
        "INVALID",
        "NOT_FOUND",
        "ITEM_NOT_TRANSFERRED",
        "DISPOSAL_PENDING",
        "PROCEEDS_ALREADY_DISTRIBUTED",
        "COSTS_EXCEED_PRICE",
        "ACCOUNT_NOT_OPEN",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why the sale was not recorded.",
)
RecordCollateralDisposalError = error_type(
    "RecordCollateralDisposal", RecordCollateralDisposalErrorCode, "Nothing was recorded."
)
RecordCollateralDisposalResult = Annotated[
    CollateralDisposalRecorded | RecordCollateralDisposalError,
    strawberry.union("RecordCollateralDisposalResult"),
]
