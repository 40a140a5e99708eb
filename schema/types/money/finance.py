"""Finance: platform accounts, fund transactions, reconciliation, adjustments (M4.6, M10)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money, SignedMoney


@strawberry.type(description="The platform's accounts and the totals of members' accounts.")
class PlatformAccounts:
    fee: Money = strawberry.field(description="Fee account (平台服务费).")
    risk_reserve: Money = strawberry.field(description="Risk-reserve account.")
    guarantee_fund: Money = strawberry.field(description="Guarantee-fund account.")
    margin: Money = strawberry.field(description="Margin account.")
    members_available: Money = strawberry.field(description="All members' available money.")
    members_frozen: Money = strawberry.field(description="All members' frozen money (bids).")
    members_withdrawing: Money = strawberry.field(
        description="All members' confirmed withdrawals not yet paid out."
    )
    held_at_provider: Money = strawberry.field(
        description="All money the payment provider holds for the platform and its members."
    )
    suspense: Money = strawberry.field(description="Unallocated money (normally 0.00).")
    as_of: datetime = strawberry.field(description="When these were read (UTC).")


@strawberry.type(description="One line of a fund transaction: a signed amount on one account.")
class FundPosting:
    account_code: str = strawberry.field(
        description="Ledger account: m:<member id>:available|frozen|withdrawing, p:fee, "
        "p:risk_reserve, p:guarantee_fund, p:margin, x:bank, x:suspense."
    )
    amount: SignedMoney = strawberry.field(description="Negative out of the account, positive in.")
    balance_after: SignedMoney = strawberry.field(description="The account's balance after it.")


@strawberry.type(description="One fund transaction: a ledger journal, its postings sum to 0.00.")
class FundTransaction:
    id: strawberry.ID = strawberry.field(description="Journal id.")
    kind: str = strawberry.field(description="What happened, e.g. deposit_paid, adjustment.")
    memo: str = strawberry.field(description="A note.")
    idempotency_key: str = strawberry.field(description="The business event it records.")
    business_date: date = strawberry.field(description="Business date it was posted on.")
    created_at: datetime = strawberry.field(description="When it was posted (UTC).")
    postings: list[FundPosting] = strawberry.field(description="Its postings, in order.")


@strawberry.input(description="Which fund transactions to list (all given conditions apply).")
class FundTransactionFilter:
    kind: str | None = strawberry.field(default=None, description="Journal kind.")
    account_code: str | None = strawberry.field(
        default=None, description="Only transactions with a posting on this ledger account."
    )
    from_: date | None = strawberry.field(
        default=None, name="from", description="Business date, inclusive."
    )
    to: date | None = strawberry.field(default=None, description="Business date, inclusive.")


@strawberry.enum(description="Where a reconciliation run is.")
class ReconciliationRunStatus(Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.type(description="One daily reconciliation batch (M4.6).")
class ReconciliationRun:
    id: strawberry.ID = strawberry.field(description="Run id.")
    day: date = strawberry.field(description="The business day reconciled.")
    status: ReconciliationRunStatus = strawberry.field(description="Running, completed, failed.")
    statement_lines: int = strawberry.field(description="Lines in the provider's statement.")
    matched: int = strawberry.field(description="Lines that matched the platform exactly.")
    in_flight: int = strawberry.field(
        description="Lines whose outcome the platform is still waiting for (not breaks)."
    )
    accounts_checked: int = strawberry.field(description="Accounts whose balances were compared.")
    breaks_found: int = strawberry.field(description="New breaks recorded by this run.")
    breaks_known: int = strawberry.field(description="Differences already recorded before.")
    error: str = strawberry.field(description="Why it failed, if it did.")
    started_at: datetime = strawberry.field(description="Start (UTC).")
    finished_at: datetime | None = strawberry.field(description="End (UTC).")


@strawberry.enum(description="What differs between the platform and the provider.")
class ReconciliationBreakKind(Enum):
    MISSING_AT_PROVIDER = "MISSING_AT_PROVIDER"
    MISSING_AT_PLATFORM = "MISSING_AT_PLATFORM"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    KIND_MISMATCH = "KIND_MISMATCH"
    STATUS_MISMATCH = "STATUS_MISMATCH"
    BALANCE_MISMATCH = "BALANCE_MISMATCH"


@strawberry.enum(description="Open; resolved by an adjustment; or accepted as it is.")
class ReconciliationBreakState(Enum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    ACCEPTED = "ACCEPTED"


@strawberry.type(description="A difference between the platform's and the provider's records.")
class ReconciliationBreak:
    id: strawberry.ID = strawberry.field(description="Break id, for proposeAdjustment.")
    kind: ReconciliationBreakKind = strawberry.field(description="What differs.")
    state: ReconciliationBreakState = strawberry.field(description="Open, resolved, accepted.")
    day: date = strawberry.field(description="Business day it concerns.")
    request_id: str = strawberry.field(description="The movement's request id, if one.")
    account: str = strawberry.field(description="The ledger account concerned, if known.")
    platform_amount: SignedMoney | None = strawberry.field(
        description="What the platform's records say moved (or the ledger balance)."
    )
    provider_amount: SignedMoney | None = strawberry.field(
        description="What the provider's records say moved (or its balance)."
    )
    note: str = strawberry.field(description="The difference, in words.")
    run_id: strawberry.ID | None = strawberry.field(
        description="The run that found it; null when found as the outcome arrived."
    )
    resolved_by: strawberry.ID | None = strawberry.field(description="Who approved its fix.")
    resolution: str = strawberry.field(description="Why it was resolved or accepted.")
    resolved_at: datetime | None = strawberry.field(description="When (UTC).")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")


@strawberry.enum(description="Where an adjustment is.")
class AdjustmentStatus(Enum):
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.type(description="One entry of an adjustment.")
class AdjustmentEntry:
    account_code: str = strawberry.field(description="Ledger account.")
    amount: SignedMoney = strawberry.field(description="Negative out of it, positive into it.")


@strawberry.type(name="Adjustment", description="A maker-checker correction (M10.3).")
class AdjustmentType:
    id: strawberry.ID = strawberry.field(description="Adjustment id.")
    break_id: strawberry.ID | None = strawberry.field(description="The break it fixes, if one.")
    reason: str = strawberry.field(description="Why, as the proposer wrote it.")
    entries: list[AdjustmentEntry] = strawberry.field(description="Ledger entries (sum 0.00).")
    moves_money: bool = strawberry.field(
        description="True: approval also moves the money at the provider (no break). "
        "False: the ledger follows the provider (a break)."
    )
    member_consent_operation_id: strawberry.ID | None = strawberry.field(
        description="The member's confirmed consent, when it takes money from a member."
    )
    status: AdjustmentStatus = strawberry.field(description="Proposed, approved, rejected.")
    proposed_by: strawberry.ID = strawberry.field(description="Maker (user id).")
    decided_by: strawberry.ID | None = strawberry.field(description="Checker (user id).")
    decision_note: str = strawberry.field(description="Why it was rejected.")
    journal_id: strawberry.ID | None = strawberry.field(description="The posted journal.")
    created_at: datetime = strawberry.field(description="Proposed at (UTC).")
    decided_at: datetime | None = strawberry.field(description="Decided at (UTC).")


@strawberry.input(description="Reconcile one business day now.")
class RunReconciliationInput:
    day: date = strawberry.field(description="Business day, today or earlier.")


@strawberry.type(description="The run finished (see its status: a provider outage fails it).")
class ReconciliationRan:
    run: ReconciliationRun = strawberry.field(description="The run.")


RunReconciliationErrorCode = error_codes(
    "RunReconciliation", ["INVALID"], "Why the day was not reconciled."
)
RunReconciliationError = error_type(
    "RunReconciliation", RunReconciliationErrorCode, "Nothing was run."
)
RunReconciliationResult = Annotated[
    ReconciliationRan | RunReconciliationError, strawberry.union("RunReconciliationResult")
]


@strawberry.input(description="One signed ledger entry of an adjustment.")
class AdjustmentEntryInput:
    account_code: str = strawberry.field(description="An existing ledger account.")
    amount: SignedMoney = strawberry.field(description="Negative out of it, positive into it.")


@strawberry.input(description="Propose a correction; another person approves it.")
class ProposeAdjustmentInput:
    break_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The break it fixes: then only the ledger moves (the provider is right). "
        "Without one the money also moves at the provider.",
    )
    reason: str = strawberry.field(description="Why, 5 to 500 characters.")
    entries: list[AdjustmentEntryInput] = strawberry.field(
        description="Entries summing to 0.00; none with a break to accept it as it is."
    )
    member_consent_operation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Required when it takes money from a member: their confirmed consent.",
    )
    idempotency_key: str = strawberry.field(description="Same key, same request: one proposal.")


@strawberry.type(description="Proposed: waiting for a second person.")
class AdjustmentProposed:
    adjustment: AdjustmentType = strawberry.field(description="The proposal.")


ProposeAdjustmentErrorCode = error_codes(
    "ProposeAdjustment",
    [
        "INVALID",
        "NOT_FOUND",
        "BREAK_NOT_OPEN",
        "UNBALANCED",
        "UNKNOWN_ACCOUNT",
        "ACCOUNT_NOT_ALLOWED",
        "ACCOUNT_NOT_OPEN",
        "MEMBER_CONSENT_REQUIRED",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why nothing was proposed.",
)
ProposeAdjustmentError = error_type(
    "ProposeAdjustment", ProposeAdjustmentErrorCode, "Nothing was proposed."
)
ProposeAdjustmentResult = Annotated[
    AdjustmentProposed | ProposeAdjustmentError, strawberry.union("ProposeAdjustmentResult")
]


@strawberry.input(description="Approve someone else's proposal.")
class ApproveAdjustmentInput:
    adjustment_id: strawberry.ID = strawberry.field(description="The proposal.")


@strawberry.type(description="Approved: the journal is posted and the break closed.")
class AdjustmentApproved:
    adjustment: AdjustmentType = strawberry.field(description="The adjustment.")


ApproveAdjustmentErrorCode = error_codes(
    "ApproveAdjustment",
    [
        "NOT_FOUND",
        "SAME_PERSON",
        "ADJUSTMENT_CLOSED",
        "BREAK_NOT_OPEN",
        "MEMBER_CONSENT_REQUIRED",
        "ACCOUNT_NOT_OPEN",
        "INSUFFICIENT_FUNDS",
    ],
    "Why it was not approved.",
)
ApproveAdjustmentError = error_type(
    "ApproveAdjustment", ApproveAdjustmentErrorCode, "Nothing was posted or moved."
)
ApproveAdjustmentResult = Annotated[
    AdjustmentApproved | ApproveAdjustmentError, strawberry.union("ApproveAdjustmentResult")
]


@strawberry.input(description="Turn a proposal down.")
class RejectAdjustmentInput:
    adjustment_id: strawberry.ID = strawberry.field(description="The proposal.")
    reason: str = strawberry.field(description="Why, 5 to 500 characters.")


@strawberry.type(description="Rejected: nothing was posted.")
class AdjustmentRejected:
    adjustment: AdjustmentType = strawberry.field(description="The adjustment.")


RejectAdjustmentErrorCode = error_codes(
    "RejectAdjustment", ["INVALID", "NOT_FOUND", "ADJUSTMENT_CLOSED"], "Why not rejected."
)
RejectAdjustmentError = error_type(
    "RejectAdjustment", RejectAdjustmentErrorCode, "Nothing was changed."
)
RejectAdjustmentResult = Annotated[
    AdjustmentRejected | RejectAdjustmentError, strawberry.union("RejectAdjustmentResult")
]


@strawberry.input(description="Ask a member to agree to an adjustment taking money from them.")
class RequestAdjustmentConsentInput:
    member_id: strawberry.ID = strawberry.field(description="The member (user id).")
    amount: Money = strawberry.field(description="Exactly what the adjustment will take.")
    reason: str = strawberry.field(description="Why, 5 to 500 characters (the member reads it).")


@strawberry.type(
    description="An SMS code and a notice went to the member; once they confirm the "
    "operation (confirmOperation), cite it as memberConsentOperationId."
)
class AdjustmentConsentRequested:
    operation_id: strawberry.ID = strawberry.field(description="The consent operation.")
    amount: Money = strawberry.field(description="What the member is asked to agree to.")
    expires_at: datetime = strawberry.field(description="The member must confirm before this.")


RequestAdjustmentConsentErrorCode = error_codes(
    "RequestAdjustmentConsent", ["INVALID", "NOT_FOUND", "TOO_SOON"], "Why nothing was sent."
)
RequestAdjustmentConsentError = error_type(
    "RequestAdjustmentConsent", RequestAdjustmentConsentErrorCode, "Nothing was sent."
)
RequestAdjustmentConsentResult = Annotated[
    AdjustmentConsentRequested | RequestAdjustmentConsentError,
    strawberry.union("RequestAdjustmentConsentResult"),
]
