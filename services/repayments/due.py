"""What a repayment asks for and what is due (the quote read from the installments), shared
by asking (`service`), settling (`settlement`) and the auto-debit (`autodebit`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from models.loans import Loan, LoanStatus
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.loans.contracting import terms_of
from services.money.money import format_money
from services.platform import clock, parameters
from services.repayments import policy, quote

REPAYABLE = (LoanStatus.REPAYING, LoanStatus.OVERDUE)


class RepayMode(StrEnum):
    NEXT = "NEXT"  # the earliest unpaid installment
    COUNT = "COUNT"  # the next n unpaid installments
    EARLY_FULL = "EARLY_FULL"  # everything left, interest to today
    AMOUNT = "AMOUNT"  # an amount towards what has fallen due, oldest first (partial)


def _row(row: LoanInstallment) -> quote.Row:
    return quote.Row(
        number=row.number,
        due_date=row.due_date,
        principal_fen=row.principal_fen,
        interest_fen=row.interest_fen,
        fee_fen=row.fee_fen,
        paid_principal_fen=row.paid_principal_fen,
        paid_interest_fen=row.paid_interest_fen,
        paid_fee_fen=row.paid_fee_fen,
        penalty_accrued_fen=row.penalty_accrued_fen,
        penalty_paid_fen=row.penalty_paid_fen,
        paid=row.status == InstallmentStatus.PAID,
    )


def _start(loan: Loan) -> date:
    assert loan.closed_at is not None, "a disbursed loan filled on a day"
    return loan.closed_at.date()


def _towards_due(
    views: list[quote.Row], today: date, amount_fen: int, order: list[policy.Part], *, asking: bool
) -> quote.Quote:
    """Mode AMOUNT: `amount_fen` towards the installments fallen due (`quote.towards_due`).
    Raises DomainError NOTHING_DUE when none has fallen due, and when the amount is more
    than they ask AMOUNT_TOO_LARGE (`asking`) or AMOUNT_CHANGED (at confirmation: it fit
    when asked)."""
    lines = quote.fallen_due(views, today)
    if not lines:
        ahead = quote.unpaid(views)
        raise DomainError(
            "Nothing has fallen due"
            + (f": the next installment is due on {ahead[0].due_date.isoformat()}" if ahead else "")
            + ". Use NEXT, COUNT or EARLY_FULL to repay ahead.",
            code="NOTHING_DUE",
        )
    due = sum(line.total_fen for line in lines)
    if amount_fen > due:
        numbers = ", ".join(str(line.number) for line in lines)
        if asking:
            raise DomainError(
                f"{format_money(amount_fen)} is more than has fallen due: "
                f"{format_money(due)} (installment {numbers}, with penalty through today). "
                "Repay at most that, or use NEXT, COUNT or EARLY_FULL to pay more.",
                code="AMOUNT_TOO_LARGE",
                field="amount",
            )
        raise DomainError(
            f"What has fallen due is now {format_money(due)}, less than "
            f"{format_money(amount_fen)}: ask again",
            code="AMOUNT_CHANGED",
        )
    return quote.towards_due(lines, amount_fen, order)


async def _quote(
    loan: Loan,
    rows: list[LoanInstallment],
    kind: RepaymentKind,
    details: dict[str, Any],
    *,
    asking: bool = False,
) -> quote.Quote:
    views = [_row(row) for row in rows]
    if kind == RepaymentKind.AMOUNT:
        order = (await parameters.get(policy.ALLOCATION_ORDER)).order
        return _towards_due(
            views, await clock.today(), int(details["amount_fen"]), order, asking=asking
        )
    if kind == RepaymentKind.AUTO_DEBIT:
        number = int(details["installment"])
        return quote.Quote(
            lines=[quote.whole(row) for row in views if row.number == number and not row.paid]
        )
    if kind == RepaymentKind.INSTALLMENTS:
        return quote.next_installments(views, int(details.get("count", 1)))
    terms = terms_of(loan)
    if kind == RepaymentKind.COLLATERAL:
        # Everything owed, the rest accelerated with interest to today and no early
        # fee; the proceeds pay it oldest first, each installment in the allocation order.
        whole = quote.early_full(
            views,
            today=await clock.today(),
            start=_start(loan),
            amount_fen=loan.amount_fen,
            annual_rate=terms.annual_rate,
            day_count=terms.day_count,
            early_fee_share=Decimal(0),
            paid_flows=[],
        )
        owed = sum(line.total_fen for line in whole.lines)
        amount = min(int(details["amount_fen"]), owed)
        if amount <= 0:
            return quote.Quote(lines=[])
        order = (await parameters.get(policy.ALLOCATION_ORDER)).order
        return quote.towards_due(whole.lines, amount, order)
    share = (await parameters.get(policy.EARLY_FEE)).share
    return quote.early_full(
        views,
        today=await clock.today(),
        start=_start(loan),
        amount_fen=loan.amount_fen,
        annual_rate=terms.annual_rate,
        day_count=terms.day_count,
        early_fee_share=share,
        paid_flows=await _paid_flows(loan.id),
    )


async def _paid_flows(loan_id: int) -> list[tuple[date, int]]:
    """What the borrower paid on the loan so far, for the R3 cap of the early fee: per
    repayment made, its business day and its principal, interest and fee (penalty
    excluded). Per repayment, not per installment paid: an installment paid in parts
    (mode AMOUNT) was paid on several days, and one still partly paid has paid some."""
    made = await Repayment.filter(loan_id=loan_id, status=RepaymentStatus.DONE).values_list(
        "done_at", "principal_fen", "interest_fen", "fee_fen"
    )
    return [
        (done_at.date(), principal + interest + fee)
        for done_at, principal, interest, fee in cast(list[tuple[datetime, int, int, int]], made)
        if principal + interest + fee
    ]


def _amounts(found: quote.Quote) -> dict[str, Any]:
    return {
        "installments": [line.number for line in found.lines],
        "amount_fen": found.total_fen,
        "principal_fen": sum(line.principal_fen for line in found.lines),
        "interest_fen": sum(line.interest_fen for line in found.lines),
        "fee_fen": sum(line.fee_fen for line in found.lines),
        "penalty_fen": sum(line.penalty_fen for line in found.lines),
        "early_fee_fen": found.early_fee_fen,
    }


def _kind_and_details(
    mode: RepayMode, count: int | None, amount_fen: int | None
) -> tuple[RepaymentKind, dict[str, Any]]:
    if mode == RepayMode.AMOUNT:
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise InvalidInputError(
                "Give the amount to repay, more than 0.00, in whole fen", field="amount"
            )
        return RepaymentKind.AMOUNT, {"mode": str(mode), "amount_fen": amount_fen}
    if amount_fen is not None:
        raise InvalidInputError("An amount is only for mode AMOUNT", field="amount")
    if mode == RepayMode.EARLY_FULL:
        return RepaymentKind.EARLY_FULL, {"mode": str(mode)}
    if mode == RepayMode.NEXT:
        return RepaymentKind.INSTALLMENTS, {"mode": str(mode), "count": 1}
    if count is None or not 1 <= count <= 360:
        raise InvalidInputError("Give how many installments to repay (1 or more)", field="count")
    return RepaymentKind.INSTALLMENTS, {"mode": str(mode), "count": count}


async def _repayable(loan_id: int, borrower_id: int, *, lock: bool) -> Loan:
    query = Loan.filter(id=loan_id, borrower_id=borrower_id)
    loan = await (query.select_for_update() if lock else query).first()
    if loan is None:
        raise NotFoundError("No such loan", field="loanId")
    if loan.status not in REPAYABLE:
        raise DomainError(
            f"The loan is {loan.status.lower()}, not being repaid",
            code="LOAN_NOT_REPAYING",
            field="loanId",
        )
    return loan


def _settled_numbers(found: quote.Quote) -> list[int]:
    """The installments a quote pays off (all its lines, but an amount's last may not)."""
    return [line.number for line in found.lines if line.settles]
