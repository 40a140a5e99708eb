"""Industry credit sharing (R1, M2.7): what LendBridge answers a partner platform about
one ID number (services/credit/industry_answers.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.scalars import Money


@strawberry.input(description="Whom you ask about, and why.")
class IndustryCreditQueryInput:
    id_number: str = strawberry.field(
        description="The person's 18-character resident ID number (the last character may "
        "be X). Never answered back or kept: the record of the query keeps a keyed hash."
    )
    purpose: str = strawberry.field(
        description='Why you ask, 1 to 64 characters, e.g. "loan application review". '
        "Kept with the record of your query."
    )


@strawberry.type(
    description="What one person owes on LendBridge as borrower, for another platform's "
    "cross-platform cap (R1). Figures only: no name, phone or ID number. All amounts are "
    "zero and all flags false when the number is not known here."
)
class IndustryCreditAnswer:
    platform: str = strawberry.field(description='The answering platform: "LendBridge".')
    as_of: datetime = strawberry.field(description="The figures as of (business time, UTC).")
    known: bool = strawberry.field(
        description="The ID number belongs to a member with a custody account here."
    )
    outstanding_principal: Money = strawberry.field(
        description="Principal not yet repaid on the person's loans that were paid out and "
        "are not repaid in full."
    )
    outstanding_loans: int = strawberry.field(description="How many such loans.")
    overdue: bool = strawberry.field(description="Some installment of them is overdue now.")
    overdue_amount: Money = strawberry.field(
        description="What the overdue installments still owe: principal, interest, fee and "
        "the penalty interest accrued so far."
    )
    days_overdue: int = strawberry.field(
        description="Days since the oldest overdue installment fell due (0 when none is)."
    )
