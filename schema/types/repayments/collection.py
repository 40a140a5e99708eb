"""The overdue list, collection records and overdue events (M9.3, M9.4, E)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money
from schema.types.credit.credit import MemberRef
from schema.types.loans import LoanStatus


@strawberry.enum(
    description="Aging bucket by days past due: M1 1-30, M2 31-60, M3 61-90, M3_PLUS 91 and "
    "more (M12's M3+ is M3 and M3_PLUS)."
)
class AgingBucket(Enum):
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M3_PLUS = "M3_PLUS"


@strawberry.enum(description="What a collector did.")
class CollectionKind(Enum):
    CALL = "CALL"
    VISIT = "VISIT"
    MESSAGE = "MESSAGE"
    PROMISE = "PROMISE"


@strawberry.enum(description="What happened to an overdue installment.")
class OverdueEventKind(Enum):
    RAISED = "RAISED"
    PAID = "PAID"
    BUCKET_CHANGED = "BUCKET_CHANGED"


@strawberry.input(description="Narrow the overdue list; every given condition must hold.")
class OverdueLoanFilter:
    bucket: AgingBucket | None = strawberry.field(default=None, description="Aging bucket.")
    min_amount: Money | None = strawberry.field(
        default=None, description="Overdue amount at least this."
    )
    max_amount: Money | None = strawberry.field(
        default=None, description="Overdue amount at most this."
    )
    collector_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the assigned collector."
    )


@strawberry.type(description="A loan with an overdue installment.")
class OverdueLoan:
    loan_id: strawberry.ID = strawberry.field(description="Loan id.")
    status: LoanStatus = strawberry.field(description="The loan's status.")
    amount: Money = strawberry.field(description="The loan's amount.")
    borrower: MemberRef = strawberry.field(description="The borrower (masked).")
    days_overdue: int = strawberry.field(
        description="Days past due of the oldest overdue installment."
    )
    bucket: AgingBucket = strawberry.field(description="The bucket of those days.")
    overdue_amount: Money = strawberry.field(
        description="Unpaid principal, interest, fee and penalty of the overdue installments."
    )
    penalty: Money = strawberry.field(description="The penalty part of it, accrued so far.")
    overdue_installments: int = strawberry.field(description="How many are overdue.")
    collector: MemberRef | None = strawberry.field(description="The assigned collector.")


@strawberry.type(description="A collector's contact with the borrower (M9.4).")
class CollectionRecord:
    id: strawberry.ID = strawberry.field(description="Record id.")
    loan_id: strawberry.ID = strawberry.field(description="Loan id.")
    collector_id: strawberry.ID = strawberry.field(description="Global ID of the collector.")
    kind: CollectionKind = strawberry.field(description="Call, visit, message or promise.")
    note: str = strawberry.field(description="What happened.")
    promised_amount: Money | None = strawberry.field(description="A promise's amount.")
    promised_date: date | None = strawberry.field(description="A promise's date.")
    created_at: datetime = strawberry.field(description="When (business clock).")


@strawberry.input(description="Record a contact with the borrower of an overdue loan.")
class AddCollectionRecordInput:
    loan_id: strawberry.ID = strawberry.field(description="A loan with an overdue installment.")
    kind: CollectionKind = strawberry.field(description="Call, visit, message or promise.")
    note: str = strawberry.field(
        default="", description="1-1000 characters; may be empty for a promise."
    )
    promised_amount: Money | None = strawberry.field(
        default=None, description="A promise's amount (required for PROMISE, else absent)."
    )
    promised_date: date | None = strawberry.field(
        default=None, description="A promise's date, after today (required for PROMISE)."
    )


@strawberry.type(description="The record is kept.")
class CollectionRecordAdded:
    record: CollectionRecord = strawberry.field(description="The record.")


AddCollectionRecordErrorCode = error_codes(
    "AddCollectionRecord",
    ["NOT_FOUND", "NOT_OVERDUE", "INVALID"],
    "Why nothing was recorded.",
)
AddCollectionRecordError = error_type(
    "AddCollectionRecord", AddCollectionRecordErrorCode, "Nothing was recorded."
)
AddCollectionRecordResult = Annotated[
    CollectionRecordAdded | AddCollectionRecordError,
    strawberry.union("AddCollectionRecordResult"),
]


@strawberry.input(description="Give an overdue loan to a collector.")
class AssignCollectorInput:
    loan_id: strawberry.ID = strawberry.field(description="A loan with an overdue installment.")
    collector_id: strawberry.ID = strawberry.field(
        description="Global ID of an active staff member holding collection:write."
    )


@strawberry.type(description="The loan's collector is set.")
class CollectorAssigned:
    loan_id: strawberry.ID = strawberry.field(description="Loan id.")
    collector: MemberRef = strawberry.field(description="The collector.")


AssignCollectorErrorCode = error_codes(
    "AssignCollector",
    ["NOT_FOUND", "NOT_OVERDUE", "NOT_A_COLLECTOR"],
    "Why nothing was assigned.",
)
AssignCollectorError = error_type("AssignCollector", AssignCollectorErrorCode, "Nothing changed.")
AssignCollectorResult = Annotated[
    CollectorAssigned | AssignCollectorError, strawberry.union("AssignCollectorResult")
]


@strawberry.type(description="An overdue installment raised, paid, or moved to a new bucket.")
class OverdueEvent:
    kind: OverdueEventKind = strawberry.field(description="What happened.")
    loan_id: strawberry.ID = strawberry.field(description="Loan id.")
    installment: int = strawberry.field(description="Installment number.")
    days: int = strawberry.field(description="Days past due.")
    bucket: AgingBucket | None = strawberry.field(description="Its bucket now.")
    amount: Money = strawberry.field(
        description="Owed on it (RAISED, BUCKET_CHANGED) or paid (PAID)."
    )
    at: datetime = strawberry.field(description="When (business clock).")
