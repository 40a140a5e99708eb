"""Repayments (M1.6, M9.1): the borrower's schedule and repayments, the lender's
receivables, repayment events."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money
from schema.types.loans import LoanStatus


@strawberry.enum(description="Where an installment is.")
class InstallmentStatus(Enum):
    PENDING = "PENDING"
    OVERDUE = "OVERDUE"
    PAID = "PAID"


@strawberry.type(description="One installment of your loan: what it asks and what was paid.")
class LoanInstallment:
    number: int = strawberry.field(description="1-based.")
    due_date: date = strawberry.field(description="Due on.")
    principal: Money = strawberry.field(description="Principal.")
    interest: Money = strawberry.field(
        description="Interest (for an early repayment: the interest actually charged)."
    )
    fee: Money = strawberry.field(description="Service fee.")
    penalty: Money = strawberry.field(description="Penalty interest accrued while overdue.")
    total_due: Money = strawberry.field(description="Principal + interest + fee + penalty.")
    paid: Money = strawberry.field(description="Paid of it so far.")
    status: InstallmentStatus = strawberry.field(description="Pending, overdue or paid.")
    paid_on: date | None = strawberry.field(description="Paid on (business day).")
    paid_late: bool = strawberry.field(description="Paid after its due date.")


@strawberry.type(description="Your loan's installments.")
class LoanSchedule:
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    status: LoanStatus = strawberry.field(description="The loan's status.")
    installments: list[LoanInstallment] = strawberry.field(description="In order.")
    outstanding_principal: Money = strawberry.field(description="Principal still owed.")
    next_due_date: date | None = strawberry.field(
        description="The earliest unpaid installment's due date; null once repaid."
    )


@strawberry.type(description="One claim you hold: what it brought and what it still expects.")
class Receivable:
    claim_id: strawberry.ID = strawberry.field(description="The claim.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    loan_status: LoanStatus = strawberry.field(description="The loan's status.")
    principal: Money = strawberry.field(description="Your principal share of the loan.")
    received_principal: Money = strawberry.field(
        description="Principal received, what the risk reserve advanced included."
    )
    received_interest: Money = strawberry.field(
        description="Interest received, what the risk reserve advanced included."
    )
    received_penalty: Money = strawberry.field(description="Penalty interest received.")
    expected_principal: Money = strawberry.field(description="Principal still to come.")
    expected_interest: Money = strawberry.field(
        description="Interest still to come (your share of the schedule's)."
    )
    next_date: date | None = strawberry.field(
        description="The next installment's due date; null once repaid."
    )


@strawberry.enum(description="How much to repay.")
class RepayMode(Enum):
    NEXT = "NEXT"
    COUNT = "COUNT"
    EARLY_FULL = "EARLY_FULL"


@strawberry.enum(description="How a repayment was made.")
class RepaymentKind(Enum):
    INSTALLMENTS = "INSTALLMENTS"
    EARLY_FULL = "EARLY_FULL"
    AUTO_DEBIT = "AUTO_DEBIT"


@strawberry.enum(description="Where a repayment is.")
class RepaymentStatus(Enum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    DONE = "DONE"
    REFUSED = "REFUSED"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A repayment of your loan.")
class Repayment:
    id: strawberry.ID = strawberry.field(description="Repayment id.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    kind: RepaymentKind = strawberry.field(description="How.")
    status: RepaymentStatus = strawberry.field(description="Where it is.")
    installments: list[int] = strawberry.field(description="The installments it pays.")
    amount: Money = strawberry.field(description="Everything it pays.")
    principal: Money = strawberry.field(description="Principal.")
    interest: Money = strawberry.field(description="Interest.")
    fee: Money = strawberry.field(description="Service fees.")
    penalty: Money = strawberry.field(description="Penalty interest.")
    early_fee: Money = strawberry.field(description="Early-repayment fee (R3-capped).")
    refusal: str | None = strawberry.field(description="Why it was refused (the error code).")
    created_at: datetime = strawberry.field(description="Asked at (business time, UTC).")
    done_at: datetime | None = strawberry.field(description="Settled or refused at.")


@strawberry.input(
    description="Repay your loan (M1.6): the next installment, the next `count`, or "
    "everything early (interest to today and an early-repayment fee). Confirm it with the "
    "SMS code (confirmOperation); the money moves then."
)
class RepayInput:
    loan_id: strawberry.ID = strawberry.field(description="Your loan, being repaid.")
    mode: RepayMode = strawberry.field(description="NEXT, COUNT or EARLY_FULL.")
    count: int | None = strawberry.field(
        default=None, description="For COUNT: how many installments."
    )
    idempotency_key: str = strawberry.field(description="8-128 characters; a replay is safe.")


@strawberry.type(description="The repayment waits for its SMS code: pass it to confirmOperation.")
class RepaymentRequested:
    repayment: Repayment = strawberry.field(description="AWAITING_CONFIRMATION, with amounts.")
    operation_id: strawberry.ID = strawberry.field(description="For confirmOperation.")


RepayErrorCode = error_codes(
    "Repay",
    [
        "INVALID",
        "NOT_FOUND",
        "NOTHING_DUE",
        "LOAN_NOT_REPAYING",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why no repayment was asked.",
)
RepayError = error_type("Repay", RepayErrorCode, "Nothing was recorded.")
RepayResult = Annotated[RepaymentRequested | RepayError, strawberry.union("RepayResult")]


@strawberry.enum(description="What happened.")
class RepaymentEventKind(Enum):
    DUE = "DUE"
    PAID = "PAID"
    OVERDUE = "OVERDUE"
    RECEIVED = "RECEIVED"


@strawberry.type(
    description="A repayment event of yours: as borrower (due, paid, overdue) or "
    "as lender (received)."
)
class RepaymentEvent:
    kind: RepaymentEventKind = strawberry.field(description="What happened.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    installment: int = strawberry.field(description="The installment's number.")
    amount: Money = strawberry.field(description="Paid, due, or received.")
    principal: Money | None = strawberry.field(description="RECEIVED: principal part.")
    interest: Money | None = strawberry.field(description="RECEIVED: interest part.")
    penalty: Money | None = strawberry.field(description="RECEIVED: penalty part.")
    at: datetime = strawberry.field(description="When (business time, UTC).")
