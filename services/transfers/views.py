"""What the market shows: open listings with their public figures (no borrower identity)
and a member's purchases and sales, a page at a time in a constant number of statements
(the listings; their holdings, what those had and their open listings; their loans and
the loans' installments: the same number whatever the page size)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Generic, TypeVar

from tortoise.expressions import Q, Subquery

from models.bids import Claim
from models.credit import CreditProfile
from models.loans import Loan
from models.repayments import InstallmentStatus, LoanInstallment
from models.transfers import ClaimTransfer, ListingStatus, TransferListing
from services.platform import clock, parameters
from services.repayments import holdings
from services.transfers import market, policy, pricing, realised

_RATE_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class ListingFilter:
    min_loan_rate: Decimal | None = None
    max_loan_rate: Decimal | None = None
    min_rate: Decimal | None = None  # the listing's discount (negative) or premium
    max_rate: Decimal | None = None
    grades: tuple[str, ...] | None = None  # the borrower's grade now
    min_remaining: int | None = None  # installments not yet paid
    max_remaining: int | None = None
    min_buyer_xirr: Decimal | None = None  # the buyer's XIRR at the price, today

    @property
    def computed(self) -> bool:
        """Whether it filters on figures computed per listing (not stored)."""
        return (self.min_remaining, self.max_remaining, self.min_buyer_xirr) != (None,) * 3


class ListingSort(StrEnum):
    NEWEST = "NEWEST"
    BUYER_XIRR = "BUYER_XIRR"  # highest first
    DISCOUNT = "DISCOUNT"  # deepest discount first (lowest rate)
    REMAINING_TERM = "REMAINING_TERM"  # fewest installments left first
    LOAN_RATE = "LOAN_RATE"  # highest loan rate first


@dataclass(frozen=True)
class ListingView:
    listing: TransferListing
    for_sale_fen: int  # what can be bought now (`market.for_sale`)
    loan_annual_rate: Decimal
    remaining_installments: int
    next_due_date: date | None
    price_fen: int
    buyer_xirr: Decimal | None
    seller_xirr: Decimal | None = None
    grade: str = ""
    key: int = 0  # the page's keyset key: the listing id, or (sort value, id) in one int


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


@dataclass(frozen=True)
class _Held:
    claims: dict[int, Claim]
    outstanding: dict[int, int]  # claim id -> outstanding principal
    for_sale: dict[int, int]  # listing id -> what can be bought now


async def _held(listings: list[TransferListing]) -> _Held:
    """`market.for_sale` of each listing, for all of them in four statements: what it
    lists, never more than its holding still has outstanding less the holding's other
    open listings (an installment paid since it was listed lowers what it offers)."""
    claim_ids = sorted({listing.claim_id for listing in listings})
    claims = {claim.id: claim for claim in await Claim.filter(id__in=claim_ids)}
    had = await holdings.had(claim_ids)
    outstanding = {
        claim.id: claim.principal_fen - had[claim.id].principal_fen for claim in claims.values()
    }
    listed: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for listing_id, claim_id, principal in await TransferListing.filter(
        claim_id__in=claim_ids, status=ListingStatus.OPEN
    ).values_list("id", "claim_id", "principal_fen"):
        listed[claim_id].append((listing_id, principal))
    for_sale = {}
    for listing in listings:
        others = sum(p for i, p in listed[listing.claim_id] if i != listing.id)
        left = outstanding[listing.claim_id] - others
        for_sale[listing.id] = max(0, min(listing.principal_fen, left))
    return _Held(claims=claims, outstanding=outstanding, for_sale=for_sale)


@dataclass(frozen=True)
class _Book:
    """What the figures of a set of listings are computed from."""

    held: _Held
    loans: dict[int, Loan]
    schedules: dict[int, list[LoanInstallment]]
    grades: dict[int, str]  # borrower id -> grade now
    fee: Decimal
    now: datetime


async def _book(listings: list[TransferListing]) -> _Book:
    """Eight statements for any number of listings."""
    held = await _held(listings)
    loan_ids = sorted({listing.loan_id for listing in listings})
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    schedules: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in await LoanInstallment.filter(loan_id__in=loan_ids).order_by("loan_id", "number"):
        schedules[row.loan_id].append(row)
    grades = dict(
        await CreditProfile.filter(
            user_id__in=sorted({loan.borrower_id for loan in loans.values()})
        ).values_list("user_id", "grade")
    )
    fee = (await parameters.get(policy.RULES)).fee_rate
    return _Book(held, loans, schedules, grades, fee, await clock.now())


def _views(book: _Book, listings: list[TransferListing]) -> list[ListingView]:
    """The listings' figures without the seller's XIRR (`_with_seller_xirr` adds it)."""
    return [
        replace(
            _view(
                listing,
                book.held.for_sale[listing.id] if listing.status == ListingStatus.OPEN else 0,
                book.loans[listing.loan_id],
                book.schedules[listing.loan_id],
                book.fee,
                book.now,
            ),
            grade=str(book.grades.get(book.loans[listing.loan_id].borrower_id, "")),
            key=listing.id,
        )
        for listing in listings
    ]


async def _with_seller_xirr(book: _Book, views: list[ListingView]) -> list[ListingView]:
    """`views` with the seller's realised XIRR (four statements and one XIRR each): for
    the rows shown only, not for every candidate a sorted page looks at."""
    if not views:
        return []
    listings = [view.listing for view in views]
    shown = {listing.claim_id for listing in listings}
    sellers = await realised.seller_xirrs(
        listings,
        {claim_id: claim for claim_id, claim in book.held.claims.items() if claim_id in shown},
        book.held.outstanding,
        book.loans,
        book.schedules,
        book.fee,
        book.now,
    )
    return [replace(view, seller_xirr=_xirr(sellers[view.listing.id])) for view in views]


async def views_of(listings: list[TransferListing]) -> list[ListingView]:
    """The listings with their figures, the seller's realised XIRR and the borrower's
    grade: twelve statements for any number of them."""
    if not listings:
        return []
    book = await _book(listings)
    return await _with_seller_xirr(book, _views(book, listings))


# The keyset of a sorted page: (sort value, listing id) in one integer, ascending.
_ID_BITS = 40
_VALUE_OFFSET = 1 << 22  # sort values are within +-4,194,304 (rates in basis points)
MAX_SCANNED = 2_000  # listings a filter on computed figures or a sort looks at


def _sort_value(view: ListingView, sort: ListingSort) -> int:
    def basis_points(rate: Decimal) -> int:
        return int((rate * 10_000).to_integral_value(rounding=ROUND_HALF_UP))

    match sort:
        case ListingSort.BUYER_XIRR:
            if view.buyer_xirr is None:
                return _VALUE_OFFSET - 1  # none last
            return -max(-(_VALUE_OFFSET - 2), min(basis_points(view.buyer_xirr), 10**6))
        case ListingSort.DISCOUNT:
            return basis_points(Decimal(str(view.listing.rate)))
        case ListingSort.REMAINING_TERM:
            return view.remaining_installments
        case ListingSort.LOAN_RATE:
            return -basis_points(view.loan_annual_rate)
        case _:
            return 0


def sort_key(view: ListingView, sort: ListingSort) -> int:
    return ((_sort_value(view, sort) + _VALUE_OFFSET) << _ID_BITS) | int(view.listing.id)


def _keeps(view: ListingView, where: ListingFilter) -> bool:
    if where.min_remaining is not None and view.remaining_installments < where.min_remaining:
        return False
    if where.max_remaining is not None and view.remaining_installments > where.max_remaining:
        return False
    if where.min_buyer_xirr is not None:
        return view.buyer_xirr is not None and view.buyer_xirr >= where.min_buyer_xirr
    return True


async def open_listings(
    where: ListingFilter,
    *,
    first: int,
    after: int | None,
    sort: ListingSort = ListingSort.NEWEST,
) -> Page[ListingView]:
    """Open, unexpired listings of loans whose claims may be sold (REPAYING, or OVERDUE
    where the rules allow it), filtered, `first` rows after the key `after`.

    Newest first, filtered on stored figures only: a keyset page by listing id in the
    database. Sorted otherwise, or filtered on figures computed per listing (remaining
    term, the buyer's XIRR today): the newest MAX_SCANNED candidates are computed (in the
    same twelve statements), filtered and sorted by (value, id), and the page is the rows
    whose key follows `after`: a listing sold meanwhile does not shift the next page."""
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
    if (where.min_loan_rate, where.max_loan_rate, where.grades) != (None, None, None):
        loans = Loan.all()
        if where.min_loan_rate is not None:
            loans = loans.filter(annual_rate__gte=where.min_loan_rate)
        if where.max_loan_rate is not None:
            loans = loans.filter(annual_rate__lte=where.max_loan_rate)
        if where.grades is not None:
            borrowers = CreditProfile.filter(grade__in=list(where.grades)).values("user_id")
            loans = loans.filter(borrower_id__in=Subquery(borrowers))
        query = query.filter(loan_id__in=Subquery(loans.values("id")))
    if sort == ListingSort.NEWEST and not where.computed:
        total = await query.count()
        if after is not None:
            query = query.filter(id__lt=after)
        rows = await query.order_by("-id").limit(first)
        return Page(rows=await views_of(rows), total=total)
    candidates = await query.order_by("-id").limit(MAX_SCANNED)
    if not candidates:
        return Page(rows=[], total=0)
    book = await _book(candidates)
    kept = [view for view in _views(book, candidates) if _keeps(view, where)]
    if sort == ListingSort.NEWEST:  # newest first already; the key is the id, descending
        page = [view for view in kept if after is None or view.listing.id < after]
    else:
        keyed = sorted((replace(view, key=sort_key(view, sort)) for view in kept), key=_by_key)
        page = [view for view in keyed if after is None or view.key > after]
    return Page(rows=await _with_seller_xirr(book, page[:first]), total=len(kept))


def _by_key(view: ListingView) -> int:
    return view.key


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


async def listings_of(
    user_id: int, *, status: str | None, first: int, before_id: int | None
) -> Page[ListingView]:
    """A member's own listings (one status, or all), newest first, with their figures."""
    query = TransferListing.filter(seller_id=user_id)
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await views_of(await query.order_by("-id").limit(first)), total=total)


async def every_transfer(
    *, loan_id: int | None, status: str | None, first: int, before_id: int | None
) -> Page[ClaimTransfer]:
    """Every purchase on the market (staff), newest first; one loan's, one status."""
    query = ClaimTransfer.all()
    if loan_id is not None:
        query = query.filter(loan_id=loan_id)
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
