"""Risk figures (M12.2, R7) as of the end of a business day: overdue by aging bucket,
overdue rates by count and by amount, the bad-debt rate, vintage curves, and the risk
reserve's advances paid and recovered.

A loan's days overdue at day D are D - the due date of its oldest installment due
before D and not fully paid by the end of D (`paid_on`, the business day it was paid
off; never the current status, which moves on). Its overdue amount is the principal and
interest of the installments due before D less what repayments DONE by then paid of
them (repayments pay the oldest installment first); penalty and fees are not counted.
Buckets as in `services.repayments.overdue_policy`: M1 1-30 days, M2 31-60, M3+ over 60,
and over 90 days (a part of M3+).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.analytics import snapshot_store
from services.analytics.book import DONE, OUTSTANDING, book_cte
from services.analytics.window import Dialect, Window, check_window, ratio, reading
from services.identity.permissions import Actor

#: Days overdue past which a loan counts as bad debt, and as "over 30" in a vintage.
BAD_DEBT_DAYS = 90
VINTAGE_DAYS = 30
#: The figure's name in `figure_snapshots`.
SNAPSHOT = "risk"

# (bucket, lowest days, highest days or None)
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("M1", 1, 30),
    ("M2", 31, 60),
    ("M3_PLUS", 61, None),
    ("OVER_90", 91, None),
)


@dataclass(frozen=True)
class BucketFigures:
    bucket: str
    loans: int
    amount: int  # overdue principal + interest
    principal: int


@dataclass(frozen=True)
class VintageCurve:
    """A monthly cohort of disbursed loans: `points[k - 1]` is the share of the
    cohort's principal on loans that had been more than 30 days overdue by the end of
    month k on book (k = 1 the month after the cohort's month), up to `as_of`."""

    cohort: str  # "YYYY-MM"
    loans: int
    principal: int
    points: list[Decimal]


@dataclass(frozen=True)
class RiskFigures:
    as_of: date
    buckets: list[BucketFigures]
    overdue_loans: int
    overdue_amount: int
    overdue_principal: int
    outstanding_loans: int
    outstanding_principal: int
    overdue_rate_by_count: Decimal
    overdue_rate_by_amount: Decimal
    bad_debt_principal: int
    bad_debt_rate: Decimal
    vintages: list[VintageCurve]
    reserve_advance_count: int
    reserve_advanced: int
    reserve_recovered: int


def _clamp(expression: str) -> str:
    return f"(CASE WHEN {expression} > 0 THEN {expression} ELSE 0 END)"


def _bucket_columns() -> str:
    columns = []
    for bucket, low, high in BUCKETS:
        # Aliases in lower case: PostgreSQL folds unquoted names.
        name = bucket.lower()
        condition = f"days >= {low}" + (f" AND days <= {high}" if high else "")
        columns += [
            f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS {name}_n",
            f"COALESCE(SUM(CASE WHEN {condition} THEN principal + interest ELSE 0 END), 0)"
            f" AS {name}_amount",
            f"COALESCE(SUM(CASE WHEN {condition} THEN principal ELSE 0 END), 0)"
            f" AS {name}_principal",
        ]
    return ",\n  ".join(columns)


def _overdue_sql(sql: Dialect) -> str:
    """Parameters: 1 the window's end (instant), 2 DONE, 3 as_of (date)."""
    day = sql.date_p(3)
    return (
        book_cte(sql, end=1, done=2, day=3)
        + f""",
overdue AS (
  SELECT book.principal_left,
    {sql.days_between(day, "book.oldest_unpaid")} AS days,
    {_clamp("book.principal_due - book.principal_paid")} AS principal,
    {_clamp("book.interest_due - book.interest_paid")} AS interest
  FROM book
  WHERE book.oldest_unpaid IS NOT NULL AND {OUTSTANDING}
)
SELECT
  {_bucket_columns()},
  COUNT(*) AS overdue_n,
  COALESCE(SUM(principal + interest), 0) AS overdue_amount,
  COALESCE(SUM(principal), 0) AS overdue_principal,
  COALESCE(SUM(CASE WHEN days > {BAD_DEBT_DAYS} THEN principal_left ELSE 0 END), 0)
    AS bad_principal,
  (SELECT COUNT(*) FROM book WHERE {OUTSTANDING}) AS outstanding_n,
  (SELECT COALESCE(SUM({_clamp("principal_left")}), 0) FROM book) AS outstanding_principal
FROM overdue"""
    )


def _vintage_sql(sql: Dialect) -> str:
    """Parameters: 1 the window's end (instant), 2 as_of (date). One row per cohort and
    month on book at which some of its loans first went over 30 days overdue, with the
    running total of their principal (a cohort with none: one row, mob NULL)."""
    day = sql.date_p(2)
    late_day = sql.add_days("due_date", VINTAGE_DAYS + 1)
    cohort = sql.month_index("l.disbursed_at", timestamp=True)
    return f"""WITH firsts AS (
  SELECT l.amount_fen, {cohort} AS cohort, f.first_late
  FROM loans l
  LEFT JOIN (
    SELECT loan_id, MIN({late_day}) AS first_late FROM loan_installments
    WHERE (paid_on IS NULL OR paid_on > {late_day}) AND {late_day} <= {day}
    GROUP BY loan_id
  ) f ON f.loan_id = l.id
  WHERE l.disbursed_at IS NOT NULL AND l.disbursed_at < {sql.p(1)}
),
cohorts AS (
  SELECT cohort, COUNT(*) AS loans, SUM(amount_fen) AS principal FROM firsts GROUP BY cohort
),
events AS (
  SELECT cohort, {sql.month_index("first_late", timestamp=False)} - cohort AS mob,
    SUM(amount_fen) AS amount
  FROM firsts WHERE first_late IS NOT NULL GROUP BY cohort, mob
)
SELECT c.cohort, c.loans, c.principal, e.mob,
  SUM(e.amount) OVER (PARTITION BY c.cohort ORDER BY e.mob) AS cumulative
FROM cohorts c LEFT JOIN events e ON e.cohort = c.cohort
ORDER BY c.cohort, e.mob"""


_RESERVE_SQL = (
    "SELECT (SELECT COUNT(*) FROM reserve_advances WHERE created_at < {end}"
    "  AND recoverer = 'p:risk_reserve') AS n,"
    " (SELECT COALESCE(SUM(principal_fen + interest_fen), 0) FROM reserve_advances"
    "  WHERE created_at < {end} AND recoverer = 'p:risk_reserve') AS advanced,"
    " (SELECT COALESCE(SUM(principal_fen + interest_fen), 0) FROM repayment_receipts"
    "  WHERE to_reserve AND created_at < {end} AND recoverer = 'p:risk_reserve') AS recovered"
)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month


def _cohort_label(index: int) -> str:
    year, month = divmod(index - 1, 12)
    return f"{year:04d}-{month + 1:02d}"


def _curves(rows: list[dict[str, Any]], as_of: date) -> list[VintageCurve]:
    """Each cohort's points for months on book 1 .. the months from it to `as_of`: the
    running total at the last month on book at or before each, over its principal."""
    by_cohort: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    for row in rows:
        cohort = int(row["cohort"])
        loans, principal, steps = by_cohort.setdefault(
            cohort, (int(row["loans"]), int(row["principal"]), [])
        )
        if row["mob"] is not None:
            steps.append((int(row["mob"]), int(row["cumulative"])))
    curves = []
    for cohort, (loans, principal, steps) in sorted(by_cohort.items()):
        points = []
        for month in range(1, _month_index(as_of) - cohort + 1):
            reached = [total for mob, total in steps if mob <= month]
            points.append(ratio(reached[-1] if reached else 0, principal))
        curves.append(VintageCurve(_cohort_label(cohort), loans, principal, points))
    return curves


async def risk_figures(actor: Actor, as_of: date | None = None) -> RiskFigures:
    """The risk figures at the end of business day `as_of` (default today).

    - buckets: overdue loans by days overdue (module docstring), their count, overdue
      amount (principal + interest) and overdue principal.
    - overdue rate by count: overdue loans / outstanding loans; by amount: overdue
      principal / outstanding principal (four places, half-up).
    - bad debt: there is no write-off or default status; a loan more than 90 days
      overdue (the overdue code's M3_PLUS) is bad debt, and the rate is the outstanding
      principal of those loans / all outstanding principal.
    - vintages: `VintageCurve`; a loan goes "over 30" on the day its first installment
      not paid within 30 days of its due date reaches 31 days overdue.
    - reserve: advances the risk reserve paid (count, principal + interest) and what it
      recovered of them from borrowers (principal + interest), by then.

    A closed day (before today) is read from its snapshot when the job took one
    (`services.analytics.snapshots`). Raises InvalidInputError for a day
    `window.check_window` refuses.
    """
    window = await check_window(as_of)
    if window.closed:
        taken = await snapshot_store.stored(RiskFigures, SNAPSHOT, window.as_of)
        if taken is not None:
            return taken
    return await compute(window)


async def compute(window: Window) -> RiskFigures:
    async with reading() as (connection, sql):
        rows = await connection.execute_query_dict(
            _overdue_sql(sql), [window.end, DONE, window.as_of]
        )
        vintage_rows = await connection.execute_query_dict(
            _vintage_sql(sql), [window.end, window.as_of]
        )
        reserves = await connection.execute_query_dict(
            _RESERVE_SQL.format(end=sql.p(1)), [window.end]
        )
    row, reserve = rows[0], reserves[0]
    outstanding_principal = int(row["outstanding_principal"])
    outstanding_loans = int(row["outstanding_n"])
    bad = int(row["bad_principal"])
    return RiskFigures(
        as_of=window.as_of,
        buckets=[
            BucketFigures(
                bucket=name,
                loans=int(row[f"{name.lower()}_n"]),
                amount=int(row[f"{name.lower()}_amount"]),
                principal=int(row[f"{name.lower()}_principal"]),
            )
            for name, _low, _high in BUCKETS
        ],
        overdue_loans=int(row["overdue_n"]),
        overdue_amount=int(row["overdue_amount"]),
        overdue_principal=int(row["overdue_principal"]),
        outstanding_loans=outstanding_loans,
        outstanding_principal=outstanding_principal,
        overdue_rate_by_count=ratio(int(row["overdue_n"]), outstanding_loans),
        overdue_rate_by_amount=ratio(int(row["overdue_principal"]), outstanding_principal),
        bad_debt_principal=bad,
        bad_debt_rate=ratio(bad, outstanding_principal),
        vintages=_curves(list(vintage_rows), window.as_of),
        reserve_advance_count=int(reserve["n"]),
        reserve_advanced=int(reserve["advanced"]),
        reserve_recovered=int(reserve["recovered"]),
    )
