"""What a loan costs the borrower: its schedule, the fees with each installment, and the
all-in annual cost R3 caps. Pure functions, no I/O.

R3 is checked the way the regulator computes it: the IRR-based APR, the monthly IRR of
every payment the borrower makes (installments and fees) against the amount received,
times 12, not compounded (`annual_cost_rate(..., nominal=True)`). The borrower receives
the whole amount: nothing is deducted up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.loans.cost import COST_CAP, annual_cost_rate
from services.loans.schedule import (
    Installment,
    LoanTerms,
    RepaymentMethod,
    build_schedule,
    round_half_up,
    total_interest,
)


@dataclass(frozen=True)
class PricedInstallment:
    installment: Installment
    fee_fen: int

    @property
    def total_due_fen(self) -> int:
        return self.installment.total_fen + self.fee_fen


@dataclass(frozen=True)
class Priced:
    terms: LoanTerms
    installments: list[PricedInstallment]
    total_interest_fen: int
    total_fees_fen: int
    total_paid_fen: int  # principal + interest + fees
    all_in_cost: Decimal  # monthly IRR x 12, 6 places

    @property
    def exceeds_cap(self) -> bool:
        return self.all_in_cost > COST_CAP


def monthly_fee_fen(amount_fen: int, monthly_fee_rate: Decimal, months: int) -> int:
    """The service fee for `months` months on the amount, half-up to the fen."""
    rate = Fraction(monthly_fee_rate)
    return round_half_up(amount_fen * rate.numerator * months, rate.denominator)


def price(terms: LoanTerms, monthly_fee_rate: Decimal, start: date) -> Priced:
    """The schedule from `start` with each installment's fee (a lump sum pays every
    month's fee with its one installment) and the all-in annual cost."""
    schedule = build_schedule(terms, start)
    months_each = terms.term_months if terms.method is RepaymentMethod.LUMP_SUM else 1
    priced = [
        PricedInstallment(
            installment=row,
            fee_fen=monthly_fee_fen(terms.amount_fen, monthly_fee_rate, months_each),
        )
        for row in schedule
    ]
    flows = [(row.installment.due_date, row.total_due_fen) for row in priced]
    fees = sum(row.fee_fen for row in priced)
    return Priced(
        terms=terms,
        installments=priced,
        total_interest_fen=total_interest(schedule),
        total_fees_fen=fees,
        total_paid_fen=sum(row.total_due_fen for row in priced),
        all_in_cost=annual_cost_rate(terms.amount_fen, flows, start=start, nominal=True),
    )
