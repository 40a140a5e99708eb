"""GraphQL types of customer service (issue 22, M5.1, M5.2): the customer list, a
member's file, account status changes."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import UserError, error_codes, error_type
from schema.scalars import Money, Rate
from schema.types.identity.members import UserNode, UserStatusEnum


@strawberry.type(description="A member as the customer list shows them (numbers masked).")
class Customer:
    user: UserNode = strawberry.field(description="The login: status, masked phone, name.")
    real_name_masked: str = strawberry.field(
        description="The real name given for the custody account, masked (张*); empty before."
    )
    id_number_masked: str = strawberry.field(description="The ID number, masked; empty before.")
    grade: str = strawberry.field(description="Credit grade (AA ... HR).")
    available: Money = strawberry.field(description="Available balance.")
    frozen: Money = strawberry.field(description="Frozen (bids, pending purchases).")
    withdrawing: Money = strawberry.field(description="On its way to the member's bank card.")
    open_loans: int = strawberry.field(description="Loans they borrow that are not over.")
    overdue_loans: int = strawberry.field(description="Of those, the loans now overdue.")


@strawberry.type(description="A member's credit as customer service sees it.")
class CustomerCredit:
    score: int
    grade: str
    limit: Money = strawberry.field(description="The credit limit in force.")
    used: Money = strawberry.field(description="Principal of their loans not yet repaid.")
    frozen: bool = strawberry.field(description="Whether their credit is frozen (M2.6).")


@strawberry.type(description="A loan the member borrows.")
class CustomerLoan:
    id: strawberry.ID
    amount: Money
    annual_rate: Rate
    term_months: int
    status: str = strawberry.field(description="The loan's status (LoanStatus values).")
    created_at: datetime


@strawberry.type(description="A claim the member holds (lent, or bought).")
class CustomerClaim:
    id: strawberry.ID
    loan_id: strawberry.ID
    principal: Money = strawberry.field(description="The principal the holding is to have.")
    bought: bool = strawberry.field(description="Bought on the secondary market, not bid.")
    created_at: datetime


@strawberry.type(description="A contract the member is a party to.")
class CustomerContract:
    id: strawberry.ID
    number: str
    kind: str = strawberry.field(description="LOAN, GUARANTEE, TRANSFER ...")
    title: str
    status: str
    created_at: datetime


@strawberry.type(description="An in-app notice sent to the member.")
class CustomerNotice:
    kind: str
    title: str
    created_at: datetime
    read: bool


@strawberry.type(description="A service case of the member's (serviceCases has it in full).")
class CustomerCase:
    id: strawberry.ID
    kind: str = strawberry.field(description="ENQUIRY, COMPLAINT, DISPUTE or DATA_REQUEST.")
    subject: str
    status: str
    level: int
    opened_at: datetime
    breached: bool = strawberry.field(description="Whether it ever passed its SLA deadline.")


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerCases:
    nodes: list[CustomerCase]
    total_count: int


@strawberry.type(description="An SMS or e-mail sent to the member (no body: it may hold a code).")
class CustomerMessage:
    channel: str = strawberry.field(description="SMS or EMAIL.")
    recipient_masked: str
    subject: str
    status: str
    created_at: datetime


@strawberry.enum(description="Where a proposed status change is.")
class AccountStatusChangeState(Enum):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"


@strawberry.type(description="One change of a member account's status, with its reasons.")
class AccountStatusChange:
    id: strawberry.ID
    user_id: strawberry.ID = strawberry.field(description="The member (a User id).")
    from_status: UserStatusEnum
    to_status: UserStatusEnum
    reason: str
    state: AccountStatusChangeState
    proposed_by_id: strawberry.ID = strawberry.field(description="The staff member (User id).")
    decided_by_id: strawberry.ID | None = strawberry.field(
        description="Who applied or rejected it (None for a lock, applied by its proposer)."
    )
    decision_reason: str
    created_at: datetime = strawberry.field(description="Business time.")
    decided_at: datetime | None


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerLoans:
    nodes: list[CustomerLoan]
    total_count: int


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerClaims:
    nodes: list[CustomerClaim]
    total_count: int


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerContracts:
    nodes: list[CustomerContract]
    total_count: int


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerNotices:
    nodes: list[CustomerNotice]
    total_count: int


@strawberry.type(description="A list of the member's, newest first, and how many in all.")
class CustomerMessages:
    nodes: list[CustomerMessage]
    total_count: int


@strawberry.type(
    description="A member's file: everything customer service looks at, each list the "
    "newest 50 with the full count."
)
class CustomerFile:
    customer: Customer
    credit: CustomerCredit | None = strawberry.field(description="None before any evaluation.")
    loans: CustomerLoans
    claims: CustomerClaims
    contracts: CustomerContracts
    notices: CustomerNotices
    cases: CustomerCases
    messages: CustomerMessages
    status_changes: list[AccountStatusChange]
    deletion_requests: list[DataDeletionRequest] = strawberry.field(
        description="The member's requests to delete their data, with the answers given."
    )


@strawberry.input(description="Which members the customer list shows.")
class CustomerFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description="A full phone number or ID number (found through their lookup hash, "
        "never in clear), a masked phone (138****5678), or part of a name; at most 64 "
        "characters.",
    )
    status: UserStatusEnum | None = None
    grade: str | None = strawberry.field(default=None, description="A credit grade (AA ... HR).")
    registered_from: str | None = strawberry.field(
        default=None, description="First day of registration (YYYY-MM-DD, UTC)."
    )
    registered_to: str | None = strawberry.field(
        default=None, description="Last day of registration (YYYY-MM-DD, UTC), included."
    )
    has_overdue: bool | None = strawberry.field(
        default=None, description="Only members with (true) or without (false) an overdue loan."
    )


# --- setAccountStatus ----------------------------------------------------------------------


@strawberry.input(description="Lock, activate or close a member account, with the reason.")
class SetAccountStatusInput:
    user_id: strawberry.ID = strawberry.field(description="The member (a User id).")
    status: UserStatusEnum = strawberry.field(
        description="LOCKED applies at once; ACTIVE (from LOCKED) and CLOSED wait for a "
        "second person (decideAccountStatusChange)."
    )
    reason: str = strawberry.field(description="Why (5 to 255 characters).")


@strawberry.type(description="The change: APPLIED (a lock) or PENDING a second person.")
class AccountStatusSet:
    change: AccountStatusChange


@strawberry.type(description="One thing that keeps an account from being closed.")
class CloseBlocker:
    kind: str = strawberry.field(description="BALANCE, OPEN_LOANS, CLAIMS or PENDING_OPERATIONS.")
    count: int = strawberry.field(description="Fen for BALANCE, how many for the others.")
    detail: str


SetAccountStatusErrorCode = error_codes(
    "SetAccountStatus",
    [
        "INVALID",
        "NOT_FOUND",
        "OWN_ACCOUNT",
        "STATUS_UNCHANGED",
        "NOT_ALLOWED",
        "CHANGE_PENDING",
        "CLOSE_BLOCKED",
    ],
    "Why nothing changed (NOT_FOUND: no such member; NOT_ALLOWED: a closed account never "
    "changes again; CLOSE_BLOCKED: see AccountCloseBlocked).",
)
SetAccountStatusError = error_type(
    "SetAccountStatus", SetAccountStatusErrorCode, "Nothing changed."
)


@strawberry.type(description="The account cannot be closed yet: what blocks it. Nothing changed.")
class AccountCloseBlocked(UserError):
    code: SetAccountStatusErrorCode = strawberry.field(description="CLOSE_BLOCKED.")
    blockers: list[CloseBlocker]


SetAccountStatusResult = Annotated[
    AccountStatusSet | AccountCloseBlocked | SetAccountStatusError,
    strawberry.union("SetAccountStatusResult"),
]


# --- decideAccountStatusChange -------------------------------------------------------------


@strawberry.input(description="Apply or reject a status change someone else proposed.")
class DecideAccountStatusChangeInput:
    change_id: strawberry.ID
    approve: bool
    reason: str = strawberry.field(
        default="", description="Why; needed to reject (5 to 255 characters)."
    )


DecideAccountStatusChangeErrorCode = error_codes(
    "DecideAccountStatusChange",
    ["INVALID", "NOT_FOUND", "OWN_PROPOSAL", "OWN_ACCOUNT", "NOT_ALLOWED", "CLOSE_BLOCKED"],
    "Why nothing changed (NOT_FOUND: no such change waiting; OWN_PROPOSAL: a second "
    "person decides; CLOSE_BLOCKED: something came in since it was proposed).",
)
DecideAccountStatusChangeError = error_type(
    "DecideAccountStatusChange", DecideAccountStatusChangeErrorCode, "Nothing changed."
)


@strawberry.type(description="The account cannot be closed now: what blocks it. Nothing changed.")
class AccountCloseStillBlocked(UserError):
    code: DecideAccountStatusChangeErrorCode = strawberry.field(description="CLOSE_BLOCKED.")
    blockers: list[CloseBlocker]


DecideAccountStatusChangeResult = Annotated[
    AccountStatusSet | AccountCloseStillBlocked | DecideAccountStatusChangeError,
    strawberry.union("DecideAccountStatusChangeResult"),
]


# --- requestDataDeletion --------------------------------------------------------------------


@strawberry.input(description="Ask the platform to delete your data.")
class RequestDataDeletionInput:
    reason: str = strawberry.field(default="", description="Why (optional, at most 500).")


@strawberry.type(description="A kind of record the law (R6) makes the platform keep.")
class RetainedRecords:
    kind: str = strawberry.field(
        description="transactions, contracts, interaction_logs or credit_materials."
    )
    until: date | None = strawberry.field(
        description="The last day it is kept; None while a loan of yours runs."
    )


@strawberry.type(description="A deletion request, recorded, and what the platform answered.")
class DataDeletionRequest:
    id: strawberry.ID
    requested_at: datetime = strawberry.field(description="Business time.")
    reason: str
    answer: str = strawberry.field(description="What is kept, until when, and what follows.")
    loans_running: bool
    retained_until: date | None = strawberry.field(
        description="The last day anything is kept (None: nothing, or a loan still runs)."
    )


@strawberry.type(description="Recorded and answered.")
class DataDeletionRequested:
    request: DataDeletionRequest
    retained: list[RetainedRecords]


RequestDataDeletionErrorCode = error_codes(
    "RequestDataDeletion", ["INVALID", "NOT_FOUND"], "Why nothing was recorded."
)
RequestDataDeletionError = error_type(
    "RequestDataDeletion", RequestDataDeletionErrorCode, "Nothing was recorded."
)
RequestDataDeletionResult = Annotated[
    DataDeletionRequested | RequestDataDeletionError,
    strawberry.union("RequestDataDeletionResult"),
]
