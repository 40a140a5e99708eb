"""The staff's CSV exports (M12.4) served by signed download links (services/downloads.py):
the platform figures, the risk figures, every lender's returns, the overdue list and the
fund transactions, each needing the permission its GraphQL field needs, checked when
the link is made and again, with the subject's permission of that moment, when it is
downloaded.

A file is streamed: a producer yields pages of rows (the lists read `PAGE_SIZE` rows per
query, keyset on the id), `services.kit.csv_stream` encodes each page as it comes, UTF-8
with a byte-order mark and a header in Chinese and English. Amounts are yuan with two
decimals, rates four places, dates ISO, times ISO in UTC.

A link's parameters are fixed when it is made and signed with it (the scope): the day
of the figures (`asOf`, default business today then, and `since`), the filter of the
fund transactions. The overdue list is as of the download (what `overdueLoans` shows).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from models.ledger import Journal, Posting
from models.loans import LoanStatus
from services.analytics import exports
from services.analytics.window import Window, check_window
from services.errors import InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission
from services.kit import csv_stream
from services.kit.csv_stream import Row
from services.money.money import format_money
from services.money.statements import TransactionFilter
from services.repayments import collection

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Rows (loans, journals) read per query; tests make it small to see the pages.
PAGE_SIZE = 500

Pages = AsyncIterator[list[Row]]


@dataclass(frozen=True)
class ExportParams:
    """What a link fixes of its export (signed with it)."""

    as_of: date | None = None
    since: date | None = None
    where: TransactionFilter = field(default_factory=TransactionFilter)


@dataclass(frozen=True)
class Export:
    """One kind of export: who may have it, what it takes, how its rows are made."""

    permission: Permission
    name: str  # the file's name before its day and ".csv"
    header: Row
    days: tuple[str, ...]  # the day arguments it takes: "asOf", "since"
    takes_filter: bool
    pages: Callable[[Actor, ExportParams], Pages]


# --- the lists ----------------------------------------------------------------------------

OVERDUE_HEADER = (
    "借款编号 loan_id",
    "状态 status",
    "借款金额 amount",
    "借款人 borrower_id",
    "借款人姓名 borrower_name",
    "借款人手机 borrower_phone",
    "逾期天数 days_overdue",
    "账龄 bucket",
    "逾期金额 overdue_amount",
    "罚息 penalty",
    "逾期期数 overdue_installments",
    "催收员 collector_id",
    "催收员姓名 collector_name",
)
FUND_HEADER = (
    "交易编号 transaction_id",
    "业务日期 business_date",
    "时间 time_utc",
    "类型 kind",
    "摘要 memo",
    "账户 account",
    "金额 amount",
    "余额 balance_after",
)


def _overdue_row(row: collection.OverdueLoan) -> Row:
    collector = row.collector
    return (
        row.loan.id,
        LoanStatus(row.loan.status).value,
        format_money(row.loan.amount_fen),
        row.borrower.id,
        csv_stream.text(row.borrower.display_name),
        row.borrower.phone_masked,
        row.days_overdue,
        row.bucket.value,
        format_money(row.overdue_amount_fen),
        format_money(row.penalty_fen),
        row.overdue_installments,
        collector.id if collector else "",
        csv_stream.text(collector.display_name) if collector else "",
    )


async def overdue_pages(actor: Actor, params: ExportParams) -> Pages:
    """Every loan `overdueLoans` lists (no filter), by loan id, `PAGE_SIZE` a query."""
    after: int | None = None
    while True:
        page = await collection.overdue_loans(
            collection.OverdueFilter(), first=PAGE_SIZE, after_id=after
        )
        if page.rows:
            yield [_overdue_row(row) for row in page.rows]
        if len(page.rows) < PAGE_SIZE:
            return
        after = page.rows[-1].loan.id


async def _journal_page(where: TransactionFilter, before: int | None) -> list[Journal]:
    """The next `PAGE_SIZE` journals, newest first, as `fundTransactions` orders them:
    `kinds` any of the journal kinds, `from`/`to` business dates, both included."""
    query = Journal.all()
    if where.kinds:
        query = query.filter(kind__in=list(where.kinds))
    if where.date_from:
        query = query.filter(business_date__gte=where.date_from)
    if where.date_to:
        query = query.filter(business_date__lte=where.date_to)
    if before is not None:
        query = query.filter(id__lt=before)
    return await query.order_by("-id").limit(PAGE_SIZE)


async def fund_pages(actor: Actor, params: ExportParams) -> Pages:
    """A row per posting of every fund transaction (journal) matching the filter, newest
    transaction first, its postings in order: `PAGE_SIZE` journals and their postings
    per page (two statements)."""
    before: int | None = None
    while True:
        journals = await _journal_page(params.where, before)
        if not journals:
            return
        lines = cast(
            list[tuple[int, str, int, int]],
            await Posting.filter(journal_id__in=[journal.id for journal in journals])
            .order_by("id")
            .values_list("journal_id", "account__code", "amount", "balance_after"),
        )
        by_journal: dict[int, list[tuple[str, int, int]]] = {}
        for journal_id, account, amount, balance_after in lines:
            by_journal.setdefault(journal_id, []).append((account, amount, balance_after))
        yield [
            (
                journal.id,
                journal.business_date.isoformat(),
                journal.created_at.isoformat(timespec="seconds"),
                journal.kind,
                csv_stream.text(journal.memo),
                account,
                format_money(amount),
                format_money(balance_after),
            )
            for journal in journals
            for account, amount, balance_after in by_journal.get(journal.id, [])
        ]
        if len(journals) < PAGE_SIZE:
            return
        before = journals[-1].id


# --- the figures --------------------------------------------------------------------------


def _window(params: ExportParams) -> Window:
    assert params.as_of is not None  # fixed when the link was made
    return Window(params.as_of, params.since or params.as_of)


def _platform_pages(actor: Actor, params: ExportParams) -> Pages:
    return exports.platform_figures_pages(actor, _window(params))


def _risk_pages(actor: Actor, params: ExportParams) -> Pages:
    return exports.risk_figures_pages(actor, _window(params))


def _returns_pages(actor: Actor, params: ExportParams) -> Pages:
    return exports.returns_pages(actor, _window(params).as_of)


_ANALYTICS = Permission.ANALYTICS_READ
#: By the kind's word in the link (services.downloads.DownloadKind's value).
EXPORTS: dict[str, Export] = {
    "platform-figures": Export(
        _ANALYTICS,
        "platform-figures",
        exports.PLATFORM_HEADER,
        ("asOf", "since"),
        False,
        _platform_pages,
    ),
    "risk-figures": Export(
        _ANALYTICS, "risk-figures", exports.RISK_HEADER, ("asOf",), False, _risk_pages
    ),
    "platform-returns": Export(
        _ANALYTICS, "platform-returns", exports.RETURNS_HEADER, ("asOf",), False, _returns_pages
    ),
    "overdue-loans": Export(
        Permission.COLLECTION_READ, "overdue-loans", OVERDUE_HEADER, (), False, overdue_pages
    ),
    "fund-transactions": Export(
        Permission.FINANCE_READ, "fund-transactions", FUND_HEADER, (), True, fund_pages
    ),
}


# --- links --------------------------------------------------------------------------------


def check_allowed(actor: Actor, export: Export) -> None:
    """NotFoundError (field `kind`) unless the actor has the export's permission: a
    member learns no more of the staff's exports than of an object they may not read."""
    if not actor.can(export.permission):
        raise NotFoundError("No such export for you", field="kind")


