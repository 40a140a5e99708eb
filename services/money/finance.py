"""Finance views (M10.1, M10.2): the platform's accounts with the totals of members'
accounts, and every fund transaction (ledger journal) with its postings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from tortoise.expressions import Subquery
from tortoise.functions import Sum

from models.ledger import AccountKind, Journal, LedgerAccount, Posting
from services.errors import InvalidInputError
from services.pages import Page
from services.platform.clock import system_now


@dataclass(frozen=True)
class PlatformOverview:
    """Balances in fen from the ledger."""

    fee: int
    risk_reserve: int
    guarantee_fund: int
    margin: int
    members_available: int
    members_frozen: int
    members_withdrawing: int
    held_at_provider: int  # all money the provider holds for the platform and its members
    suspense: int
    as_of: datetime


async def platform_overview() -> PlatformOverview:
    """The platform accounts and the totals of members' accounts, from the ledger."""
    rows = cast(
        list[tuple[str, Any]],
        await LedgerAccount.all()
        .group_by("kind")
        .annotate(total=Sum("balance"))
        .values_list("kind", "total"),
    )
    totals = {str(kind): int(total or 0) for kind, total in rows}
    return PlatformOverview(
        fee=totals.get(AccountKind.PLATFORM_FEE, 0),
        risk_reserve=totals.get(AccountKind.RISK_RESERVE, 0),
        guarantee_fund=totals.get(AccountKind.GUARANTEE_FUND, 0),
        margin=totals.get(AccountKind.MARGIN, 0),
        members_available=totals.get(AccountKind.MEMBER_AVAILABLE, 0),
        members_frozen=totals.get(AccountKind.MEMBER_FROZEN, 0),
        members_withdrawing=totals.get(AccountKind.MEMBER_WITHDRAWING, 0),
        # The bank account runs negative by exactly the money inside the provider.
        held_at_provider=-totals.get(AccountKind.BANK, 0),
        suspense=totals.get(AccountKind.SUSPENSE, 0),
        as_of=system_now(),
    )


@dataclass(frozen=True)
class FundTransactionFilter:
    kind: str | None = None
    account_code: str | None = None
    date_from: date | None = None  # business date, inclusive
    date_to: date | None = None  # inclusive


@dataclass(frozen=True)
class PostingLine:
    account: str
    amount: int
    balance_after: int


@dataclass(frozen=True)
class FundTransaction:
    journal: Journal
    postings: list[PostingLine]


async def list_fund_transactions(
    *, filter: FundTransactionFilter, first: int, before_id: int | None = None
) -> Page[FundTransaction]:
    """Every journal with its postings, newest first, `first` of them older than
    `before_id`. Raises InvalidInputError when `date_from` is after `date_to`."""
    if filter.date_from and filter.date_to and filter.date_from > filter.date_to:
        raise InvalidInputError("`from` must not be after `to`", field="filter.from")
    query = Journal.all()
    if filter.kind:
        query = query.filter(kind=filter.kind)
    if filter.account_code:
        query = query.filter(
            id__in=Subquery(Posting.filter(account__code=filter.account_code).values("journal_id"))
        )
    if filter.date_from:
        query = query.filter(business_date__gte=filter.date_from)
    if filter.date_to:
        query = query.filter(business_date__lte=filter.date_to)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    journals = await query.order_by("-id").limit(first)
    lines: dict[int, list[PostingLine]] = defaultdict(list)
    if journals:
        rows = cast(
            list[tuple[int, str, int, int]],
            await Posting.filter(journal_id__in=[journal.id for journal in journals])
            .order_by("id")
            .values_list("journal_id", "account__code", "amount", "balance_after"),
        )
        for journal_id, account, amount, balance_after in rows:
            lines[journal_id].append(PostingLine(account, amount, balance_after))
    return Page(
        rows=[FundTransaction(journal, lines[journal.id]) for journal in journals], total=total
    )
