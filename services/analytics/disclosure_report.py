"""What the monthly disclosure (R7) says: every item as of the end of a month, and the
fee schedule in force then.

The figures come from `figures.platform_figures` and `risk.risk_figures` (SQL
aggregates, their definitions there); this module adds the two counts they lack (the
lenders and borrowers there have ever been) and the fees. Amounts are integer fen, rates
decimal strings with four places (half-up, `window.ratio`); a fee rate keeps the places
its parameter has, four at least. The report is plain JSON, hashed in its canonical form
(`canonical`): keys sorted, no spaces, UTF-8.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from models.system import ParameterChange
from services.analytics.figures import platform_figures
from services.analytics.risk import risk_figures
from services.analytics.window import Window, check_window, dialect
from services.errors import InvalidInputError
from services.identity.permissions import Actor, Permission
from services.loans.policy import FEE_TERMS
from services.money.withdrawals import withdraw_fee
from services.payments.provider import WithdrawSpeed
from services.platform import parameters
from services.platform.parameters import Param
from services.repayments.overdue_policy import PENALTY_RATE
from services.repayments.policy import EARLY_FEE
from services.transfers.policy import RULES as TRANSFER_RULES

T = TypeVar("T")

#: Bumped when an item is added, removed or redefined: readers of old reports know.
#: 2: the fee schedule has the claim transfer fee (TRANSFER_FEE, issue 20).
REPORT_VERSION = 2

#: The disclosure job acts as the platform itself, holding only what the figures need.
SYSTEM_ACTOR = Actor(
    kind="system",
    label="system:publish_disclosure",
    permissions=frozenset({Permission.ANALYTICS_READ}),
)

_PEOPLE_SQL = (
    "SELECT (SELECT COUNT(DISTINCT holder_id) FROM claims WHERE created_at < {end}) AS lenders,"
    " (SELECT COUNT(DISTINCT borrower_id) FROM loans"
    "  WHERE disbursed_at IS NOT NULL AND disbursed_at < {end}) AS borrowers"
)


def month_end(month: date) -> date:
    """The last day of `month`'s month."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def label(month: date) -> str:
    """ "2026-11": how the month is named in the report, the PDF's path and its number."""
    return f"{month:%Y-%m}"


