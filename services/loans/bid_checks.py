"""May this lender bid this amount on this loan (M1.7, R4): the checks a bid passes
before any money or the loan row is touched, by `bidding.place_bid` when it asks and by
`bidding.accept` when it takes the bid.

`lender_outstanding` is what a lender has at stake for the R4 cap, in one statement.
"""

from __future__ import annotations

from tortoise import connections

from models.bids import BidStatus
from models.loans import Loan
from services.credit import eligibility, risk_assessment, scoring
from services.errors import DomainError
from services.kit.db import param
from services.money import ledger
from services.money.money import format_money

_OUTSTANDING_SQL = (
    "SELECT"
    " (SELECT COALESCE(SUM(amount_fen), 0) FROM bids WHERE lender_id = {u} AND status = {s})"
    " + (SELECT COALESCE(SUM(principal_fen), 0) FROM claims WHERE holder_id = {u})"
    " - (SELECT COALESCE(SUM(principal_fen), 0) FROM repayment_receipts"
    "    WHERE holder_id = {u} AND NOT to_reserve)"
    " - (SELECT COALESCE(SUM(principal_fen), 0) FROM reserve_advances WHERE holder_id = {u})"
    " AS outstanding"
)


async def lender_outstanding(user_id: int) -> int:
    """What a lender has at stake (R4 cap): accepted bids not yet disbursed, plus the
    principal of claims held less the principal already repaid to them: by the borrower,
    or advanced by the risk reserve or a guarantor (the later recovery of an advance, a
    `to_reserve` receipt, is that same principal and is not counted again). One
    statement, in the caller's transaction if there is one."""
    connection = connections.get("default")
    sql = _OUTSTANDING_SQL.format(u=param(connection, 1), s=param(connection, 2))
    rows = await connection.execute_query_dict(sql, [user_id, BidStatus.ACCEPTED.value])
    return int(rows[0]["outstanding"])


async def check_lender(loan: Loan, lender_id: int, amount: int, remaining: int) -> None:
    """May this lender bid `amount` on `loan`: not their own loan, the verifications the
    catalogue requires for lending approved, the bid within range, R4, the balance."""
    if lender_id == loan.borrower_id:
        raise DomainError("You cannot bid on your own loan", code="OWN_LOAN", field="loanId")
    await eligibility.check_may_lend(lender_id)
    if amount < loan.min_bid_fen and amount != remaining:
        raise DomainError(
            f"Bid at least {format_money(loan.min_bid_fen)}"
            f" (or exactly the {format_money(remaining)} left)",
            code="BID_OUT_OF_RANGE",
            field="amount",
        )
    if amount > loan.max_bid_fen:
        raise DomainError(
            f"Bid at most {format_money(loan.max_bid_fen)}",
            code="BID_OUT_OF_RANGE",
            field="amount",
        )
    grade = (await scoring.profile_for(loan.borrower_id)).grade
    await risk_assessment.check_lender_may_bid(
        lender_id, amount, grade, await lender_outstanding(lender_id)
    )
    balance = (await ledger.member_balances(lender_id))["available"]
    if balance < amount:
        raise DomainError(
            f"Only {format_money(balance)} is available", code="INSUFFICIENT_FUNDS", field="amount"
        )
