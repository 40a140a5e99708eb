"""GraphQL types of the secondary market (issue 20)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money, Rate, SignedRate


@strawberry.enum(description="The order of transferListings.")
class TransferListingSort(Enum):
    NEWEST = "NEWEST"
    BUYER_XIRR = "BUYER_XIRR"
    DISCOUNT = "DISCOUNT"
    REMAINING_TERM = "REMAINING_TERM"
    LOAN_RATE = "LOAN_RATE"


@strawberry.enum(description="Where a listing is.")
class TransferListingStatus(Enum):
    OPEN = "OPEN"
    SOLD = "SOLD"
    CANCELLED = "CANCELLED"
    ENDED = "ENDED"


@strawberry.type(description="A claim (or part of one) offered for sale. No borrower identity.")
class TransferListing:
    id: strawberry.ID = strawberry.field(description="Listing id.")
    loan_id: strawberry.ID = strawberry.field(description="The loan the claim is on.")
    status: TransferListingStatus = strawberry.field(description="Where it is.")
    principal: Money = strawberry.field(
        description="The principal still for sale: what is listed, never more than the "
        "holding still has outstanding (an installment paid lowers it); 0 once it ended."
    )
    listed: Money = strawberry.field(description="The principal listed at first.")
    sold: Money = strawberry.field(description="The principal sold so far.")
    rate: SignedRate = strawberry.field(
        description="The discount (negative) or premium on the principal bought."
    )
    price: Money = strawberry.field(
        description="What all the principal for sale costs at that rate, before the "
        "accrued interest (half-up)."
    )
    loan_annual_rate: Rate = strawberry.field(description="The loan's annual rate.")
    remaining_installments: int = strawberry.field(description="Installments not yet paid.")
    next_due_date: date | None = strawberry.field(description="The next installment's due date.")
    buyer_xirr: SignedRate | None = strawberry.field(
        description="The annual rate a buyer of all of it earns at the price and the "
        "interest accrued today, from their part of each open installment on its due date "
        "(four places, half-up); null when it is undefined."
    )
    seller_xirr: SignedRate | None = strawberry.field(
        description="The annual rate the seller realises on the holding if all it still has "
        "outstanding sells at this rate today: what it cost them (lent, or bought), every "
        "payment they had of it, earlier sales of parts of it, and this sale's price and "
        "accrued interest less the fee (four places, half-up); null when undefined."
    )
    grade: str = strawberry.field(description="The borrower's credit grade now.")
    version: int = strawberry.field(
        description="The version of its terms: pass it to buyClaim (cancelling or ending it "
        "changes it; another buyer's purchase, or an installment paid, which lowers what is "
        "for sale, does not)."
    )
    expires_at: datetime = strawberry.field(description="Open until (UTC).")
    created_at: datetime = strawberry.field(description="Listed at (UTC).")


@strawberry.enum(description="Where a purchase is.")
class ClaimTransferStatus(Enum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    DONE = "DONE"
    REFUSED = "REFUSED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="Which side of a purchase you were on.")
class TransferSide(Enum):
    BOUGHT = "BOUGHT"
    SOLD = "SOLD"


@strawberry.type(description="One purchase of all or part of a listing.")
class ClaimTransfer:
    id: strawberry.ID = strawberry.field(description="Purchase id.")
    listing_id: strawberry.ID = strawberry.field(description="The listing.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    side: TransferSide = strawberry.field(description="Whether you bought or sold.")
    requested: Money = strawberry.field(description="The principal asked for.")
    principal: Money = strawberry.field(description="The principal bought (0 until done).")
    price: Money = strawberry.field(description="The price of it (0 until done).")
    accrued_interest: Money = strawberry.field(
        description="The interest accrued since the last due date, paid to the seller on top."
    )
    fee: Money = strawberry.field(description="The platform's fee, paid by the seller.")
    status: ClaimTransferStatus = strawberry.field(description="Where it is.")
    refusal: str | None = strawberry.field(description="Why it was refused at confirmation.")
    created_at: datetime = strawberry.field(description="Asked at (UTC).")
    decided_at: datetime | None = strawberry.field(description="Done or refused at (UTC).")
    contract_id: strawberry.ID | None = strawberry.field(
        description="Its claim transfer contract (contract), once made after the purchase."
    )
    automatic: bool = strawberry.field(
        description="Bought by an automatic bidding rule (no SMS code: the rule's opt-in)."
    )


@strawberry.input(description="Offer principal of one of your claims for sale.")
class ListClaimForTransferInput:
    claim_id: strawberry.ID = strawberry.field(description="Your claim (myReceivables).")
    principal: Money = strawberry.field(
        description="At least the minimum unit (transfers.rules), or all that is left."
    )
    rate: SignedRate = strawberry.field(
        description="The discount (negative) or premium, within transfers.rules' bounds."
    )
    idempotency_key: str = strawberry.field(description="8-128 characters; a replay is safe.")


@strawberry.type(description="The listing is open.")
class TransferListed:
    listing: TransferListing = strawberry.field(description="The listing.")


ListClaimErrorCode = error_codes(
    "ListClaim",
    [
        "INVALID",
        "NOT_FOUND",
        "LOAN_NOT_REPAYING",
        "LOAN_OVERDUE",
        "HELD_TOO_SHORT",
        "MORE_THAN_AVAILABLE",
        "BELOW_MINIMUM_UNIT",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why a claim could not be listed.",
)
ListClaimError = error_type("ListClaim", ListClaimErrorCode, "The claim was not listed.")
ListClaimForTransferResult = Annotated[
    TransferListed | ListClaimError, strawberry.union("ListClaimForTransferResult")
]


@strawberry.input(description="Ask to buy principal of a listing; confirm with the SMS code.")
class BuyClaimInput:
    listing_id: strawberry.ID = strawberry.field(description="An open listing.")
    principal: Money = strawberry.field(
        description="At least the minimum unit, or all that is for sale."
    )
    version: int = strawberry.field(description="The listing's version you saw.")
    idempotency_key: str = strawberry.field(description="8-128 characters; a replay is safe.")


@strawberry.type(description="The purchase waits for its SMS code: pass it to confirmOperation.")
class ClaimPurchaseAsked:
    transfer: ClaimTransfer = strawberry.field(description="The purchase, AWAITING_CONFIRMATION.")
    operation_id: strawberry.ID = strawberry.field(description="For confirmOperation.")


BuyClaimErrorCode = error_codes(
    "BuyClaim",
    [
        "INVALID",
        "NOT_FOUND",
        "LISTING_NOT_OPEN",
        "LISTING_CHANGED",
        "OWN_LISTING",
        "OWN_LOAN",
        "LOAN_NOT_REPAYING",
        "LOAN_OVERDUE",
        "MORE_THAN_AVAILABLE",
        "BELOW_MINIMUM_UNIT",
        "LENDING_VERIFICATION_REQUIRED",
        "RISK_ASSESSMENT_REQUIRED",
        "RISK_NOTICE_NOT_CONFIRMED",
        "GRADE_NOT_ALLOWED",
        "LENDING_CAP_EXCEEDED",
        "INSUFFICIENT_FUNDS",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why a purchase was refused.",
)
BuyClaimError = error_type(
    "BuyClaim", BuyClaimErrorCode, "Nothing was bought.", lists_missing_verifications=True
)
BuyClaimResult = Annotated[ClaimPurchaseAsked | BuyClaimError, strawberry.union("BuyClaimResult")]


@strawberry.input(description="End one of your open listings.")
class CancelTransferListingInput:
    listing_id: strawberry.ID = strawberry.field(description="Your open listing.")


@strawberry.type(description="The listing is cancelled.")
class TransferListingCancelled:
    listing: TransferListing = strawberry.field(description="The listing, CANCELLED.")


CancelTransferListingErrorCode = error_codes(
    "CancelTransferListing",
    ["NOT_FOUND", "LISTING_NOT_OPEN"],
    "Why a listing could not be cancelled.",
)
CancelTransferListingError = error_type(
    "CancelTransferListing", CancelTransferListingErrorCode, "The listing was not cancelled."
)
CancelTransferListingResult = Annotated[
    TransferListingCancelled | CancelTransferListingError,
    strawberry.union("CancelTransferListingResult"),
]


@strawberry.enum(description="What happened to a listing.")
class TransferMarketEventKind(Enum):
    LISTED = "LISTED"
    REPRICED = "REPRICED"
    SOLD = "SOLD"
    CANCELLED = "CANCELLED"
    ENDED = "ENDED"


@strawberry.type(
    description="A change on the secondary market, as it is committed. Public figures only."
)
class TransferMarketEvent:
    kind: TransferMarketEventKind = strawberry.field(description="What happened.")
    listing_id: strawberry.ID = strawberry.field(description="The listing.")
    loan_id: strawberry.ID = strawberry.field(description="The loan the claim is on.")
    status: TransferListingStatus = strawberry.field(description="The listing's status now.")
    for_sale: Money = strawberry.field(
        description="What can be bought now (0 once sold out, cancelled or ended)."
    )
    listed: Money = strawberry.field(description="The principal listed at first.")
    sold: Money = strawberry.field(description="The principal sold so far.")
    rate: SignedRate = strawberry.field(description="The discount (negative) or premium.")
    version: int = strawberry.field(description="The listing's version (buyClaim's `version`).")
    principal: Money | None = strawberry.field(description="SOLD: the principal bought.")
    reason: str | None = strawberry.field(
        description="ENDED: EXPIRED, LOAN_NOT_REPAYING or LOAN_OVERDUE."
    )
    at: datetime = strawberry.field(description="When (UTC, business clock).")


@strawberry.type(description="A purchase on the market as staff see it: both parties.")
class ClaimTransferRecord:
    id: strawberry.ID = strawberry.field(description="Purchase id.")
    listing_id: strawberry.ID = strawberry.field(description="The listing.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    seller_id: strawberry.ID = strawberry.field(description="The seller (a member id).")
    buyer_id: strawberry.ID = strawberry.field(description="The buyer (a member id).")
    requested: Money = strawberry.field(description="The principal asked for.")
    principal: Money = strawberry.field(description="The principal bought (0 until done).")
    price: Money = strawberry.field(description="The price of it (0 until done).")
    accrued_interest: Money = strawberry.field(
        description="The seller's interest accrued to the day, paid by the buyer."
    )
    fee: Money = strawberry.field(description="The platform's fee, paid by the seller.")
    status: ClaimTransferStatus = strawberry.field(description="Where it is.")
    refusal: str | None = strawberry.field(description="Why it was refused at confirmation.")
    created_at: datetime = strawberry.field(description="Asked at (UTC).")
    decided_at: datetime | None = strawberry.field(description="Done or refused at (UTC).")
    contract_id: strawberry.ID | None = strawberry.field(
        description="Its claim transfer contract (contract), once made after the purchase."
    )
    automatic: bool = strawberry.field(
        description="Bought by an automatic bidding rule (no SMS code: the rule's opt-in)."
    )
