"""Platform and risk figures (M12.1, M12.2, R7) as of a business day."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry

from schema.scalars import Money, Rate


@strawberry.type(description="The platform's figures at the end of a business day (M12.1, R7).")
class PlatformFigures:
    as_of: date = strawberry.field(description="The business day: figures at its end.")
    since: date = strawberry.field(description="First day of the period figures (inclusive).")
    cumulative_volume: Money = strawberry.field(
        description="Principal of every loan disbursed by asOf."
    )
    cumulative_loan_count: int = strawberry.field(description="Loans disbursed by asOf.")
    period_volume: Money = strawberry.field(
        description="Principal of the loans disbursed from since to asOf."
    )
    period_loan_count: int = strawberry.field(description="Loans disbursed from since to asOf.")
    outstanding_principal: Money = strawberry.field(
        description="Disbursed principal not yet repaid at the end of asOf."
    )
    outstanding_interest: Money = strawberry.field(
        description="Scheduled interest of the loans' installments not yet paid at the end "
        "of asOf (penalty and fees not included)."
    )
    outstanding_loan_count: int = strawberry.field(
        description="Loans with principal or interest left at the end of asOf."
    )
    members_registered: int = strawberry.field(description="Member logins created by asOf.")
    active_borrowers: int = strawberry.field(description="Distinct borrowers of outstanding loans.")
    active_lenders: int = strawberry.field(
        description="Distinct holders of claims on outstanding loans."
    )
    average_annual_rate: Rate = strawberry.field(
        description="Annual rate of the loans disbursed by asOf, weighted by principal "
        "(four places, half-up)."
    )
    average_term_months: str = strawberry.field(
        description="Term in months of the loans disbursed by asOf, weighted by principal, "
        'as a decimal string with two places ("4.69").'
    )
    top10_borrowers_share: Rate = strawberry.field(
        description="Outstanding principal of the ten borrowers who owe most, over all "
        "outstanding principal (four places, half-up)."
    )
    largest_borrower_share: Rate = strawberry.field(
        description="Outstanding principal of the borrower who owes most, over all "
        "outstanding principal (four places, half-up)."
    )
    related_party_loan_count: int = strawberry.field(
        description="Outstanding loans to related parties: always 0, the platform records "
        "no related party (staff cannot borrow)."
    )
    related_party_outstanding: Money = strawberry.field(
        description="Outstanding principal of related-party loans: always 0.00 (see above)."
    )


@strawberry.enum(description="Aging bucket of an overdue loan, by its oldest unpaid installment.")
class OverdueBucket(Enum):
    M1 = "M1"
    M2 = "M2"
    M3_PLUS = "M3_PLUS"
    OVER_90 = "OVER_90"


@strawberry.type(description="Overdue loans of one aging bucket.")
class OverdueBucketFigures:
    bucket: OverdueBucket = strawberry.field(
        description="M1 1-30 days, M2 31-60, M3_PLUS over 60, OVER_90 over 90 (part of M3_PLUS)."
    )
    loan_count: int = strawberry.field(description="Overdue loans in the bucket.")
    amount: Money = strawberry.field(
        description="Their past-due principal and interest not paid at the end of asOf."
    )
    principal: Money = strawberry.field(description="Of which principal.")


@strawberry.type(description="One monthly cohort's vintage curve.")
class VintageCurve:
    cohort: str = strawberry.field(description='Month of disbursement, "YYYY-MM".')
    loan_count: int = strawberry.field(description="Loans disbursed that month.")
    principal: Money = strawberry.field(description="Their principal.")
    points: list[Rate] = strawberry.field(
        description="points[k-1]: the share of the cohort's principal on loans that had been "
        "more than 30 days overdue by the end of month k on book (k = 1 is the month after "
        "the cohort's), up to asOf (four places, half-up)."
    )


@strawberry.type(description="The platform's risk figures at the end of a business day (M12.2).")
class RiskFigures:
    as_of: date = strawberry.field(description="The business day: figures at its end.")
    buckets: list[OverdueBucketFigures] = strawberry.field(
        description="M1, M2, M3_PLUS and OVER_90, in that order."
    )
    overdue_loan_count: int = strawberry.field(description="Loans overdue at the end of asOf.")
    overdue_amount: Money = strawberry.field(
        description="Their past-due principal and interest not paid."
    )
    overdue_principal: Money = strawberry.field(description="Of which principal.")
    outstanding_loan_count: int = strawberry.field(description="Loans outstanding.")
    outstanding_principal: Money = strawberry.field(description="Principal outstanding.")
    overdue_rate_by_count: Rate = strawberry.field(
        description="Overdue loans / outstanding loans (four places, half-up)."
    )
    overdue_rate_by_amount: Rate = strawberry.field(
        description="Overdue principal / outstanding principal (four places, half-up)."
    )
    bad_debt_principal: Money = strawberry.field(
        description="Outstanding principal of loans more than 90 days overdue (the platform "
        "has no write-off: that is its bad debt)."
    )
    bad_debt_rate: Rate = strawberry.field(
        description="Bad-debt principal / outstanding principal (four places, half-up)."
    )
    vintages: list[VintageCurve] = strawberry.field(
        description="One curve per month in which loans were disbursed, oldest first."
    )
    reserve_advance_count: int = strawberry.field(
        description="Advances the risk reserve paid to claim holders by asOf."
    )
    reserve_advanced: Money = strawberry.field(description="Principal and interest advanced.")
    reserve_recovered: Money = strawberry.field(
        description="Principal and interest of advances the reserve recovered from borrowers."
    )