async def checked_params(
    export: Export,
    *,
    as_of: date | None,
    since: date | None,
    where: TransactionFilter | None,
) -> ExportParams:
    """The link's parameters with their defaults fixed now: InvalidInputError for a day
    the export does not take (field `asOf` / `since`), a filter it does not take
    (`filter`), or a window `check_window` refuses."""
    if as_of is not None and "asOf" not in export.days:
        raise InvalidInputError("This export takes no asOf", field="asOf")
    if since is not None and "since" not in export.days:
        raise InvalidInputError("This export takes no since", field="since")
    if where is not None and not export.takes_filter:
        raise InvalidInputError("This export takes no filter", field="filter")
    params = ExportParams(where=where or TransactionFilter())
    if export.days:
        window = await check_window(as_of, since)
        keep_since = "since" in export.days
        params = ExportParams(window.as_of, window.since if keep_since else None, params.where)
    return params


def scope(params: ExportParams) -> str:
    """The days as signed (the filter's scope is added by the caller)."""
    as_of = params.as_of.isoformat() if params.as_of else ""
    since = params.since.isoformat() if params.since else ""
    return f"asOf={as_of};since={since}"


def query(params: ExportParams) -> dict[str, str]:
    found = {}
    if params.as_of:
        found["asOf"] = params.as_of.isoformat()
    if params.since:
        found["since"] = params.since.isoformat()
    return found


def parse(export: Export, values: dict[str, str], where: TransactionFilter) -> ExportParams:
    """The parameters of a link's query (ValueError when a day is not YYYY-MM-DD)."""

    def day(name: str) -> date | None:
        text = values.get(name)
        if text is None:
            return None
        if not _DAY.fullmatch(text) or name not in export.days:
            raise ValueError(name)
        return date.fromisoformat(text)

    return ExportParams(day("asOf"), day("since"), where)


def filename(export: Export, params: ExportParams) -> str:
    """`platform-figures-2026-12-03.csv`; a list as of its download has no day."""
    day = f"-{params.as_of.isoformat()}" if params.as_of else ""
    return f"{export.name}{day}.csv"


async def open_csv(actor: Actor, export: Export, params: ExportParams) -> AsyncIterator[bytes]:
    """The file's chunks, its first page already read (see `csv_stream.stream`)."""
    return await csv_stream.stream(export.header, export.pages(actor, params))
