"""What the market shows: open listings with their public figures (no borrower identity)
and a member's purchases and sales, a page at a time in a constant number of statements
(the listings; their holdings, what those had and their open listings; their loans and
the loans' installments: the same number whatever the page size)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Generic, TypeVar

from tortoise.expressions import Q, Subquery

from models.bids import Claim
from models.loans import Loan
from models.repayments import InstallmentStatus, LoanInstallment
from models.transfers import ClaimTransfer, ListingStatus, TransferListing
from services.platform import clock, parameters
from services.repayments import holdings
from services.transfers import market, policy, pricing

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
    for_sale_fen: int  # what can be bought now (`market.for_sale`)
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
    listing: TransferListing,
    for_sale: int,
    loan: Loan,
    rows: list[LoanInstallment],
    fee: Decimal,
    now: datetime,
) -> ListingView:
    open_rows = [row for row in rows if row.status != InstallmentStatus.PAID]
    price = pricing.half_up(Fraction(for_sale) * (1 + Fraction(listing.rate)))
    xirr = None
    found = market.accrual(loan, rows, now) if for_sale else None
    if found is not None:
        period, outstanding = found
        if for_sale <= outstanding:
            quote = pricing.quote(
                principal_fen=for_sale,
                rate=Decimal(listing.rate),
                fee_rate=fee,
                loan_outstanding_fen=outstanding,
                period=period,
                on=now.date(),
            )
            xirr = _xirr(
                pricing.buyer_xirr(
                    quote.buyer_pays_fen,
                    now.date(),
                    for_sale,
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
        for_sale_fen=for_sale,
        loan_annual_rate=Decimal(loan.annual_rate),
        remaining_installments=len(open_rows),
        next_due_date=open_rows[0].due_date if open_rows else None,
        price_fen=price,
        buyer_xirr=xirr,
    )


async def _for_sale(listings: list[TransferListing]) -> dict[int, int]:
    """`market.for_sale` of each listing, for all of them in four statements: what it
    lists, never more than its holding still has outstanding less the holding's other
    open listings (an installment paid since it was listed lowers what it offers)."""
    claim_ids = sorted({listing.claim_id for listing in listings})
    claims = {claim.id: claim for claim in await Claim.filter(id__in=claim_ids)}
    had = await holdings.had(claim_ids)
    listed: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for listing_id, claim_id, principal in await TransferListing.filter(
        claim_id__in=claim_ids, status=ListingStatus.OPEN
    ).values_list("id", "claim_id", "principal_fen"):
        listed[claim_id].append((listing_id, principal))
    found = {}
    for listing in listings:
        claim = claims[listing.claim_id]
        others = sum(p for i, p in listed[claim.id] if i != listing.id)
        left = claim.principal_fen - had[claim.id].principal_fen - others
        found[listing.id] = max(0, min(listing.principal_fen, left))
    return found


async def views_of(listings: list[TransferListing]) -> list[ListingView]:
    """The listings with their figures: six statements for any number of them."""
    if not listings:
        return []
    for_sale = await _for_sale(listings)
    loan_ids = sorted({listing.loan_id for listing in listings})
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    schedules: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in await LoanInstallment.filter(loan_id__in=loan_ids).order_by("loan_id", "number"):
        schedules[row.loan_id].append(row)
    fee = (await parameters.get(policy.RULES)).fee_rate
    now = await clock.now()
    return [
        _view(
            listing,
            for_sale[listing.id] if listing.status == ListingStatus.OPEN else 0,
            loans[listing.loan_id],
            schedules[listing.loan_id],
            fee,
            now,
        )
        for listing in listings
    ]


async def open_listings(
    where: ListingFilter, *, first: int, before_id: int | None
) -> Page[ListingView]:
    """Open, unexpired listings of loans whose claims may be sold (REPAYING, or OVERDUE
    where the rules allow it), newest first, filtered; `first` rows after `before_id`."""
    statuses = market.tradeable_statuses(await parameters.get(policy.RULES))
    query = TransferListing.filter(
        status=ListingStatus.OPEN,
        expires_at__gt=await clock.now(),
        loan_id__in=Subquery(Loan.filter(status__in=statuses).values("id")),
    )
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
