"""GraphQL types of guarantees (issue 21, M1.9, M7): companies, their margin, policies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money, Rate, SignedRate
from schema.types.money.accounts import DepositStarted


@strawberry.enum(description="Whether a company may issue new guarantees.")
class GuaranteeCompanyStatus(Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


@strawberry.enum(
    description="Where a policy is: REQUESTED (the borrower asked, no answer yet), "
    "DECLINED (the company said no, or the loan was listed first), ISSUED (in force once "
    "the loan is disbursed), ACTIVE (the loan is disbursed), TRIGGERED (an installment "
    "passed the trigger and is not compensated yet), COMPENSATED (every triggered "
    "installment paid to the holders), RECOVERED (the borrower repaid the company all it "
    "compensated), CLOSED (the loan settled, failed or was cancelled)."
)
class GuaranteePolicyStatus(Enum):
    REQUESTED = "REQUESTED"
    DECLINED = "DECLINED"
    ISSUED = "ISSUED"
    ACTIVE = "ACTIVE"
    TRIGGERED = "TRIGGERED"
    COMPENSATED = "COMPENSATED"
    RECOVERED = "RECOVERED"
    CLOSED = "CLOSED"


@strawberry.enum(description="What of an overdue installment the company pays the holders.")
class GuaranteeCoverage(Enum):
    PRINCIPAL = "PRINCIPAL"
    PRINCIPAL_INTEREST = "PRINCIPAL_INTEREST"


@strawberry.enum(description="How a company's staff pay into its custody account.")
class GuarantorDepositChannel(Enum):
    GATEWAY = "GATEWAY"
    POS = "POS"


@strawberry.type(description="A licensed guarantee company (never the platform: R5).")
class GuaranteeCompany:
    id: strawberry.ID = strawberry.field(description="Company id.")
    name: str = strawberry.field(description="Its registered name.")
    licence_number: str = strawberry.field(description="Its financing-guarantee licence number.")
    status: GuaranteeCompanyStatus = strawberry.field(
        description="ACTIVE, or SUSPENDED (issues nothing new; its policies stay in force)."
    )
    created_at: datetime = strawberry.field(description="Registered at (UTC).")


@strawberry.type(description="What a company paid the holders of one overdue installment (代偿).")
class GuaranteeCompensation:
    installment_id: strawberry.ID = strawberry.field(description="The installment compensated.")
    amount: Money = strawberry.field(description="What the company paid the holders.")
    from_margin: Money = strawberry.field(
        description="The part of it drawn from the company's margin (its available "
        "balance was short and the policy lets it draw)."
    )
    recovered: Money = strawberry.field(
        description="What the borrower has repaid the company of it so far."
    )
    created_at: datetime = strawberry.field(description="When it was paid (UTC).")


@strawberry.type(description="A guarantee of one loan by one company, or the request for one.")
class GuaranteePolicy:
    id: strawberry.ID = strawberry.field(description="Policy id.")
    loan_id: strawberry.ID = strawberry.field(description="The loan guaranteed.")
    company: GuaranteeCompany = strawberry.field(description="The company that guarantees it.")
    status: GuaranteePolicyStatus = strawberry.field(description="Where the policy is.")
    coverage: GuaranteeCoverage | None = strawberry.field(
        description="What an overdue installment's compensation covers; null until issued."
    )
    covers_penalty: bool = strawberry.field(
        description="The compensation also pays the penalty accrued (false until issued)."
    )
    trigger_days: int | None = strawberry.field(
        description="Days overdue after which the company compensates; null until issued."
    )
    may_draw_margin: bool = strawberry.field(
        description="The company may draw on its margin when its available balance is short."
    )
    fee_rate: Rate = strawberry.field(
        description="The guarantee fee a month, on the loan's amount (0 when none)."
    )
    issued_at: datetime | None = strawberry.field(description="When it was issued (UTC).")
    decline_reason: str | None = strawberry.field(
        description="Why the request was declined; null unless DECLINED."
    )
    margin_at_issue: Money | None = strawberry.field(
        description="The company's margin when it issued; null until issued."
    )
    required_at_issue: Money | None = strawberry.field(
        description="The margin its exposure with this loan required then (never more "
        "than marginAtIssue); null until issued."
    )
    compensations: list[GuaranteeCompensation] = strawberry.field(
        description="What the company has paid on this loan, by installment, oldest first."
    )
    created_at: datetime = strawberry.field(description="When the borrower asked (UTC).")


@strawberry.type(description="A company's policies by status.")
class GuaranteePolicyCounts:
    requested: int = strawberry.field(description="REQUESTED.")
    declined: int = strawberry.field(description="DECLINED.")
    issued: int = strawberry.field(description="ISSUED.")
    active: int = strawberry.field(description="ACTIVE.")
    triggered: int = strawberry.field(description="TRIGGERED.")
    compensated: int = strawberry.field(description="COMPENSATED.")
    recovered: int = strawberry.field(description="RECOVERED.")
    closed: int = strawberry.field(description="CLOSED.")


@strawberry.type(description="A guarantee company's book: its money, margin and exposure.")
class GuarantorExposure:
    company: GuaranteeCompany = strawberry.field(description="The company.")
    available: Money = strawberry.field(
        description="Its custody account's available balance (ledger `g:<id>`)."
    )
    margin: Money = strawberry.field(
        description="Its margin (保证金): the account's frozen balance (`g:<id>:margin`)."
    )
    exposure: Money = strawberry.field(
        description="The principal still to fall on it: over its policies in force, the "
        "unpaid principal of the installments it has not compensated (a loan not "
        "disbursed yet: its amount)."
    )
    required_margin: Money = strawberry.field(
        description="guarantees.marginShare of the exposure, rounded up to the fen: the "
        "margin below which it issues nothing and releases nothing."
    )
    coverage_ratio: SignedRate | None = strawberry.field(
        description="margin / requiredMargin, four places rounded down (never shows "
        "covered when it is not); null when nothing is required."
    )
    compensations_paid: Money = strawberry.field(
        description="Everything it has paid holders of overdue installments."
    )
    compensations_recovered: Money = strawberry.field(
        description="What the borrowers have repaid it of that."
    )
    outstanding: Money = strawberry.field(
        description="compensationsPaid less compensationsRecovered: still owed to it."
    )
    policy_counts: GuaranteePolicyCounts = strawberry.field(description="Its policies by status.")


# --- requestGuarantee ---------------------------------------------------------------------


@strawberry.input(description="Ask a company to guarantee one of your loans while it is reviewed.")
class RequestGuaranteeInput:
    loan_id: strawberry.ID = strawberry.field(description="Your loan, PENDING_REVIEW or IN_REVIEW.")
    company_id: strawberry.ID = strawberry.field(description="An ACTIVE guarantee company.")


@strawberry.type(description="The request is with the company.")
class GuaranteeRequested:
    policy: GuaranteePolicy = strawberry.field(description="The policy, REQUESTED.")


RequestGuaranteeErrorCode = error_codes(
    "RequestGuarantee",
    ["INVALID", "NOT_FOUND", "LOAN_NOT_IN_REVIEW", "GUARANTEE_EXISTS", "COMPANY_NOT_ACTIVE"],
    "Why nothing was asked (NOT_FOUND: no such loan of yours, or no such company; "
    "GUARANTEE_EXISTS: the loan has a request or a policy in force).",
)
RequestGuaranteeError = error_type(
    "RequestGuarantee", RequestGuaranteeErrorCode, "Nothing was asked."
)
RequestGuaranteeResult = Annotated[
    GuaranteeRequested | RequestGuaranteeError, strawberry.union("RequestGuaranteeResult")
]


# --- issueGuaranteePolicy -----------------------------------------------------------------


@strawberry.input(description="Guarantee a loan your company was asked to guarantee.")
class IssueGuaranteePolicyInput:
    policy_id: strawberry.ID = strawberry.field(description="A REQUESTED policy of your company.")
    coverage: GuaranteeCoverage = strawberry.field(
        description="What an overdue installment's compensation pays."
    )
    covers_penalty: bool = strawberry.field(description="Also the penalty accrued.")
    trigger_days: int = strawberry.field(
        description="Days overdue after which the company compensates, within the bounds "
        "of guarantees.triggerDays (1 to 90 by default)."
    )
    may_draw_margin: bool = strawberry.field(
        description="Whether a compensation may draw on the margin when the available "
        "balance is short."
    )
    fee_rate: Rate = strawberry.field(
        default=Rate(Decimal(0)),
        description="The guarantee fee: this share of the loan's amount a month, paid by "
        "the borrower with each installment to the company (0 to 0.02, six places). It "
        "counts in the loan's all-in annual cost: past the 36 % cap it is refused "
        "(RATE_CAP_EXCEEDED).",
    )


@strawberry.type(description="The policy is issued.")
class GuaranteePolicyIssued:
    policy: GuaranteePolicy = strawberry.field(description="The policy, ISSUED.")


IssueGuaranteePolicyErrorCode = error_codes(
    "IssueGuaranteePolicy",
    [
        "INVALID",
        "POLICY_NOT_FOUND",
        "POLICY_NOT_REQUESTED",
        "LOAN_ALREADY_LISTED",
        "MARGIN_INSUFFICIENT",
        "COMPANY_NOT_ACTIVE",
        "NOT_A_GUARANTOR",
        "RATE_CAP_EXCEEDED",
    ],
    "Why nothing was issued (POLICY_NOT_FOUND: no such request of your company's; "
    "MARGIN_INSUFFICIENT: the margin is short of what the exposure with this loan requires).",
)
IssueGuaranteePolicyError = error_type(
    "IssueGuaranteePolicy", IssueGuaranteePolicyErrorCode, "Nothing was issued."
)
IssueGuaranteePolicyResult = Annotated[
    GuaranteePolicyIssued | IssueGuaranteePolicyError,
    strawberry.union("IssueGuaranteePolicyResult"),
]


# --- declineGuaranteeRequest --------------------------------------------------------------


@strawberry.input(description="Say no to a request your company was sent.")
class DeclineGuaranteeRequestInput:
    policy_id: strawberry.ID = strawberry.field(description="A REQUESTED policy of your company.")
    reason: str = strawberry.field(description="1 to 500 characters; the borrower reads it.")


@strawberry.type(description="The request is declined.")
class GuaranteeRequestDeclined:
    policy: GuaranteePolicy = strawberry.field(description="The policy, DECLINED.")


DeclineGuaranteeRequestErrorCode = error_codes(
    "DeclineGuaranteeRequest",
    ["INVALID", "POLICY_NOT_FOUND", "POLICY_NOT_REQUESTED", "NOT_A_GUARANTOR"],
    "Why nothing was declined.",
)
DeclineGuaranteeRequestError = error_type(
    "DeclineGuaranteeRequest", DeclineGuaranteeRequestErrorCode, "Nothing was declined."
)
DeclineGuaranteeRequestResult = Annotated[
    GuaranteeRequestDeclined | DeclineGuaranteeRequestError,
    strawberry.union("DeclineGuaranteeRequestResult"),
]


# --- compensateInstallment ----------------------------------------------------------------


@strawberry.input(description="Compensate one installment now rather than at the next daily run.")
class CompensateInstallmentInput:
    policy_id: strawberry.ID = strawberry.field(description="A policy of your company in force.")
    installment: int = strawberry.field(description="The installment's number (1 = first).")


@strawberry.type(description="The holders are paid; the company is subrogated.")
class InstallmentCompensated:
    compensation: GuaranteeCompensation = strawberry.field(description="What was paid.")
    policy: GuaranteePolicy = strawberry.field(description="The policy after it.")


CompensateInstallmentErrorCode = error_codes(
    "CompensateInstallment",
    [
        "POLICY_NOT_FOUND",
        "NOT_TRIGGERED",
        "ALREADY_COMPENSATED",
        "MARGIN_INSUFFICIENT",
        "NOT_A_GUARANTOR",
    ],
    "Why nothing was paid (NOT_TRIGGERED: not overdue past the policy's trigger, or paid; "
    "MARGIN_INSUFFICIENT: the company's balance, and its margin where the policy allows, "
    "does not cover it).",
)
CompensateInstallmentError = error_type(
    "CompensateInstallment", CompensateInstallmentErrorCode, "Nothing was paid."
)
CompensateInstallmentResult = Annotated[
    InstallmentCompensated | CompensateInstallmentError,
    strawberry.union("CompensateInstallmentResult"),
]


# --- createGuaranteeCompany, addGuarantorStaff --------------------------------------------


@strawberry.input(description="Register a licensed guarantee company.")
class CreateGuaranteeCompanyInput:
    name: str = strawberry.field(description="2 to 128 characters, not registered yet.")
    licence_number: str = strawberry.field(description="4 to 64 characters, not registered yet.")


@strawberry.type(description="The company is registered and its custody account opened.")
class GuaranteeCompanyCreated:
    company: GuaranteeCompany = strawberry.field(description="The company, ACTIVE.")


CreateGuaranteeCompanyErrorCode = error_codes(
    "CreateGuaranteeCompany",
    ["INVALID", "COMPANY_EXISTS"],
    "Why nothing was registered (COMPANY_EXISTS: the name or the licence number is).",
)
CreateGuaranteeCompanyError = error_type(
    "CreateGuaranteeCompany", CreateGuaranteeCompanyErrorCode, "Nothing was registered."
)
CreateGuaranteeCompanyResult = Annotated[
    GuaranteeCompanyCreated | CreateGuaranteeCompanyError,
    strawberry.union("CreateGuaranteeCompanyResult"),
]


@strawberry.input(description="Let a staff user with the guarantor role act for a company.")
class AddGuarantorStaffInput:
    company_id: strawberry.ID = strawberry.field(description="The company.")
    user_id: strawberry.ID = strawberry.field(
        description="The staff user (a User global id), holding the guarantor role and "
        "acting for no company yet."
    )


@strawberry.type(description="The user acts for the company.")
class GuarantorStaffAdded:
    company: GuaranteeCompany = strawberry.field(description="The company.")
    user_id: strawberry.ID = strawberry.field(description="The user (a User global id).")


AddGuarantorStaffErrorCode = error_codes(
    "AddGuarantorStaff",
    ["INVALID", "NOT_FOUND", "NOT_GUARANTOR_ROLE", "ALREADY_STAFF"],
    "Why nothing changed (NOT_FOUND: no such company or staff user; ALREADY_STAFF: the "
    "user acts for a company already, this one or another).",
)
AddGuarantorStaffError = error_type(
    "AddGuarantorStaff", AddGuarantorStaffErrorCode, "Nothing changed."
)
AddGuarantorStaffResult = Annotated[
    GuarantorStaffAdded | AddGuarantorStaffError, strawberry.union("AddGuarantorStaffResult")
]


# --- depositToGuarantor -------------------------------------------------------------------


@strawberry.input(description="Put money into your company's custody account.")
class DepositToGuarantorInput:
    amount: Money = strawberry.field(description="More than 0.00.")
    channel: GuarantorDepositChannel = strawberry.field(description="How to pay.")
    idempotency_key: str = strawberry.field(
        description="Same key, same request: one deposit (the key is yours, not the company's)."
    )


DepositToGuarantorErrorCode = error_codes(
    "DepositToGuarantor",
    ["INVALID", "NOT_A_GUARANTOR", "ACCOUNT_NOT_OPEN", "IDEMPOTENCY_KEY_REUSED", "IN_PROGRESS"],
    "Why the deposit was not started (ACCOUNT_NOT_OPEN: the provider has not opened the "
    "company's account yet).",
)
DepositToGuarantorError = error_type(
    "DepositToGuarantor", DepositToGuarantorErrorCode, "Nothing was started."
)
DepositToGuarantorResult = Annotated[
    DepositStarted | DepositToGuarantorError, strawberry.union("DepositToGuarantorResult")
]


# --- fundGuaranteeMargin, releaseGuaranteeMargin ------------------------------------------


@strawberry.input(description="Move money between your company's available balance and margin.")
class GuaranteeMarginInput:
    amount: Money = strawberry.field(description="More than 0.00.")
    idempotency_key: str = strawberry.field(
        description="Same key, same request: moved once (the key is yours, not the company's)."
    )


@strawberry.type(description="The money moved; the company's figures after it.")
class GuaranteeMarginMoved:
    available: Money = strawberry.field(description="The available balance now.")
    margin: Money = strawberry.field(description="The margin now.")
    exposure: Money = strawberry.field(description="The exposure (see GuarantorExposure).")
    required_margin: Money = strawberry.field(description="The margin the exposure requires.")


# A suspended company may still release margin above what it requires; releasing never
# meets INSUFFICIENT_FUNDS (more than the margin is below the required margin first).
_MARGIN_CODES = [
    "INVALID",
    "NOT_A_GUARANTOR",
    "ACCOUNT_NOT_OPEN",
    "IDEMPOTENCY_KEY_REUSED",
    "IN_PROGRESS",
]
FundGuaranteeMarginErrorCode = error_codes(
    "FundGuaranteeMargin",
    [*_MARGIN_CODES, "INSUFFICIENT_FUNDS", "COMPANY_NOT_ACTIVE"],
    "Why nothing moved (INSUFFICIENT_FUNDS: the available balance is short; "
    "COMPANY_NOT_ACTIVE: a suspended company funds no margin).",
)
FundGuaranteeMarginError = error_type(
    "FundGuaranteeMargin", FundGuaranteeMarginErrorCode, "Nothing moved."
)
FundGuaranteeMarginResult = Annotated[
    GuaranteeMarginMoved | FundGuaranteeMarginError,
    strawberry.union("FundGuaranteeMarginResult"),
]
ReleaseGuaranteeMarginErrorCode = error_codes(
    "ReleaseGuaranteeMargin",
    [*_MARGIN_CODES, "MARGIN_BELOW_REQUIRED"],
    "Why nothing moved (MARGIN_BELOW_REQUIRED: the margin left would be below what the "
    "exposure requires, or below nothing).",
)
ReleaseGuaranteeMarginError = error_type(
    "ReleaseGuaranteeMargin", ReleaseGuaranteeMarginErrorCode, "Nothing moved."
)
ReleaseGuaranteeMarginResult = Annotated[
    GuaranteeMarginMoved | ReleaseGuaranteeMarginError,
    strawberry.union("ReleaseGuaranteeMarginResult"),
]
