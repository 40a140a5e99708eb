"""GraphQL types of collateral (issue 21, M8.1-M8.2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from schema.errors import error_codes, error_type
from schema.scalars import Money, SignedRate

# The upload pipeline's stable codes (services/kit/uploads.py UploadProblem).
_FILE_CODES = ["TOO_MANY_FILES", "FILE_TYPE_NOT_ACCEPTED", "FILE_TOO_LARGE"]


@strawberry.enum(description="What an item is.")
class CollateralKind(Enum):
    PROPERTY = "PROPERTY"
    VEHICLE = "VEHICLE"
    EQUITY = "EQUITY"
    RECEIVABLE = "RECEIVABLE"
    DEPOSIT = "DEPOSIT"


@strawberry.enum(description="Where an item is.")
class CollateralStatus(Enum):
    PLEDGED = "PLEDGED"
    RELEASED = "RELEASED"
    TRANSFERRED = "TRANSFERRED"
    IN_DISPOSAL = "IN_DISPOSAL"
    DISPOSED = "DISPOSED"


async def _verified(root: CollateralDocument) -> bool:
    return await root.check()


@strawberry.type(
    description="A document of an item, or a valuation's report: stored, hashed (SHA-256) "
    "and signed by the platform as it arrived. Download it with createDownloadLink(kind: "
    "COLLATERAL_DOCUMENT, id)."
)
class CollateralDocument:
    id: strawberry.ID = strawberry.field(description="Document id.")
    filename: str = strawberry.field(description="The name it was uploaded with.")
    content_type: str = strawberry.field(description="application/pdf, image/jpeg or image/png.")
    size: int = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the file as received (hex).")
    uploaded_at: datetime = strawberry.field(description="When it arrived (UTC).")
    verified: bool = strawberry.field(
        resolver=_verified,
        description="The record still holds the platform's signature and the stored file "
        "its hash (false: the file or its record changed since, or the file is gone). "
        "Checked when asked: it reads the file.",
    )
    check: strawberry.Private[Callable[[], Awaitable[bool]]]


@strawberry.type(description="One valuation of an item.")
class CollateralValuation:
    id: strawberry.ID = strawberry.field(description="Valuation id.")
    appraiser: str = strawberry.field(description="Who valued it.")
    method: str = strawberry.field(description="MARKET, INCOME, COST, AUCTION or OTHER.")
    value: Money = strawberry.field(description="What it was worth.")
    valued_on: date = strawberry.field(description="The day it was valued.")
    report_ref: str = strawberry.field(description="The valuation report's reference.")
    report: CollateralDocument | None = strawberry.field(
        description="The valuation report's file; null when none was uploaded."
    )
    recorded_at: datetime = strawberry.field(description="When it was recorded (UTC).")


@strawberry.type(description="An item pledged or mortgaged for a loan.")
class CollateralItem:
    id: strawberry.ID = strawberry.field(description="Item id.")
    loan_id: strawberry.ID = strawberry.field(description="The loan it secures.")
    kind: CollateralKind = strawberry.field(description="What it is.")
    description: str = strawberry.field(description="What it is, in words.")
    registration_number: str = strawberry.field(description="The lien's registration number.")
    registration_authority: str = strawberry.field(description="Where the lien is registered.")
    lien_rank: int = strawberry.field(description="The lien's rank (1: first).")
    status: CollateralStatus = strawberry.field(description="Where it is.")
    value: Money | None = strawberry.field(description="Its latest valuation; null until valued.")
    valuations: list[CollateralValuation] = strawberry.field(description="Newest first.")
    documents: list[CollateralDocument] = strawberry.field(
        description="Its documents (title deed, lien registration, photos...), in the order "
        "received; valuation reports are on their valuations."
    )
    created_at: datetime = strawberry.field(description="Recorded at (UTC).")


@strawberry.type(description="A loan's collateral and its loan-to-value.")
class LoanCollateral:
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    outstanding_principal: Money = strawberry.field(
        description="The loan's principal still owed (its amount before disbursement)."
    )
    loan_to_value: SignedRate | None = strawberry.field(
        description="Outstanding principal over the latest values of the items still "
        "securing the loan (four places, half-up); null while nothing is valued."
    )
    items: list[CollateralItem] = strawberry.field(description="In the order recorded.")


@strawberry.input(description="An item pledged for a loan (staff, as the loan is reviewed).")
class AddCollateralItemInput:
    loan_id: strawberry.ID = strawberry.field(description="The loan it secures.")
    kind: CollateralKind = strawberry.field(description="What it is.")
    description: str = strawberry.field(description="1 to 500 characters.")
    registration_number: str = strawberry.field(description="1 to 64 characters.")
    registration_authority: str = strawberry.field(description="1 to 128 characters.")
    lien_rank: int = strawberry.field(description="1 to 99 (1: first).")
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="A third party's member id; the borrower when null."
    )
    documents: list[Upload] | None = strawberry.field(
        default=None,
        description="Its documents (GraphQL multipart request spec): at most 6 PDF, JPEG or "
        "PNG files of at most 10 MB each.",
    )


@strawberry.type(description="The item is recorded.")
class CollateralItemAdded:
    item: CollateralItem = strawberry.field(description="The item, PLEDGED.")


AddCollateralItemErrorCode = error_codes(
    "AddCollateralItem",
    ["INVALID", "NOT_FOUND", "LOAN_CLOSED", *_FILE_CODES],
    "Why the item was not recorded (nothing was stored): TOO_MANY_FILES, "
    "FILE_TYPE_NOT_ACCEPTED (not PDF, JPEG or PNG, or the bytes, empty ones too, are not "
    "of the type declared) and FILE_TOO_LARGE are about `documents`.",
)
AddCollateralItemError = error_type(
    "AddCollateralItem", AddCollateralItemErrorCode, "The item was not recorded."
)
AddCollateralItemResult = Annotated[
    CollateralItemAdded | AddCollateralItemError, strawberry.union("AddCollateralItemResult")
]


@strawberry.input(description="A valuation of an item.")
class AddCollateralValuationInput:
    item_id: strawberry.ID = strawberry.field(description="The item.")
    appraiser: str = strawberry.field(description="1 to 128 characters.")
    method: str = strawberry.field(description="MARKET, INCOME, COST, AUCTION or OTHER.")
    value: Money = strawberry.field(description="More than 0.00.")
    valued_on: date = strawberry.field(description="Not after today.")
    report_ref: str = strawberry.field(default="", description="At most 256 characters.")
    report: Upload | None = strawberry.field(
        default=None,
        description="The report's file (GraphQL multipart request spec): a PDF, JPEG or PNG "
        "of at most 10 MB.",
    )


@strawberry.type(description="The valuation is recorded.")
class CollateralValued:
    valuation: CollateralValuation = strawberry.field(description="The valuation.")
    loan_to_value: SignedRate | None = strawberry.field(description="The loan's LTV now.")
    warned: bool = strawberry.field(
        description="This valuation took the LTV above collateral.ltvWarning (an "
        "LTV_WARNING event went out)."
    )


AddCollateralValuationErrorCode = error_codes(
    "AddCollateralValuation",
    ["INVALID", "NOT_FOUND", "ITEM_NOT_PLEDGED", *_FILE_CODES],
    "Why the valuation was not recorded, nothing stored (ITEM_NOT_PLEDGED: released or "
    "disposed; FILE_TYPE_NOT_ACCEPTED, FILE_TOO_LARGE: the `report`).",
)
AddCollateralValuationError = error_type(
    "AddCollateralValuation", AddCollateralValuationErrorCode, "The valuation was not recorded."
)
AddCollateralValuationResult = Annotated[
    CollateralValued | AddCollateralValuationError,
    strawberry.union("AddCollateralValuationResult"),
]
