"""The live dashboard's figures (M12.4): what changes minute by minute (volume disbursed
today, bids in the last minute, the hot loans' funding) beside the risk figures that
change by the day (overdue by bucket, the newest vintage curves).

`compute` reads them as of business time now: one SQL statement of small aggregates
for the fast-moving part, and `risk.risk_figures` for the slow part, which the caller may pass
in instead (`services.analytics.dashboard_feed` re-reads it only every few seconds or
when the business day changes: on a large book it is the expensive part).

- volume today: principal and number of the loans disbursed on business today (from
  00:00 UTC of the business date to now, as every figure of this package).
- bids in the last minute: bids accepted (money frozen, counted in a loan's funding)
  in the 60 seconds up to now, by the business time they were accepted (`decided_at`,
  which for an automatic bid is also when it was made; a manual bid is made when it is
  asked and accepted when its SMS code is confirmed: the acceptance is what moves the
  loan's funding); a bid accepted then transferred to a claim (the loan disbursed) or
  released (the listing failed) within the minute still counts.
- hot loans: the listed loans (still open for bids) with the most bids accepted in the
  last hour, at most `HOT_LOANS`, the most bid first, then the oldest loan; each with
  its amount, funded, remaining and progress (funded / amount, four places, half-up).
- complaints (M5.3): open, waiting past their SLA, opened today, the average time to
  the first answer (`services.cases.figures`, one more statement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from models.bids import BidStatus
from models.loans import LoanStatus
from services.analytics import risk
from services.analytics.window import Dialect, dialect, ratio
from services.cases.figures import ComplaintFigures, complaint_figures
from services.identity.permissions import Actor
from services.platform import clock

#: How many hot loans the dashboard shows, and over which time their bids are counted.
HOT_LOANS = 5
HOT_WINDOW = timedelta(hours=1)
#: The window of "bids in the last minute".
BID_WINDOW = timedelta(minutes=1)
#: How many of the newest monthly cohorts' vintage curves the dashboard shows.
VINTAGE_COHORTS = 6

# A bid that was accepted, whatever became of it since: its money was frozen for the loan.
_ACCEPTED = (BidStatus.ACCEPTED, BidStatus.TRANSFERRED, BidStatus.RELEASED)


@dataclass(frozen=True)
class HotLoan:
    loan_id: int
    amount: int
    funded: int
    bids_last_hour: int

    @property
    def remaining(self) -> int:
        return self.amount - self.funded

    @property
    def progress(self) -> Decimal:
        return ratio(self.funded, self.amount)


@dataclass(frozen=True)
class DashboardFigures:
    """One reading. Equal readings are the same figures: `business_time`, the moment it
    was read, is left out of the comparison, so a push happens only when a figure moved."""

    business_time: datetime = field(compare=False)
    today: date
    volume_today: int
    loans_disbursed_today: int
    bids_last_minute: int
    bid_amount_last_minute: int
    hot_loans: tuple[HotLoan, ...]
    overdue: tuple[risk.BucketFigures, ...]
    vintages: tuple[risk.VintageCurve, ...]
    complaints: ComplaintFigures


@dataclass(frozen=True)
class SlowFigures:
    """The part of a reading taken from the risk figures, and the business day it was
    read for."""

    today: date
    overdue: tuple[risk.BucketFigures, ...]
    vintages: tuple[risk.VintageCurve, ...]


def _fast_sql(sql: Dialect) -> str:
    """Parameters: 1 start of today, 2 now, 3-5 the accepted statuses (3: ACCEPTED),
    6 a minute ago, 7 LISTED, 8 an hour ago. One statement, so one snapshot of the
    tables: a bid committed meanwhile is in every figure or in none. One row per hot
    loan, the totals repeated on each (one row with the loan columns NULL when none)."""
    day = f"disbursed_at >= {sql.p(1)} AND disbursed_at <= {sql.p(2)}"
    minute = (
        f"status IN ({sql.p(3)}, {sql.p(4)}, {sql.p(5)})"
        f" AND decided_at > {sql.p(6)} AND decided_at <= {sql.p(2)}"
    )
    # Bids of a listed loan are still ACCEPTED (they become claims at disbursement).
    return f"""WITH totals AS (
  SELECT
    (SELECT COUNT(*) FROM loans WHERE {day}) AS loans_n,
    (SELECT COALESCE(SUM(amount_fen), 0) FROM loans WHERE {day}) AS volume,
    (SELECT COUNT(*) FROM bids WHERE {minute}) AS bids_n,
    (SELECT COALESCE(SUM(amount_fen), 0) FROM bids WHERE {minute}) AS bids_amount
),
hot AS (
  SELECT l.id, l.amount_fen, l.funded_fen, COUNT(b.id) AS bids
  FROM bids b JOIN loans l ON l.id = b.loan_id
  WHERE l.status = {sql.p(7)} AND b.status = {sql.p(3)}
    AND b.decided_at > {sql.p(8)} AND b.decided_at <= {sql.p(2)}
  GROUP BY l.id, l.amount_fen, l.funded_fen
  ORDER BY bids DESC, l.id LIMIT {HOT_LOANS}
)
SELECT totals.loans_n, totals.volume, totals.bids_n, totals.bids_amount,
  hot.id, hot.amount_fen, hot.funded_fen, hot.bids
FROM totals LEFT JOIN hot ON 1 = 1
ORDER BY hot.bids DESC, hot.id"""


async def slow_figures(actor: Actor, today: date) -> SlowFigures:
    """Overdue by bucket and the newest `VINTAGE_COHORTS` vintage curves (oldest of them
    first) at the end of business day `today` (`risk.risk_figures`)."""
    found = await risk.risk_figures(actor, today)
    return SlowFigures(
        today=found.as_of,
        overdue=tuple(found.buckets),
        vintages=tuple(found.vintages[-VINTAGE_COHORTS:]),
    )


async def compute(actor: Actor, slow: SlowFigures | None = None) -> DashboardFigures:
    """The dashboard's figures at business time now. `slow` is a reading of the risk
    part to reuse; it is read again when missing or of another business day."""
    now = await clock.now()
    today = now.date()
    if slow is None or slow.today != today:
        slow = await slow_figures(actor, today)
    connection, sql = dialect()
    start = datetime.combine(today, time(), tzinfo=UTC)
    rows = await connection.execute_query_dict(
        _fast_sql(sql),
        [
            start,
            now,
            *(str(status) for status in _ACCEPTED),
            now - BID_WINDOW,
            str(LoanStatus.LISTED),
            now - HOT_WINDOW,
        ],
    )
    totals = rows[0]
    return DashboardFigures(
        business_time=now,
        today=today,
        volume_today=int(totals["volume"]),
        loans_disbursed_today=int(totals["loans_n"]),
        bids_last_minute=int(totals["bids_n"]),
        bid_amount_last_minute=int(totals["bids_amount"]),
        hot_loans=tuple(
            HotLoan(
                loan_id=int(row["id"]),
                amount=int(row["amount_fen"]),
                funded=int(row["funded_fen"]),
                bids_last_hour=int(row["bids"]),
            )
            for row in rows
            if row["id"] is not None
        ),
        overdue=slow.overdue,
        vintages=slow.vintages,
        complaints=await complaint_figures(now),
    )
