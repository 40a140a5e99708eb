"""Platform figures (M12.1, R7) as of the end of a business day: volume, the book
outstanding, members, active borrowers and lenders, the amount-weighted rate and term,
the concentration on the largest borrowers, related-party loans.

Three statements of SQL aggregates, whatever the size of the book. Amounts are integer
fen; rates and shares are rounded once, half-up, to four places (`window.ratio`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.analytics import snapshot_store
from services.analytics.book import DONE, OUTSTANDING, book_cte
from services.analytics.window import Dialect, Window, check_window, ratio, ratio_to, reading
from services.identity.permissions import Actor

#: Places of the amount-weighted average term, in months.
TERM_PLACES = 2
#: How many of the largest borrowers the concentration figure adds up.
TOP_BORROWERS = 10
#: The figure's name in `figure_snapshots`.
SNAPSHOT = "platform"


@dataclass(frozen=True)
class PlatformFigures:
    """See `platform_figures` for what each figure means."""

    as_of: date
    since: date
    cumulative_volume: int
    cumulative_count: int
    period_volume: int
    period_count: int
    outstanding_principal: int
    outstanding_interest: int
    outstanding_count: int
    members: int
    active_borrowers: int
    active_lenders: int
    average_rate: Decimal
    average_term_months: Decimal
    top_borrowers_share: Decimal
    largest_borrower_share: Decimal
    related_party_count: int
    related_party_outstanding: int


def _volume_sql(sql: Dialect) -> str:
    return (
        "SELECT COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS volume,"
        f" COALESCE(SUM(amount_fen * {sql.micro('annual_rate')}), 0) AS rate_weighted,"
        " COALESCE(SUM(amount_fen * term_months), 0) AS term_weighted,"
        f" COALESCE(SUM(CASE WHEN disbursed_at >= {sql.p(2)} THEN 1 ELSE 0 END), 0)"
        " AS period_n,"
        f" COALESCE(SUM(CASE WHEN disbursed_at >= {sql.p(2)} THEN amount_fen ELSE 0 END), 0)"
        " AS period_volume"
        f" FROM loans WHERE disbursed_at IS NOT NULL AND disbursed_at < {sql.p(1)}"
    )


def _book_sql(sql: Dialect) -> str:
    """One pass over the book for the totals, one grouping by borrower for both
    concentration figures."""
    return (
        book_cte(sql, end=1, done=2)
        + f""",
owed AS (
  SELECT SUM(principal_left) AS owed FROM book WHERE principal_left > 0 GROUP BY borrower_id
),
totals AS (
  SELECT
    COALESCE(SUM(CASE WHEN principal_left > 0 THEN principal_left ELSE 0 END), 0) AS principal,
    COALESCE(SUM(CASE WHEN interest_left > 0 THEN interest_left ELSE 0 END), 0) AS interest,
    COALESCE(SUM(CASE WHEN {OUTSTANDING} THEN 1 ELSE 0 END), 0) AS loans,
    COUNT(DISTINCT CASE WHEN {OUTSTANDING} THEN borrower_id END) AS borrowers
  FROM book
)
SELECT totals.principal, totals.interest, totals.loans, totals.borrowers,
  (SELECT COUNT(DISTINCT c.holder_id) FROM claims c JOIN book ON book.id = c.loan_id
     WHERE {OUTSTANDING} AND c.created_at < {sql.p(1)}) AS lenders,
  (SELECT COALESCE(SUM(owed), 0) FROM (
     SELECT owed FROM owed ORDER BY owed DESC LIMIT {TOP_BORROWERS}) biggest) AS top_owed,
  (SELECT COALESCE(MAX(owed), 0) FROM owed) AS largest_owed,
  (SELECT COUNT(*) FROM users WHERE kind = {sql.p(3)} AND created_at < {sql.p(1)})
     AS members
FROM totals"""
    )


async def platform_figures(
    actor: Actor, as_of: date | None = None, since: date | None = None
) -> PlatformFigures:
    """The platform figures at the end of business day `as_of` (default today), the
    period ones from `since` (default the first day of `as_of`'s month) to `as_of`.

    - cumulative volume / count: principal and number of loans disbursed by then;
      period volume / count: of those, disbursed on or after `since`.
    - outstanding principal: disbursed principal less principal repaid by repayments
      DONE by then; outstanding interest: the installments' scheduled interest less
      interest repaid by then (so the scheduled interest of what is still unpaid);
      outstanding count: loans with either left.
    - members: member logins created by then (staff not counted).
    - active borrowers / lenders: distinct borrowers of outstanding loans, distinct
      holders of claims (taken by then) on outstanding loans.
    - average rate / term: of loans disbursed by then, weighted by principal; the rate
      to four places, the term in months to two, half-up.
    - top-10 / largest borrower share: the outstanding principal of the ten largest
      borrowers (by outstanding principal) / of the largest, over all of it.
    - related-party loans: the platform has no notion of a related party (no field marks
      one; staff cannot borrow), so these are 0.

    A closed day (before today) is read from its snapshot when the job took one
    (`services.analytics.snapshots`), the loans disbursed counted again for the period.
    Raises InvalidInputError for a window `window.check_window` refuses.
    """
    window = await check_window(as_of, since)
    if window.closed:
        taken = await snapshot_store.stored(PlatformFigures, SNAPSHOT, window.as_of)
        if taken is not None:  # the book from the day's snapshot, the volumes now
            return dataclasses.replace(taken, since=window.since, **await _volumes(window))
    return await compute(window)


async def _volumes(window: Window) -> dict[str, Any]:
    """The figures of the loans disbursed (one scan of `loans`): all that depends on
    `since`, so a snapshot of the day serves any period."""
    async with reading() as (connection, sql):
        volumes = await connection.execute_query_dict(
            _volume_sql(sql), [window.end, window.since_start]
        )
    volume = volumes[0]
    cumulative = int(volume["volume"])
    return {
        "cumulative_volume": cumulative,
        "cumulative_count": int(volume["n"]),
        "period_volume": int(volume["period_volume"]),
        "period_count": int(volume["period_n"]),
        "average_rate": ratio(int(volume["rate_weighted"]), cumulative * 1_000_000),
        "average_term_months": ratio_to(int(volume["term_weighted"]), cumulative, TERM_PLACES),
    }


async def compute(window: Window) -> PlatformFigures:
    """The figures computed from the book (what the snapshot job stores for a day)."""
    volumes = await _volumes(window)
    async with reading() as (connection, sql):
        books = await connection.execute_query_dict(_book_sql(sql), [window.end, DONE, "member"])
    book = books[0]
    outstanding = int(book["principal"])
    return PlatformFigures(
        as_of=window.as_of,
        since=window.since,
        **volumes,
        outstanding_principal=outstanding,
        outstanding_interest=int(book["interest"]),
        outstanding_count=int(book["loans"]),
        members=int(book["members"]),
        active_borrowers=int(book["borrowers"]),
        active_lenders=int(book["lenders"]),
        top_borrowers_share=ratio(int(book["top_owed"]), outstanding),
        largest_borrower_share=ratio(int(book["largest_owed"]), outstanding),
        related_party_count=0,
        related_party_outstanding=0,
    )
