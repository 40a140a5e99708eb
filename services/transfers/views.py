"""What the market shows: open listings with their public figures (no borrower identity)
and a member's purchases and sales, a page at a time in a constant number of statements
(the listings, their loans, the loans' installments: three, whatever the page size)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Generic, TypeVar

from tortoise.expressions import Q, Subquery

from models.loans import Loan
from models.repayments import InstallmentStatus, LoanInstallment
from models.transfers import ClaimTransfer, ListingStatus, TransferListing
from services.platform import clock, parameters
from services.transfers import policy, pricing

_RATE_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class ListingFilter:
    min_loan_rate: Decimal | None = None
    max_loan_rate: Decimal | None = None
    min_rate: Decimal | None = None  # the listing's discount (negative) or premium
    max_rate: Decimal | None = None


@dataclass(frozen=True)
class ListingView:
    listing: TransferListing
    loan_annual_rate: Decimal
    remaining_installments: int
    next_due_date: date | None
    price_fen: int
    buyer_xirr: Decimal | None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int


def _xirr(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value)).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)


def _view(
    listing: TransferListing, loan: Loan, rows: list[LoanInstallment], fee: Decimal, now: datetime
) -> ListingView:
    open_rows = [row for row in rows if row.status != InstallmentStatus.PAID]
    price = pricing.half_up(Fraction(listing.principal_fen) * (1 + Fraction(listing.rate)))
    xirr = None
    if open_rows and listing.principal_fen:
        following = open_rows[0]
        earlier = [row.due_date for row in rows if row.number < following.number]
        start = earlier[-1] if earlier else (loan.disbursed_at or loan.closed_at or now).date()
        outstanding = loan.amount_fen - sum(row.paid_principal_fen for row in rows)
        if 0 < listing.principal_fen <= outstanding:
            quote = pricing.quote(
                principal_fen=listing.principal_fen,
                rate=Decimal(listing.rate),
                fee_rate=fee,
                loan_outstanding_fen=outstanding,
                period=pricing.Period(start, following.due_date, following.interest_fen),
                on=now.date(),
            )
            xirr = _xirr(
                pricing.buyer_xirr(
                    quote.buyer_pays_fen,
                    now.date(),
                    listing.principal_fen,
                    outstanding,
                    [
                        (
                            row.due_date,
                            row.principal_fen - row.paid_principal_fen,
                            row.interest_fen - row.paid_interest_fen,
                        )
                        for row in open_rows
                    ],
                )
            )
    return ListingView(
        listing=listing,
        loan_annual_rate=Decimal(loan.annual_rate),
        remaining_installments=len(open_rows),
        next_due_date=open_rows[0].due_date if open_rows else None,
        price_fen=price,
        buyer_xirr=xirr,
    )


async def views_of(listings: list[TransferListing]) -> list[ListingView]:
    """The listings with their figures: two statements for any number of them."""
    if not listings:
        return []
    loan_ids = sorted({listing.loan_id for listing in listings})
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    schedules: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in await LoanInstallment.filter(loan_id__in=loan_ids).order_by("loan_id", "number"):
        schedules[row.loan_id].append(row)
    fee = (await parameters.get(policy.RULES)).fee_rate
    now = await clock.now()
    return [
        _view(listing, loans[listing.loan_id], schedules[listing.loan_id], fee, now)
        for listing in listings
    ]


async def open_listings(
    where: ListingFilter, *, first: int, before_id: int | None
) -> Page[ListingView]:
    """Open, unexpired listings, newest first, filtered; `first` rows after `before_id`."""
    query = TransferListing.filter(status=ListingStatus.OPEN, expires_at__gt=await clock.now())
    if where.min_rate is not None:
        query = query.filter(rate__gte=where.min_rate)
    if where.max_rate is not None:
        query = query.filter(rate__lte=where.max_rate)
    if where.min_loan_rate is not None or where.max_loan_rate is not None:
        loans = Loan.all()
        if where.min_loan_rate is not None:
            loans = loans.filter(annual_rate__gte=where.min_loan_rate)
        if where.max_loan_rate is not None:
            loans = loans.filter(annual_rate__lte=where.max_loan_rate)
        query = query.filter(loan_id__in=Subquery(loans.values("id")))
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(first)
    return Page(rows=await views_of(rows), total=total)


async def transfers_of(
    user_id: int, *, side: str | None, first: int, before_id: int | None
) -> Page[ClaimTransfer]:
    """A member's purchases (BOUGHT), sales (SOLD) or both, newest first."""
    mine = (
        Q(buyer_id=user_id)
        if side == "BOUGHT"
        else Q(seller_id=user_id)
        if side == "SOLD"
        else Q(buyer_id=user_id) | Q(seller_id=user_id)
    )
    query = ClaimTransfer.filter(mine)
    if side == "SOLD":  # a seller sees the sales that happened, not others' attempts
        query = query.filter(status="DONE")
    elif side is None:
        query = query.filter(Q(buyer_id=user_id) | Q(status="DONE"))
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