def canonical(report: dict[str, Any]) -> bytes:
    """The bytes the report's hash is taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def report_sha256(report: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(report)).hexdigest()


def _rate(value: Decimal) -> str:
    return f"{value:.4f}"


def _fee_rate(value: Decimal) -> str:
    """A fee rate as its parameter keeps it, at least four places ("0.0030", "0.00045")."""
    places = max(4, -int(value.normalize().as_tuple().exponent))
    return f"{value:.{places}f}"


async def _cumulative_people(window: Window) -> tuple[int, int]:
    """Distinct lenders who held a claim, distinct borrowers paid out a loan, by then."""
    connection, sql = dialect()
    row = (await connection.execute_query_dict(_PEOPLE_SQL.format(end=sql.p(1)), [window.end]))[0]
    return int(row["lenders"]), int(row["borrowers"])


async def value_as_of(param: Param[T], end: datetime) -> T:
    """The value `param` had in force just before `end`: the newest change made before
    it, else the value the first later change replaced, else (never changed) the value
    in force now."""
    changes = await ParameterChange.filter(name=param.name).order_by("created_at", "id")
    before = [change for change in changes if change.created_at < end]
    if not before and not changes:
        return await parameters.get(param)
    raw = before[-1].new_value if before else changes[0].old_value
    try:
        return param.parse(raw)
    except InvalidInputError:  # a value today's code no longer accepts: as `parameters.get`
        return param.default


def _fee(
    code: str,
    payer: str,
    *,
    name: tuple[str, str],
    basis: tuple[str, str],
    rate: Decimal | None = None,
    amount_fen: int | None = None,
) -> dict[str, Any]:
    return {
        "code": code,
        "payer": payer,
        "name_zh": name[0],
        "name_en": name[1],
        "basis_zh": basis[0],
        "basis_en": basis[1],
        "rate": None if rate is None else _fee_rate(rate),
        "amount_fen": amount_fen,
    }


async def fee_schedule(end: datetime) -> list[dict[str, Any]]:
    """What borrowers, lenders and every member are charged, as in force at `end`: the
    borrower's monthly service fee (`loans.fees`), early-repayment fee
    (`repayments.earlyFee`) and daily penalty interest (`repayments.penaltyDailyRate`),
    no fee to lenders for lending or on money received, the seller's claim transfer fee
    (`transfers.rules`), and the withdrawal fee per speed
    (settings `WITHDRAW_FEE_*`, which have no history: the values of the build)."""
    service = await value_as_of(FEE_TERMS, end)
    early = await value_as_of(EARLY_FEE, end)
    penalty = await value_as_of(PENALTY_RATE, end)
    transfer = await value_as_of(TRANSFER_RULES, end)
    fees = [
        _fee(
            "SERVICE_FEE",
            "BORROWER",
            name=("借款服务费", "Service fee"),
            basis=(
                "每月按借款金额乘以月费率收取，随每期还款支付；不从本金中预先扣除",  # noqa: RUF001
                "A share of the loan amount each month, paid with each installment; "
                "never deducted from the principal",
            ),
            rate=service.monthly_service_fee_rate,
        ),
        _fee(
            "EARLY_REPAYMENT_FEE",
            "BORROWER",
            name=("提前还款费", "Early-repayment fee"),
            basis=(
                "提前偿还本金乘以费率，一次收取；综合成本不超过年化36%",  # noqa: RUF001
                "A share of the principal repaid early, once; lowered so the all-in "
                "cost stays within 36 % a year",
            ),
            rate=early.share,
        ),
        _fee(
            "PENALTY_INTEREST",
            "BORROWER",
            name=("逾期罚息", "Penalty interest"),
            basis=(
                "逾期未还本息每日乘以日利率",
                "A day, on the unpaid principal and interest of an overdue installment",
            ),
            rate=penalty.daily_rate,
        ),
        _fee(
            "LENDER_FEE",
            "LENDER",
            name=("出借人费用", "Lender fees"),
            basis=(
                "出借、回款均不收取任何费用",
                "Nothing is charged for lending or on money received",
            ),
            rate=Decimal(0),
        ),
        _fee(
            "TRANSFER_FEE",
            "LENDER",
            name=("债权转让手续费", "Claim transfer fee"),
            basis=(
                "在二级市场出售债权时，按成交价格乘以费率向卖方收取",  # noqa: RUF001
                "A share of the price of a claim sold on the secondary market, paid by the seller",
            ),
            rate=transfer.fee_rate,
        ),
    ]
    for speed, name_zh, name_en in (
        (WithdrawSpeed.T1, "提现手续费（T+1）", "Withdrawal fee (T+1)"),  # noqa: RUF001
        (WithdrawSpeed.T0, "提现手续费（T+0）", "Withdrawal fee (T+0)"),  # noqa: RUF001
        (WithdrawSpeed.REALTIME, "提现手续费（实时）", "Withdrawal fee (real time)"),  # noqa: RUF001
    ):
        fees.append(
            _fee(
                f"WITHDRAWAL_{speed.value}",
                "MEMBER",
                name=(name_zh, name_en),
                basis=("每笔提现固定收取", "A fixed amount a withdrawal"),
                amount_fen=withdraw_fee(speed),
            )
        )
    return fees


async def build_report(month: date) -> dict[str, Any]:
    """Every R7 item for `month` (its first day) as of the end of its last day.

    - cumulative_amount_fen / cumulative_count: principal and number of loans disbursed;
    - outstanding_principal_fen / outstanding_count / outstanding_interest_fen: the book
      left, as `platform_figures` defines it;
    - cumulative_lenders / cumulative_borrowers: distinct lenders who ever held a claim,
      borrowers ever paid out a loan; current_lenders / current_borrowers: of loans
      outstanding;
    - top10_borrowers_share / largest_borrower_share: of the outstanding principal;
    - related_party_count / related_party_outstanding_fen: 0 (no related party exists);
    - overdue_amount_fen / overdue_count: past-due principal and interest, loans overdue;
      overdue_90_amount_fen / overdue_90_count: of those, loans over 90 days overdue;
    - compensation_amount_fen / compensation_count: risk-reserve advances paid to
      lenders (principal and interest), cumulative;
    - overdue_rate_by_count (by project): overdue loans / outstanding loans;
      overdue_rate_by_amount: overdue principal / outstanding principal;
    - fees: `fee_schedule` as in force at the month's end.

    Raises InvalidInputError when the month ends before the platform's first day or
    after today (`window.check_window`).
    """
    as_of = month_end(month)
    window = await check_window(as_of)
    figures = await platform_figures(SYSTEM_ACTOR, as_of)
    risk = await risk_figures(SYSTEM_ACTOR, as_of)
    lenders, borrowers = await _cumulative_people(window)
    over_90 = next(bucket for bucket in risk.buckets if bucket.bucket == "OVER_90")
    return {
        "version": REPORT_VERSION,
        "month": label(month),
        "as_of": as_of.isoformat(),
        "cumulative_amount_fen": figures.cumulative_volume,
        "cumulative_count": figures.cumulative_count,
        "outstanding_principal_fen": figures.outstanding_principal,
        "outstanding_count": figures.outstanding_count,
        "outstanding_interest_fen": figures.outstanding_interest,
        "cumulative_lenders": lenders,
        "current_lenders": figures.active_lenders,
        "cumulative_borrowers": borrowers,
        "current_borrowers": figures.active_borrowers,
        "top10_borrowers_share": _rate(figures.top_borrowers_share),
        "largest_borrower_share": _rate(figures.largest_borrower_share),
        "related_party_count": figures.related_party_count,
        "related_party_outstanding_fen": figures.related_party_outstanding,
        "overdue_amount_fen": risk.overdue_amount,
        "overdue_count": risk.overdue_loans,
        "overdue_90_amount_fen": over_90.amount,
        "overdue_90_count": over_90.loans,
        "compensation_amount_fen": risk.reserve_advanced,
        "compensation_count": risk.reserve_advance_count,
        "overdue_rate_by_count": _rate(risk.overdue_rate_by_count),
        "overdue_rate_by_amount": _rate(risk.overdue_rate_by_amount),
        "fees": await fee_schedule(window.end),
    }
