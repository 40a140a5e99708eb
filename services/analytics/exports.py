"""The analytics figures as CSV rows (M12.4), for the signed download links
(services/downloads_csv.py): the platform figures one per row, the risk figures (aging
buckets, totals and vintage curves), and every lender's returns.

Each producer is an async generator of pages of rows, already formatted: amounts as
yuan with two decimals ("1234.56", `format_money`), rates and shares with four places,
dates ISO. The figures are the same calls the GraphQL fields make, so a file and the
screen agree to the fen. The lenders' returns are read `PAGE_SIZE` lenders at a time
(keyset on the lender id); returns.py computes one lender at a time, so a page costs a
few statements per lender, and memory holds one page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from models.bids import Claim
from services.analytics import figures, returns, risk
from services.analytics.window import Window
from services.errors import NotFoundError
from services.identity.permissions import Actor
from services.kit.csv_stream import Row
from services.money.money import format_money

#: Rows (lenders) read per query; tests make it small to see the pages.
PAGE_SIZE = 500
_FOUR = Decimal("0.0001")

Page = list[Row]

PLATFORM_HEADER = ("指标 figure", "名称 label", "数值 value", "单位 unit")
RISK_HEADER = (
    "类别 section",
    "项目 item",
    "账龄月 month_on_book",
    "笔数 loans",
    "金额 amount",
    "本金 principal",
    "比例 share",
)
RETURNS_HEADER = (
    "出借人 lender_id",
    "投资本金 invested",
    "已收回 received",
    "待收本金 outstanding",
    "已实现年化 realised_xirr",
    "预期年化 expected_xirr",
)


def four(value: Decimal | None) -> str:
    """A rate or share with four places ("0.1200"); empty where it is undefined."""
    if value is None:
        return ""
    return f"{value.quantize(_FOUR, rounding=ROUND_HALF_UP):.4f}"


# --- platform figures ---------------------------------------------------------------------


def _platform_rows(found: figures.PlatformFigures) -> Page:
    yuan, count, rate = "yuan", "count", "rate"
    rows: list[tuple[str, str, str, str]] = [
        ("asOf", "截至日期", found.as_of.isoformat(), "date"),
        ("since", "统计起始日", found.since.isoformat(), "date"),
        ("cumulativeVolume", "累计成交额", format_money(found.cumulative_volume), yuan),
        ("cumulativeLoanCount", "累计成交笔数", str(found.cumulative_count), count),
        ("periodVolume", "期间成交额", format_money(found.period_volume), yuan),
        ("periodLoanCount", "期间成交笔数", str(found.period_count), count),
        ("outstandingPrincipal", "待还本金", format_money(found.outstanding_principal), yuan),
        ("outstandingInterest", "待还利息", format_money(found.outstanding_interest), yuan),
        ("outstandingLoanCount", "待还笔数", str(found.outstanding_count), count),
        ("membersRegistered", "注册会员数", str(found.members), count),
        ("activeBorrowers", "在贷借款人数", str(found.active_borrowers), count),
        ("activeLenders", "在投出借人数", str(found.active_lenders), count),
        ("averageAnnualRate", "加权平均年利率", four(found.average_rate), rate),
        ("averageTermMonths", "加权平均期限", str(found.average_term_months), "months"),
        ("top10BorrowersShare", "前十大借款人待还占比", four(found.top_borrowers_share), rate),
        (
            "largestBorrowerShare",
            "最大单一借款人待还占比",
            four(found.largest_borrower_share),
            rate,
        ),
        ("relatedPartyLoanCount", "关联方借款笔数", str(found.related_party_count), count),
        (
            "relatedPartyOutstanding",
            "关联方借款待还",
            format_money(found.related_party_outstanding),
            yuan,
        ),
    ]
    return list(rows)


async def platform_figures_pages(actor: Actor, window: Window) -> AsyncIterator[Page]:
    """One page: a row per figure (its GraphQL name, Chinese label, value, unit)."""
    yield _platform_rows(await figures.platform_figures(actor, window.as_of, window.since))


# --- risk figures -------------------------------------------------------------------------


def _risk_rows(found: risk.RiskFigures) -> Page:
    rows: Page = [
        ("asOf", found.as_of.isoformat(), "", "", "", "", ""),
    ]
    for bucket in found.buckets:
        rows.append(
            (
                "bucket",
                bucket.bucket,
                "",
                bucket.loans,
                format_money(bucket.amount),
                format_money(bucket.principal),
                "",
            )
        )
    money = format_money
    rows += [
        (
            "total",
            "overdue",
            "",
            found.overdue_loans,
            money(found.overdue_amount),
            money(found.overdue_principal),
            "",
        ),
        (
            "total",
            "outstanding",
            "",
            found.outstanding_loans,
            "",
            money(found.outstanding_principal),
            "",
        ),
        ("total", "overdueRateByCount", "", "", "", "", four(found.overdue_rate_by_count)),
        ("total", "overdueRateByAmount", "", "", "", "", four(found.overdue_rate_by_amount)),
        (
            "total",
            "badDebt",
            "",
            "",
            "",
            money(found.bad_debt_principal),
            four(found.bad_debt_rate),
        ),
        (
            "total",
            "reserveAdvanced",
            "",
            found.reserve_advance_count,
            money(found.reserve_advanced),
            "",
            "",
        ),
        ("total", "reserveRecovered", "", "", money(found.reserve_recovered), "", ""),
    ]
    for curve in found.vintages:
        for month, point in enumerate(curve.points, 1):
            rows.append(
                (
                    "vintage",
                    curve.cohort,
                    month,
                    curve.loans,
                    "",
                    money(curve.principal),
                    four(point),
                )
            )
    return rows


async def risk_figures_pages(actor: Actor, window: Window) -> AsyncIterator[Page]:
    """One page: the day, a row per aging bucket, the totals and rates, then a row per
    cohort and month on book of the vintage curves (share over 30 days overdue)."""
    yield _risk_rows(await risk.risk_figures(actor, window.as_of))


# --- returns ------------------------------------------------------------------------------


async def lender_page(as_of: date, after: int, size: int) -> list[int]:
    """The ids of the next `size` lenders after `after` who held a claim by `as_of`."""
    end = Window(as_of, as_of).end
    ids = (
        await Claim.filter(created_at__lt=end, holder_id__gt=after)
        .distinct()
        .order_by("holder_id")
        .limit(size)
        .values_list("holder_id", flat=True)
    )
    return [int(cast(int, found)) for found in ids]


def _returns_row(label: str, found: returns.LenderReturns) -> Row:
    return (
        label,
        format_money(found.invested_fen),
        format_money(found.received_fen),
        format_money(found.outstanding_principal_fen),
        four(found.realised_xirr),
        four(found.expected_xirr),
    )


async def returns_pages(actor: Actor, as_of: date) -> AsyncIterator[Page]:
    """A row per lender (by id) as `lenderReturns(lenderId)` gives it, a page of
    `PAGE_SIZE` lenders per query, then the pooled row `platform` (`platformReturns`)."""
    after = 0
    while True:
        ids = await lender_page(as_of, after, PAGE_SIZE)
        page: Page = []
        for lender_id in ids:
            try:
                found = await returns.lender_returns(actor=actor, lender_id=lender_id, as_of=as_of)
            except NotFoundError:  # a holder that is no member (none today): not a lender
                continue
            page.append(_returns_row(str(lender_id), found))
        if page:
            yield page
        if len(ids) < PAGE_SIZE:
            break
        after = ids[-1]
    yield [_returns_row("platform", await returns.platform_returns(actor=actor, as_of=as_of))]
