"""Loan requests, their review, the marketplace and schedule previews (M1.5, M6, R2, R3, R8)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money, Rate, SignedRate
from schema.types.credit.credit import BorrowerDisclosure
from schema.types.loan_guarantee import LoanGuarantee, loan_guarantee


@strawberry.enum(description="How a loan is repaid.")
class RepaymentMethod(Enum):
    EQUAL_INSTALLMENT = "EQUAL_INSTALLMENT"
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"
    INTEREST_FIRST = "INTEREST_FIRST"
    LUMP_SUM = "LUMP_SUM"


@strawberry.enum(description="Where a loan is in its life (docs/decisions.md: the table).")
class LoanStatus(Enum):
    DRAFT = "DRAFT"
    PENDING_REVIEW = "PENDING_REVIEW"
    IN_REVIEW = "IN_REVIEW"
    REJECTED = "REJECTED"
    LISTED = "LISTED"
    FULL = "FULL"
    FAILED = "FAILED"
    DISBURSED = "DISBURSED"
    REPAYING = "REPAYING"
    OVERDUE = "OVERDUE"
    SETTLED = "SETTLED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="A reviewer's decision on one level.")
class LoanReviewDecision(Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@strawberry.type(description="One installment of a schedule.")
class ScheduleInstallment:
    number: int = strawberry.field(description="1-based.")
    due_date: date = strawberry.field(description="Due on.")
    principal: Money = strawberry.field(description="Principal repaid.")
    interest: Money = strawberry.field(description="Interest.")
    payment: Money = strawberry.field(description="Principal + interest.")
    fee: Money = strawberry.field(description="Service fee paid with it.")
    total_due: Money = strawberry.field(description="Payment + fee.")
    balance_after: Money = strawberry.field(description="Principal still owed after it.")


@strawberry.type(description="A repayment schedule with every fee, and what it costs a year.")
class SchedulePreview:
    installments: list[ScheduleInstallment] = strawberry.field(description="In order.")
    total_interest: Money = strawberry.field(description="All interest.")
    total_fees: Money = strawberry.field(description="All fees.")
    total_paid: Money = strawberry.field(description="Principal + interest + fees.")
    monthly_service_fee_rate: Rate = strawberry.field(
        description="The fee on the amount per month."
    )
    all_in_annual_cost: str = strawberry.field(
        description="R3 all-in annual cost: monthly IRR of every payment and fee x 12, six "
        'places ("0.186234" is 18.6234 %).'
    )
    within_cap: bool = strawberry.field(description="At most the 36 % cap of R3.")


@strawberry.type(description="How a listed loan is doing.")
class LoanProgress:
    amount: Money = strawberry.field(description="Asked for.")
    funded: Money = strawberry.field(description="Bid so far.")
    remaining: Money = strawberry.field(description="Still open.")
    bidders: int = strawberry.field(description="Lenders who bid.")
    closes_at: datetime | None = strawberry.field(description="When bidding closes.")
    seconds_left: int | None = strawberry.field(
        description="Until bidding closes (0 once closed); null when not listed."
    )


@strawberry.type(description="One automatic review rule's outcome.")
class AutoReviewOutcome:
    rule: str = strawberry.field(description="The rule kind.")
    passed: bool = strawberry.field(description="Whether it passed.")
    detail: str = strawberry.field(description="What it found.")


@strawberry.type(description="One level's decision.")
class LoanReviewEntry:
    level: int = strawberry.field(description="1, 2 or 3.")
    decision: LoanReviewDecision = strawberry.field(description="What was decided.")
    reason: str = strawberry.field(description="Why.")
    created_at: datetime = strawberry.field(description="When (UTC).")


async def _reviews(root: Loan, info: strawberry.Info) -> list[LoanReviewEntry]:
    # One statement for every loan of the answer (schema.loaders), and none unless asked.
    rows = await info.context.loaders.loan_reviews.load(int(root.id))
    return [
        LoanReviewEntry(
            level=row.level,
            decision=LoanReviewDecision(row.decision.value),
            reason=row.reason,
            created_at=row.created_at,
        )
        for row in rows
    ]


@strawberry.type(description="A loan request and the loan it becomes.")
class Loan:
    id: strawberry.ID = strawberry.field(description="Loan id.")
    status: LoanStatus = strawberry.field(description="Where it is.")
    amount: Money = strawberry.field(description="Asked for.")
    annual_rate: Rate = strawberry.field(description="Nominal annual interest rate.")
    term_months: int = strawberry.field(description="Months.")
    method: RepaymentMethod = strawberry.field(description="Repayment method.")
    purpose: str = strawberry.field(description="What it is for.")
    bidding_days: int = strawberry.field(description="Working days the bidding window runs.")
    min_bid: Money = strawberry.field(description="Smallest bid.")
    max_bid: Money = strawberry.field(description="Largest bid.")
    collateral_ref: str | None = strawberry.field(description="Collateral reference.")
    guarantee_ref: str | None = strawberry.field(
        description="Guarantee reference (free text, before guarantees were built: see "
        "`guarantee`)."
    )
    guarantee: LoanGuarantee | None = strawberry.field(
        resolver=loan_guarantee,
        description="The guarantee company standing behind the loan, its cover and trigger "
        "(issued before listing); null when none.",
    )
    all_in_annual_cost: str = strawberry.field(
        description="R3 all-in annual cost frozen at publishing (six places)."
    )
    monthly_service_fee_rate: Rate = strawberry.field(description="Fee terms frozen on it.")
    required_levels: list[int] = strawberry.field(description="Manual review levels needed.")
    next_review_level: int | None = strawberry.field(description="The level awaited.")
    auto_review: list[AutoReviewOutcome] = strawberry.field(description="Every rule's outcome.")
    reviews: list[LoanReviewEntry] = strawberry.field(
        resolver=_reviews, description="Level decisions, in order."
    )
    rejection_reason: str | None = strawberry.field(description="Why it was rejected.")
    progress: LoanProgress = strawberry.field(description="Funding progress.")
    is_mine: bool = strawberry.field(description="The caller is its borrower.")
    disclosure: BorrowerDisclosure | None = strawberry.field(
        description="What a lender must see about the borrower (R8): given by `loan(id)`, "
        "null in lists."
    )
    created_at: datetime = strawberry.field(description="Published at (UTC).")
    listed_at: datetime | None = strawberry.field(description="Listed at (UTC).")


@strawberry.input(description="A loan request (M1.5).")
class PublishLoanInput:
    amount: Money = strawberry.field(description="Within the platform's range and your limit.")
    annual_rate: Rate = strawberry.field(description="Nominal annual interest rate.")
    term_months: int = strawberry.field(description="Months.")
    method: RepaymentMethod = strawberry.field(description="Repayment method.")
    purpose: str = strawberry.field(description="5 to 500 characters.")
    bidding_days: int = strawberry.field(description="Working days of bidding (R2: at most 20).")
    min_bid: Money = strawberry.field(description="Smallest bid accepted.")
    max_bid: Money = strawberry.field(description="Largest bid accepted (at most the amount).")
    collateral_ref: str | None = strawberry.field(default=None, description="Optional.")
    guarantee_ref: str | None = strawberry.field(default=None, description="Optional.")
    idempotency_key: str = strawberry.field(description="Same key, same request: one loan.")


@strawberry.type(description="The request is recorded and was reviewed automatically.")
class LoanPublished:
    loan: Loan = strawberry.field(
        description="PENDING_REVIEW (waiting for level 1) or REJECTED by the automatic review."
    )


PublishLoanErrorCode = error_codes(
    "PublishLoan",
    [
        "INVALID",
        "AMOUNT_OUT_OF_RANGE",
        "TERM_OUT_OF_RANGE",
        "RATE_OUT_OF_RANGE",
        "BIDDING_WINDOW_OUT_OF_RANGE",
        "INVALID_BID_RANGE",
        "RATE_CAP_EXCEEDED",
        "CREDIT_LIMIT_EXCEEDED",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why no loan was published.",
)
PublishLoanError = error_type("PublishLoan", PublishLoanErrorCode, "Nothing was changed.")
PublishLoanResult = Annotated[
    LoanPublished | PublishLoanError, strawberry.union("PublishLoanResult")
]


@strawberry.input(description="One level's decision on a loan (M6.2).")
class ReviewLoanInput:
    loan_id: strawberry.ID = strawberry.field(description="Loan id.")
    level: int = strawberry.field(description="1, 2 or 3: needs that level's permission.")
    decision: LoanReviewDecision = strawberry.field(description="Approve or reject.")
    reason: str = strawberry.field(
        default="", description="Told to the borrower; 5-500 characters to reject."
    )


@strawberry.type(description="The decision is recorded and the borrower told.")
class LoanReviewed:
    loan: Loan = strawberry.field(description="The loan as it is now.")


ReviewLoanErrorCode = error_codes(
    "ReviewLoan",
    [
        "INVALID",
        "NOT_FOUND",
        "FORBIDDEN_LEVEL",
        "ILLEGAL_TRANSITION",
        "LEVEL_NOT_REQUIRED",
        "ALREADY_DECIDED",
        "LEVEL_OUT_OF_ORDER",
        "SAME_PERSON",
    ],
    "Why no decision was recorded.",
)
ReviewLoanError = error_type("ReviewLoan", ReviewLoanErrorCode, "Nothing was changed.")
ReviewLoanResult = Annotated[LoanReviewed | ReviewLoanError, strawberry.union("ReviewLoanResult")]


@strawberry.input(description="Marketplace filters; all optional.")
class LoanFilter:
    status: LoanStatus | None = strawberry.field(
        default=None, description="Default LISTED. Only loans that were listed are shown."
    )
    method: RepaymentMethod | None = strawberry.field(default=None, description="Method.")
    min_rate: Rate | None = strawberry.field(default=None, description="Lowest annual rate.")
    max_rate: Rate | None = strawberry.field(default=None, description="Highest annual rate.")
    min_term: int | None = strawberry.field(default=None, description="Shortest term.")
    max_term: int | None = strawberry.field(default=None, description="Longest term.")


# --- bids (M1.7, M1.8) ----------------------------------------------------------------


@strawberry.enum(description="Where a bid is.")
class BidStatus(Enum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"
    CANCELLED = "CANCELLED"
    RELEASED = "RELEASED"
    TRANSFERRED = "TRANSFERRED"


@strawberry.enum(description="Who placed a bid: the lender, or their auto-bid rule.")
class BidSource(Enum):
    MANUAL = "MANUAL"
    AUTO = "AUTO"


@strawberry.type(name="Bid", description="A lender's bid on a loan.")
class BidType:
    id: strawberry.ID = strawberry.field(description="Bid id.")
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    requested: Money = strawberry.field(description="What was asked.")
    amount: Money = strawberry.field(
        description="What was accepted: the request trimmed to what the loan still needed "
        "(0 until accepted)."
    )
    status: BidStatus = strawberry.field(description="Where it is.")
    source: BidSource = strawberry.field(description="Manual or automatic.")
    auto_rule_id: strawberry.ID | None = strawberry.field(
        description="For automatic bids: the rule that made it."
    )
    refusal: str | None = strawberry.field(
        description="Why it was refused at confirmation (the error code)."
    )
    created_at: datetime = strawberry.field(description="Asked at (UTC).")
    decided_at: datetime | None = strawberry.field(description="Accepted or refused at.")


@strawberry.input(
    description="A manual bid (M1.8): confirmed with the SMS code through confirmOperation. "
    "A bid for more than the loan still needs is accepted for what is left (trimmed); "
    "below the loan's minimum only when it is exactly what is left."
)
class PlaceBidInput:
    loan_id: strawberry.ID = strawberry.field(description="A listed loan.")
    amount: Money = strawberry.field(description="Within the loan's min and max bid.")
    idempotency_key: str = strawberry.field(description="8-128 characters; a replay is safe.")


@strawberry.type(description="The bid waits for its SMS code: pass it to confirmOperation.")
class BidPlaced:
    bid: BidType = strawberry.field(description="The bid, AWAITING_CONFIRMATION.")
    operation_id: strawberry.ID = strawberry.field(description="For confirmOperation.")


PlaceBidErrorCode = error_codes(
    "PlaceBid",
    [
        "INVALID",
        "NOT_FOUND",
        "LOAN_NOT_OPEN",
        "LOAN_FULL",
        "OWN_LOAN",
        "LENDING_VERIFICATION_REQUIRED",
        "BID_OUT_OF_RANGE",
        "INSUFFICIENT_FUNDS",
        "RISK_ASSESSMENT_REQUIRED",
        "RISK_NOTICE_NOT_CONFIRMED",
        "GRADE_NOT_ALLOWED",
        "LENDING_CAP_EXCEEDED",
        "IDEMPOTENCY_KEY_REUSED",
        "IN_PROGRESS",
    ],
    "Why the bid was not recorded (LENDING_VERIFICATION_REQUIRED: see missingVerifications).",
)
PlaceBidError = error_type(
    "PlaceBid",
    PlaceBidErrorCode,
    "Nothing was recorded or frozen.",
    lists_missing_verifications=True,
)
PlaceBidResult = Annotated[BidPlaced | PlaceBidError, strawberry.union("PlaceBidResult")]


@strawberry.enum(description="What happened to a listed loan.")
class BidProgressKind(Enum):
    BID = "BID"
    FULL = "FULL"
    FAILED = "FAILED"
    DISBURSED = "DISBURSED"


@strawberry.type(description="One event of a loan's bidding, as it happens.")
class BidProgressEvent:
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    kind: BidProgressKind = strawberry.field(description="What happened.")
    status: LoanStatus = strawberry.field(description="The loan's status after it.")
    amount: Money = strawberry.field(description="The loan's amount.")
    funded: Money = strawberry.field(description="Funded after it.")
    remaining: Money = strawberry.field(description="Still open after it.")
    bidders: int = strawberry.field(description="Lenders after it.")
    bid_amount: Money | None = strawberry.field(description="For BID: what was accepted.")
    source: BidSource | None = strawberry.field(description="For BID: manual or automatic.")
    at: datetime = strawberry.field(description="When (business time, UTC).")


# --- automatic bidding (M1.7) ------------------------------------------------------------


@strawberry.type(description="Your automatic bidding rule (M1.7).")
class AutoBidRule:
    id: strawberry.ID = strawberry.field(description="Rule id.")
    enabled: bool = strawberry.field(
        description="Bidding automatically now (false until the opt-in is confirmed)."
    )
    opted_in_at: datetime | None = strawberry.field(
        description="When the opt-in was confirmed by SMS code (once); null until then."
    )
    min_rate: Rate = strawberry.field(description="Lowest nominal annual rate.")
    max_rate: Rate = strawberry.field(description="Highest nominal annual rate.")
    min_term: int = strawberry.field(description="Shortest term, months.")
    max_term: int = strawberry.field(description="Longest term, months.")
    grades: list[str] = strawberry.field(description="Borrower grades lent to (AA to HR).")
    methods: list[RepaymentMethod] = strawberry.field(description="Repayment methods lent to.")
    amount_per_loan: Money = strawberry.field(description="At most this much per loan.")
    keep_balance: Money = strawberry.field(
        description="Never bid the available balance below this."
    )
    queue_place: int | None = strawberry.field(
        description="1 when served first at the next listing; null while not enabled."
    )
    secondary_market: SecondaryMarketRule | None = strawberry.field(
        description="What the rule buys on the secondary market; null: it does not."
    )
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")


@strawberry.input(
    description="An automatic bidding rule: a loan is bid on when its rate, term and method "
    "and the borrower's grade fit. The first time, confirm the opt-in with the SMS code."
)
class AutoBidRuleInput:
    min_rate: Rate = strawberry.field(description="0.0000 to 0.3600.")
    max_rate: Rate = strawberry.field(description="At least minRate, at most 0.3600.")
    min_term: int = strawberry.field(description="1 to 360 months.")
    max_term: int = strawberry.field(description="At least minTerm, at most 360.")
    grades: list[str] = strawberry.field(description="One or more of AA, A, B, C, D, E, HR.")
    methods: list[RepaymentMethod] = strawberry.field(description="One or more.")
    amount_per_loan: Money = strawberry.field(
        description="At most this much per loan (less when the loan, your balance or the "
        "automatic share allows less)."
    )
    keep_balance: Money = strawberry.field(
        description="Available balance never bid away (0.00 for none)."
    )
    secondary_market: SecondaryMarketRuleInput | None = strawberry.field(
        default=None, description="Buy on the secondary market too (opt-in); null: do not."
    )


@strawberry.type(description="What a rule buys on the secondary market.")
class SecondaryMarketRule:
    max_premium: SignedRate = strawberry.field(
        description="The highest premium over the principal paid (a discount is negative)."
    )
    min_buyer_xirr: SignedRate = strawberry.field(
        description="The lowest XIRR at the price a purchase must earn."
    )
    skip_overdue: bool = strawberry.field(description="Never a claim of a loan overdue now.")


@strawberry.input(
    description="Buy on the secondary market too: listings whose loan fits the rule (its "
    "rate, the installments left as its term, method, grade), within these limits; the same "
    "amount per loan (counting what you already hold of it), balance to keep, R4 cap and "
    "queue as primary bids."
)
class SecondaryMarketRuleInput:
    max_premium: SignedRate = strawberry.field(
        description="-0.9000 to 0.5000; the market's own bounds bind too (e.g. -0.0200: "
        "only at 2 % off or deeper)."
    )
    min_buyer_xirr: SignedRate = strawberry.field(
        description="The lowest XIRR at the price, with the interest accrued that day."
    )
    skip_overdue: bool = strawberry.field(
        default=True, description="Never buy a claim of a loan overdue now."
    )


@strawberry.type(description="The rule is saved.")
class AutoBidRuleSaved:
    rule: AutoBidRule = strawberry.field(description="The rule as it is now.")
    operation_id: strawberry.ID | None = strawberry.field(
        description="The first time: the opt-in to confirm with the SMS code "
        "(confirmOperation); the rule is enabled then. Null when no code is needed."
    )


SetAutoBidRuleErrorCode = error_codes(
    "SetAutoBidRule",
    ["INVALID", "LENDING_VERIFICATION_REQUIRED"],
    "Why the rule was not saved (LENDING_VERIFICATION_REQUIRED: see missingVerifications).",
)
SetAutoBidRuleError = error_type(
    "SetAutoBidRule",
    SetAutoBidRuleErrorCode,
    "Nothing was changed.",
    lists_missing_verifications=True,
)
SetAutoBidRuleResult = Annotated[
    AutoBidRuleSaved | SetAutoBidRuleError, strawberry.union("SetAutoBidRuleResult")
]


@strawberry.type(description="Automatic bidding is off; the settings are kept.")
class AutoBidRuleDisabled:
    rule: AutoBidRule = strawberry.field(description="The rule, not enabled.")


DisableAutoBidRuleErrorCode = error_codes(
    "DisableAutoBidRule", ["NOT_FOUND"], "Why nothing was disabled."
)
DisableAutoBidRuleError = error_type(
    "DisableAutoBidRule", DisableAutoBidRuleErrorCode, "Nothing was changed."
)
DisableAutoBidRuleResult = Annotated[
    AutoBidRuleDisabled | DisableAutoBidRuleError, strawberry.union("DisableAutoBidRuleResult")
]
