"""The installments of a disbursed loan: the loan contract's schedule, materialised in
the disbursement's transaction (one row per installment, principal, interest and fee)."""

from __future__ import annotations

from models.loans import Loan
from models.repayments import LoanInstallment
from services.loans.contracting import guarantee_fee_rate_of, loan_schedule
from services.loans.pricing import monthly_fee_fen
from services.loans.schedule import RepaymentMethod


async def materialize(loan: Loan) -> list[LoanInstallment]:
    """Write the loan's installments from the schedule its contract shows (the same
    function builds both: pricing from the day the loan filled). Joins the caller's
    transaction; a loan that has them already keeps them."""
    existing = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    if existing:
        return existing
    _start, priced = await loan_schedule(loan)
    guarantee_rate = guarantee_fee_rate_of(loan)
    months_each = loan.term_months if loan.method == RepaymentMethod.LUMP_SUM else 1
    guarantee_fee = (
        monthly_fee_fen(loan.amount_fen, guarantee_rate, months_each) if guarantee_rate else 0
    )
    rows = [
        LoanInstallment(
            loan_id=loan.id,
            number=row.installment.number,
            due_date=row.installment.due_date,
            principal_fen=row.installment.principal_fen,
            interest_fen=row.installment.interest_fen,
            fee_fen=row.fee_fen,
            guarantee_fee_fen=min(guarantee_fee, row.fee_fen),
        )
        for row in priced.installments
    ]
    await LoanInstallment.bulk_create(rows)
    return await LoanInstallment.filter(loan_id=loan.id).order_by("number")
