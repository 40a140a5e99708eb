"""The loan's hot row (issue 16): a bid touches the loan row once, with one conditional
UPDATE as the last write of its transaction.

Everything else a bid does — the checks, the bid row, the freeze of the lender's money
(which locks the lender's accounts, so one lender's bids go one at a time) — happens
before, without the loan's lock; `fund` then adds the amount only while the loan is
LISTED and the amount still fits (`funded + x <= amount`, the row lock taken by this
statement and held to COMMIT, a few hundred microseconds). When it does not fit any
more, `bidding.accept` locks the row, trims the bid to what is left and releases the
rest of the freeze.

Lock order: a bid locks its lender's accounts, then the loan; disbursing or failing a
listing locks the loan, then its lenders' accounts. The two can only meet when a loan
stops being LISTED while a bid of one of its own lenders is between its read and this
statement; PostgreSQL then aborts one of them (deadlock detected). When that is the
bid, it is told the loan is no longer open, which is what it would have learnt a moment
later, and nothing of it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections

from models.loans import LoanStatus
from services.errors import DomainError
from services.kit.db import param


@dataclass(frozen=True)
class Funded:
    """The loan's row after a bid was added."""

    funded_fen: int
    bidder_count: int
    amount_fen: int


_FUND_SQL = (
    "UPDATE loans SET funded_fen = funded_fen + {amount},"
    " bidder_count = bidder_count + {new_bidder}"
    " WHERE id = {loan} AND status = {listed} AND funded_fen + {amount} <= amount_fen"
    " RETURNING funded_fen, bidder_count, amount_fen"
)


def _deadlock(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "sqlstate", None) == "40P01" or "deadlock detected" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def fund(loan_id: int, amount: int, *, new_bidder: bool) -> Funded | None:
    """Add `amount` (and one bidder when `new_bidder`) to a LISTED loan if it fits: the
    row as it is now, or None (not listed any more, or less than `amount` left). Joins
    the caller's transaction."""
    connection = connections.get("default")
    sql = _FUND_SQL.format(
        amount=param(connection, 1),
        new_bidder=param(connection, 2),
        loan=param(connection, 3),
        listed=param(connection, 4),
    )
    try:
        rows = await connection.execute_query_dict(
            sql, [amount, 1 if new_bidder else 0, loan_id, LoanStatus.LISTED.value]
        )
    except Exception as error:
        if _deadlock(error):
            raise DomainError(
                "The loan closed while your bid was being taken", code="LOAN_NOT_OPEN"
            ) from error
        raise
    if not rows:
        return None
    row = rows[0]
    return Funded(
        funded_fen=int(row["funded_fen"]),
        bidder_count=int(row["bidder_count"]),
        amount_fen=int(row["amount_fen"]),
    )
