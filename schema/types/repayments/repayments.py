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
    paid_principal: Money = strawberry.field(description="Principal paid of it so far.")
    paid_interest: Money = strawberry.field(description="Interest paid of it so far.")
    paid_fee: Money = strawberry.field(description="Service fee paid of it so far.")
    paid_penalty: Money = strawberry.field(description="Penalty interest paid of it so far.")
    owed: Money = strawberry.field(
        description="Still owed of it: totalDue - paid (0 once paid). A partly paid "
        "installment stays PENDING or OVERDUE until this is 0."
    )
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


@strawberry.enum(
    description="How much to repay. NEXT: the earliest unpaid installment, whole. COUNT: "
    "the next `count` installments, whole. EARLY_FULL: everything left, interest to today "
    "and the early-repayment fee. AMOUNT: `amount` towards the installments fallen due "
    "(due today or before), oldest first, each one's parts in the platform's allocation "
    "order (default penalty, interest, principal, fee); the last one reached may stay "
    "partly paid; at most what has fallen due."
)
class RepayMode(Enum):
    NEXT = "NEXT"
    COUNT = "COUNT"
    EARLY_FULL = "EARLY_FULL"
    AMOUNT = "AMOUNT"


@strawberry.enum(
    description="How a repayment was made: installments (NEXT, COUNT), early in full, by "
    "signed auto-debit, or an amount towards what had fallen due (AMOUNT, maybe partial)."
)
class RepaymentKind(Enum):
    INSTALLMENTS = "INSTALLMENTS"
    EARLY_FULL = "EARLY_FULL"
    AUTO_DEBIT = "AUTO_DEBIT"
    AMOUNT = "AMOUNT"


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
    paid_off: list[int] = strawberry.field(
        description="The installments it pays off: all of `installments`, except that an "
        "AMOUNT may leave the last one partly paid."
    )
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
    description="Repay your loan (M1.6): the next installment, the next `count`, "
    "everything early (interest to today and an early-repayment fee), or an `amount` "
    "towards what has fallen due. Confirm it with the SMS code (confirmOperation); the "
    "money moves then."
)
class RepayInput:
    loan_id: strawberry.ID = strawberry.field(description="Your loan, being repaid.")
    mode: RepayMode = strawberry.field(description="NEXT, COUNT, EARLY_FULL or AMOUNT.")
    count: int | None = strawberry.field(
        default=None, description="For COUNT: how many installments."
    )
    amount: Money | None = strawberry.field(
        default=None,
        description="For AMOUNT (and only then): how much, above 0.00 and at most what has "
        "fallen due (AMOUNT_TOO_LARGE says how much that is).",
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
        "AMOUNT_TOO_LARGE",
        "LOAN_NOT_REPAYING",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why no repayment was asked.",
)
RepayError = error_type("Repay", RepayErrorCode, "Nothing was recorded.")
RepayResult = Annotated[RepaymentRequested | RepayError, strawberry.union("RepayResult")]


@strawberry.enum(
    description="What happened. As borrower: DUE, OVERDUE, PAID (an installment paid "
    "off), PARTIALLY_PAID (an installment paid in part: it stays due). As lender: "
    "RECEIVED (your share of a payment), ADVANCED (the risk reserve paid you an overdue "
    "installment)."
)
class RepaymentEventKind(Enum):
    DUE = "DUE"
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    OVERDUE = "OVERDUE"
    RECEIVED = "RECEIVED"
    ADVANCED = "ADVANCED"


@strawberry.type(
    description="A repayment event of yours: as borrower (due, paid, partially paid, "
    "overdue) or as lender (received, advanced)."
)
class RepaymentEvent:
    kind: RepaymentEventKind = strawberry.field(description="What happened.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    installment: int = strawberry.field(description="The installment's number.")
    amount: Money = strawberry.field(description="Paid, due, or received.")
    principal: Money | None = strawberry.field(
        description="RECEIVED, PARTIALLY_PAID: principal part."
    )
    interest: Money | None = strawberry.field(
        description="RECEIVED, PARTIALLY_PAID: interest part."
    )
    fee: Money | None = strawberry.field(description="PARTIALLY_PAID: service fee part.")
    penalty: Money | None = strawberry.field(description="RECEIVED, PARTIALLY_PAID: penalty part.")
    remaining: Money | None = strawberry.field(
        description="PARTIALLY_PAID: what the installment still asks."
    )
    at: datetime = strawberry.field(description="When (business time, UTC).")
