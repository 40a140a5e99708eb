"""The secondary market (issue 20): listings, purchases, a member's transfers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from models.transfers import ClaimTransfer
from resolvers.ids import number_of
from schema.errors import BadUserInputError, resync
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money, Rate, SignedRate
from schema.types import transfers as t
from services.credit.policy import GRADES
from services.errors import DomainError
from services.kit.broker.fanout import Gap
from services.transfers import contracting, events, market, views


def _id(value: strawberry.ID, field: str) -> int:
    return number_of(value, field)


def listing_view(found: views.ListingView) -> t.TransferListing:
    row = found.listing
    return t.TransferListing(
        id=strawberry.ID(str(row.id)),
        loan_id=strawberry.ID(str(row.loan_id)),
        status=t.TransferListingStatus(str(row.status)),
        principal=Money(found.for_sale_fen),
        listed=Money(row.listed_fen),
        sold=Money(row.sold_fen),
        rate=SignedRate(Decimal(row.rate).quantize(Decimal("0.0001"))),
        price=Money(found.price_fen),
        loan_annual_rate=Rate(found.loan_annual_rate),
        remaining_installments=found.remaining_installments,
        next_due_date=found.next_due_date,
        buyer_xirr=SignedRate(found.buyer_xirr) if found.buyer_xirr is not None else None,
        seller_xirr=SignedRate(found.seller_xirr) if found.seller_xirr is not None else None,
        grade=found.grade,
        version=row.version,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def _purchase_fields(row: ClaimTransfer, contract_id: int | None) -> dict[str, Any]:
    """What a purchase shows to its parties and to staff alike."""
    return {
        "id": strawberry.ID(str(row.id)),
        "listing_id": strawberry.ID(str(row.listing_id)),
        "loan_id": strawberry.ID(str(row.loan_id)),
        "requested": Money(row.requested_fen),
        "principal": Money(row.principal_fen),
        "price": Money(row.price_fen),
        "accrued_interest": Money(row.accrued_interest_fen),
        "fee": Money(row.fee_fen),
        "status": t.ClaimTransferStatus(str(row.status)),
        "refusal": row.refusal or None,
        "created_at": row.created_at,
        "decided_at": row.decided_at,
        "contract_id": strawberry.ID(str(contract_id)) if contract_id is not None else None,
        "automatic": row.auto_rule_id is not None,
    }


def transfer_view(
    row: ClaimTransfer, viewer_id: int | None, contract_id: int | None = None
) -> t.ClaimTransfer:
    side = t.TransferSide.BOUGHT if row.buyer_id == viewer_id else t.TransferSide.SOLD
    return t.ClaimTransfer(side=side, **_purchase_fields(row, contract_id))


async def transfer_listings(
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    min_rate: SignedRate | None = None,
    max_rate: SignedRate | None = None,
    min_loan_rate: Rate | None = None,
    max_loan_rate: Rate | None = None,
    grades: list[str] | None = None,
    min_remaining_installments: int | None = None,
    max_remaining_installments: int | None = None,
    min_buyer_xirr: SignedRate | None = None,
    sort: t.TransferListingSort = t.TransferListingSort.NEWEST,
) -> Connection[t.TransferListing]:
    size = clamp_first(first)
    if grades is not None:
        grades = [grade.strip().upper() for grade in grades]
        unknown = sorted(set(grades) - set(GRADES))
        if unknown or len(grades) > len(GRADES):
            raise BadUserInputError(f"Grades are {', '.join(GRADES)}", field="grades")
    page = await views.open_listings(
        views.ListingFilter(
            min_loan_rate=min_loan_rate,
            max_loan_rate=max_loan_rate,
            min_rate=min_rate,
            max_rate=max_rate,
            grades=tuple(grades) if grades is not None else None,
            min_remaining=min_remaining_installments,
            max_remaining=max_remaining_installments,
            min_buyer_xirr=min_buyer_xirr,
        ),
        first=size + 1,
        after=cursor_key(after),
        sort=views.ListingSort(sort.value),
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda found: found.key,
        node=listing_view,
    )


async def my_transfers(
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    side: t.TransferSide | None = None,
) -> Connection[t.ClaimTransfer]:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    size = clamp_first(first)
    page = await views.transfers_of(
        actor.user_id,
        side=side.value if side else None,
        first=size + 1,
        before_id=cursor_key(after),
    )
    contracts = await contracting.contract_ids_of([row.id for row in page.rows])
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: transfer_view(row, actor.user_id, contracts.get(row.id)),
    )


async def list_claim_for_transfer(
    info: Info, input: t.ListClaimForTransferInput
) -> t.ListClaimForTransferResult:
    try:
        listing = await market.list_claim(
            actor=await info.context.get_actor(),
            claim_id=_id(input.claim_id, "claimId"),
            principal_fen=input.principal,
            rate=Decimal(input.rate),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.ListClaimError.from_domain(error)
    (found,) = await views.views_of([listing])
    return t.TransferListed(listing=listing_view(found))


async def buy_claim(info: Info, input: t.BuyClaimInput) -> t.BuyClaimResult:
    actor = await info.context.get_actor()
    try:
        transfer = await market.buy(
            actor=actor,
            listing_id=_id(input.listing_id, "listingId"),
            principal_fen=input.principal,
            version=input.version,
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.BuyClaimError.from_domain(error)
    assert transfer.operation_id is not None
    return t.ClaimPurchaseAsked(
        transfer=transfer_view(transfer, actor.user_id),
        operation_id=strawberry.ID(str(transfer.operation_id)),
    )


async def cancel_transfer_listing(
    info: Info, input: t.CancelTransferListingInput
) -> t.CancelTransferListingResult:
    try:
        listing = await market.cancel_listing(
            actor=await info.context.get_actor(), listing_id=_id(input.listing_id, "listingId")
        )
    except DomainError as error:
        return t.CancelTransferListingError.from_domain(error)
    (found,) = await views.views_of([listing])
    return t.TransferListingCancelled(listing=listing_view(found))


async def transfer_market_events(info: Info) -> AsyncGenerator[t.TransferMarketEvent]:
    async for event in events.stream():
        if isinstance(event, Gap):
            yield resync(event)
            continue
        principal = event.get("principal_fen")
        yield t.TransferMarketEvent(
            kind=t.TransferMarketEventKind(event["kind"]),
            listing_id=strawberry.ID(str(event["listing_id"])),
            loan_id=strawberry.ID(str(event["loan_id"])),
            status=t.TransferListingStatus(event["status"]),
            for_sale=Money(event["for_sale_fen"]),
            listed=Money(event["listed_fen"]),
            sold=Money(event["sold_fen"]),
            rate=SignedRate(Decimal(event["rate"]).quantize(Decimal("0.0001"))),
            version=event["version"],
            principal=Money(principal) if principal is not None else None,
            reason=event.get("reason") or None,
            at=datetime.fromisoformat(event["at"]),
        )


async def my_transfer_listings(
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    status: t.TransferListingStatus | None = None,
) -> Connection[t.TransferListing]:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    size = clamp_first(first)
    page = await views.listings_of(
        actor.user_id,
        status=status.value if status else None,
        first=size + 1,
        before_id=cursor_key(after),
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda found: found.listing.id,
        node=listing_view,
    )


def transfer_record(row: ClaimTransfer, contract_id: int | None) -> t.ClaimTransferRecord:
    return t.ClaimTransferRecord(
        seller_id=strawberry.ID(str(row.seller_id)),
        buyer_id=strawberry.ID(str(row.buyer_id)),
        **_purchase_fields(row, contract_id),
    )


async def claim_transfers(
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    loan_id: strawberry.ID | None = None,
    status: t.ClaimTransferStatus | None = None,
) -> Connection[t.ClaimTransferRecord]:
    size = clamp_first(first)
    page = await views.every_transfer(
        loan_id=_id(loan_id, "loanId") if loan_id is not None else None,
        status=status.value if status else None,
        first=size + 1,
        before_id=cursor_key(after),
    )
    contracts = await contracting.contract_ids_of([row.id for row in page.rows])
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: transfer_record(row, contracts.get(row.id)),
    )
