"""Verification kinds and members' verification materials (M1.2, M2.1-M2.3, D4)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from schema.errors import error_codes, error_type
from schema.scalars import Money


@strawberry.enum(description="Basic (M2.1), advanced (M2.2) or supplementary (M2.3).")
class VerificationTier(Enum):
    BASIC = "BASIC"
    ADVANCED = "ADVANCED"
    SUPPLEMENTARY = "SUPPLEMENTARY"


@strawberry.type(description="A field a verification kind asks for.")
class VerificationFieldSpec:
    name: str = strawberry.field(description="Send it as `fields[].name`.")
    label: str = strawberry.field(description="What to fill in.")
    required: bool = strawberry.field(description="Must be given.")
    personal: bool = strawberry.field(description="Personal data: encrypted, shown masked.")
    format: str = strawberry.field(
        description=(
            "TEXT, NAME, ID_NUMBER, PHONE, EMAIL, NUMBER, DATE, CONSENT (yes) or MONEY (an "
            'amount in yuan with at most two decimals, like "12000.00", e.g. monthlyIncome).'
        )
    )


@strawberry.type(name="VerificationKind", description="One item a member can be verified on.")
class VerificationKindType:
    code: str = strawberry.field(description="Pass as `kind` to submitVerification.")
    tier: VerificationTier = strawberry.field(description="Basic, advanced or supplementary.")
    title: str = strawberry.field(description="What it is.")
    fields: list[VerificationFieldSpec] = strawberry.field(description="Fields to fill in.")
    file_types: list[str] = strawberry.field(description="Accepted MIME types.")
    min_files: int = strawberry.field(description="At least this many files.")
    max_files: int = strawberry.field(description="At most this many files (0: none).")
    max_file_bytes: int = strawberry.field(description="Largest accepted file, in bytes.")
    score: int = strawberry.field(description="Points added to the credit score once approved.")
    required_for_borrowing: bool = strawberry.field(description="Needed to borrow.")
    required_for_lending: bool = strawberry.field(description="Needed to lend.")
    external_source: str | None = strawberry.field(
        description="Checked against this outside source once authorised (M2.7)."
    )


@strawberry.input(description="One field of a verification kind.")
class VerificationFieldInput:
    name: str = strawberry.field(description="A field name from the kind.")
    value: str = strawberry.field(description="Its value.")


@strawberry.input(description="Materials for one verification kind (multipart request).")
class SubmitVerificationInput:
    kind: str = strawberry.field(description="A code from verificationKinds.")
    fields: list[VerificationFieldInput] = strawberry.field(
        default_factory=list, description="The kind's fields."
    )
    files: list[Upload] = strawberry.field(
        default_factory=list, description="The files (GraphQL multipart request spec)."
    )


@strawberry.enum(description="Where a submission is in review.")
class VerificationStatus(Enum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    MORE_REQUESTED = "MORE_REQUESTED"


@strawberry.type(description="A submitted value; personal ones are masked.")
class VerificationField:
    name: str = strawberry.field(description="Field name.")
    value: str = strawberry.field(description="The value, masked when personal.")
    personal: bool = strawberry.field(description="Personal data (stored encrypted).")


@strawberry.type(name="MaterialFile", description="A file as the platform received it.")
class MaterialFileType:
    id: strawberry.ID = strawberry.field(description="Pass to verifyMaterial.")
    filename: str = strawberry.field(description="Name as uploaded.")
    content_type: str = strawberry.field(description="MIME type.")
    size: int = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the bytes, hex.")
    signature: str = strawberry.field(
        description="Platform Ed25519 signature over `sha256:size:submissionId:userId`, base64."
    )
    created_at: datetime = strawberry.field(description="Received at (UTC).")
    download_path: str = strawberry.field(
        description="GET it with the same bearer token (owner or credit officer): "
        "served only while it matches its signed hash (409 otherwise)."
    )


@strawberry.enum(description="A credit officer's decision on a submission.")
class ReviewDecision(Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    REQUEST_MORE = "REQUEST_MORE"


@strawberry.type(name="VerificationReview", description="A decision and the reason given.")
class VerificationReviewType:
    decision: ReviewDecision = strawberry.field(description="What was decided.")
    reason: str = strawberry.field(description="Why (empty for a plain approval).")
    created_at: datetime = strawberry.field(description="When (UTC).")


@strawberry.type(description="A member's materials for one verification kind.")
class Verification:
    id: strawberry.ID = strawberry.field(description="Submission id.")
    kind: str = strawberry.field(description="Verification kind code.")
    status: VerificationStatus = strawberry.field(description="Review state.")
    fields: list[VerificationField] = strawberry.field(description="Values, masked if personal.")
    files: list[MaterialFileType] = strawberry.field(description="Files received.")
    reviews: list[VerificationReviewType] = strawberry.field(
        description="Decisions on it, oldest first."
    )
    created_at: datetime = strawberry.field(description="Submitted at (UTC).")


@strawberry.type(description="The materials were received, hashed and signed.")
class VerificationSubmitted:
    verification: Verification = strawberry.field(description="The submission.")


SubmitVerificationErrorCode = error_codes(
    "SubmitVerification", ["INVALID"], "Why the materials were not accepted."
)
SubmitVerificationError = error_type(
    "SubmitVerification", SubmitVerificationErrorCode, "Nothing was stored."
)
SubmitVerificationResult = Annotated[
    VerificationSubmitted | SubmitVerificationError, strawberry.union("SubmitVerificationResult")
]


@strawberry.enum(description="What no longer matches.")
class MaterialProblem(Enum):
    FILE_CHANGED = "FILE_CHANGED"
    RECORD_CHANGED = "RECORD_CHANGED"
    MISSING_FILE = "MISSING_FILE"


@strawberry.type(description="Whether a stored file and its record are as received.")
class MaterialCheck:
    file_id: strawberry.ID = strawberry.field(description="The file.")
    valid: bool = strawberry.field(description="Record signature and file hash both hold.")
    problem: MaterialProblem | None = strawberry.field(description="Null when valid.")


# --- review (M2.4) ----------------------------------------------------------------------


@strawberry.type(description="The member whose materials these are (masked).")
class MemberRef:
    id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    display_name: str = strawberry.field(description="Display name.")
    phone: str = strawberry.field(description="Masked phone, e.g. 138****5678.")


@strawberry.type(description="A submission in the review queue, with whose it is.")
class QueuedVerification:
    verification: Verification = strawberry.field(description="The materials.")
    member: MemberRef = strawberry.field(description="Whose they are.")


@strawberry.input(description="Approve, reject or ask for more, with a reason.")
class ReviewVerificationInput:
    verification_id: strawberry.ID = strawberry.field(description="Submission id.")
    decision: ReviewDecision = strawberry.field(description="The decision.")
    reason: str = strawberry.field(
        default="",
        description="Told to the member. Required (5-500 characters) to reject or ask for more.",
    )


@strawberry.type(description="The decision is recorded, the member told and re-scored.")
class VerificationReviewed:
    verification: Verification = strawberry.field(description="The submission, as now.")
    score: int = strawberry.field(description="The member's credit score after it.")
    grade: str = strawberry.field(description="The member's grade after it.")


ReviewVerificationErrorCode = error_codes(
    "ReviewVerification",
    [
        "INVALID",
        "NOT_FOUND",
        "SAME_PERSON",
        "NOT_REVIEWABLE",
        "IDENTITY_REQUIRED",
        "SOURCE_UNAVAILABLE",
    ],
    "Why no decision was recorded.",
)
ReviewVerificationError = error_type(
    "ReviewVerification", ReviewVerificationErrorCode, "Nothing was changed."
)
ReviewVerificationResult = Annotated[
    VerificationReviewed | ReviewVerificationError, strawberry.union("ReviewVerificationResult")
]


# --- score, grade and limit (M2.4-M2.6, R1) -------------------------------------------------


@strawberry.type(description="One part of the credit score.")
class CreditScorePart:
    label: str = strawberry.field(description="What earned or cost points.")
    points: int = strawberry.field(description="Points (negative for adverse records).")


@strawberry.enum(description="What changed a member's credit.")
class CreditChangeKind(Enum):
    EVALUATED = "EVALUATED"
    ON_TIME = "ON_TIME"
    OVERDUE = "OVERDUE"
    FROZEN = "FROZEN"
    UNFROZEN = "UNFROZEN"
    TEMPORARY_SET = "TEMPORARY_SET"
    TEMPORARY_ENDED = "TEMPORARY_ENDED"
    PARAMETERS = "PARAMETERS"


@strawberry.type(description="One change of score, grade or limit.")
class CreditHistoryEntry:
    kind: CreditChangeKind = strawberry.field(description="What happened.")
    old_limit: Money = strawberry.field(description="Limit before.")
    new_limit: Money = strawberry.field(description="Limit after.")
    old_grade: str = strawberry.field(description="Grade before.")
    new_grade: str = strawberry.field(description="Grade after.")
    score: int = strawberry.field(description="Score after.")
    reason: str = strawberry.field(description="Why.")
    by_staff: bool = strawberry.field(description="A staff member did it (else the rules).")
    created_at: datetime = strawberry.field(description="When (business time, UTC).")


@strawberry.type(description="A temporary limit granted on extra proof (M2.6).")
class TemporaryCreditLimit:
    amount: Money = strawberry.field(description="The temporary limit.")
    expires_on: date = strawberry.field(description="Last day it applies.")
    reason: str = strawberry.field(description="Why it was granted.")


@strawberry.type(description="An overdue item on the credit report.")
class DisclosedOverdueItem:
    date: date = strawberry.field(description="When it fell overdue.")
    amount: Money = strawberry.field(description="How much.")
    days: int = strawberry.field(description="Days overdue.")


@strawberry.type(description="A loan on another platform, as industry sharing reports it.")
class OtherPlatformLoan:
    platform: str = strawberry.field(description="The platform.")
    outstanding: Money = strawberry.field(description="Still owed there.")
    overdue: bool = strawberry.field(description="Overdue there.")


@strawberry.type(
    description="What lenders are shown about a borrower with each project (R8): "
    "income and debts, credit-report overdue items of the last 6 months, other platforms."
)
class BorrowerDisclosure:
    monthly_income: Money | None = strawberry.field(
        description="From the newest approved bank statement; null until one is approved."
    )
    outstanding_debt: Money | None = strawberry.field(
        description="Debts on the credit report; null until the report is checked."
    )
    monthly_debt_payment: Money | None = strawberry.field(
        description="Monthly debt payments on the credit report."
    )
    overdue_items_last_6_months: list[DisclosedOverdueItem] = strawberry.field(
        description="Newest first."
    )
    other_platform_loans: list[OtherPlatformLoan] = strawberry.field(
        description="Loans on other platforms."
    )
    other_platforms_outstanding: Money = strawberry.field(
        description="Owed on other platforms in all."
    )
    credit_report_checked_at: datetime | None = strawberry.field(
        description="When the credit report was last fetched."
    )
    industry_sharing_checked_at: datetime | None = strawberry.field(
        description="When industry sharing was last asked."
    )


@strawberry.type(description="Score, grade and credit limit, what is used, and why.")
class CreditSummary:
    score: int = strawberry.field(description="Credit score.")
    grade: str = strawberry.field(description="AA, A, B, C, D, E or HR (high risk).")
    limit: Money = strawberry.field(
        description="Limit in force: 0 while frozen, a running temporary limit if higher, "
        "never above the R1 cap."
    )
    permanent_limit: Money = strawberry.field(
        description="The grade's limit moved by repayment history."
    )
    temporary_limit: TemporaryCreditLimit | None = strawberry.field(
        description="A temporary limit while it runs."
    )
    used: Money = strawberry.field(description="Principal borrowed and not yet repaid.")
    available: Money = strawberry.field(
        description="What can still be borrowed here, within the all-platform cap (R1)."
    )
    other_platforms_outstanding: Money = strawberry.field(
        description="Owed on other platforms, as the industry-sharing source reports."
    )
    frozen: bool = strawberry.field(description="The limit is frozen.")
    frozen_reason: str | None = strawberry.field(description="Why, while frozen.")
    parts: list[CreditScorePart] = strawberry.field(description="How the score was made.")
    reasons: list[str] = strawberry.field(description="How the limit was set.")
    missing_for_borrowing: list[str] = strawberry.field(
        description="Verification kinds still needed before any limit."
    )
    history: list[CreditHistoryEntry] = strawberry.field(
        description="The latest changes, newest first (at most 50)."
    )
    disclosure: BorrowerDisclosure = strawberry.field(
        description="What lenders will be shown with each of the member's projects (R8)."
    )


@strawberry.input(description="Freeze or unfreeze a member's limit.")
class FreezeCreditLimitInput:
    user_id: strawberry.ID = strawberry.field(description="Global ID of the member.")
    reason: str = strawberry.field(description="Why (5 to 255 characters), kept in history.")


@strawberry.input(description="A temporary limit on extra proof of repayment ability.")
class SetTemporaryCreditLimitInput:
    user_id: strawberry.ID = strawberry.field(description="Global ID of the member.")
    amount: Money = strawberry.field(description="The temporary limit (at most the R1 cap).")
    expires_on: date = strawberry.field(
        description="Last day it applies: after today, within 366 days."
    )
    evidence_id: strawberry.ID = strawberry.field(
        description="The member's approved verification that proves the ability to repay."
    )
    reason: str = strawberry.field(description="Why (5 to 255 characters), kept in history.")


@strawberry.type(description="The member's credit, as changed.")
class CreditLimitChanged:
    credit: CreditSummary = strawberry.field(description="As it stands now.")


FreezeCreditLimitErrorCode = error_codes(
    "FreezeCreditLimit",
    ["INVALID", "NOT_FOUND", "SAME_PERSON", "ALREADY_FROZEN"],
    "Why the limit was not frozen.",
)
FreezeCreditLimitError = error_type(
    "FreezeCreditLimit", FreezeCreditLimitErrorCode, "Nothing was changed."
)
FreezeCreditLimitResult = Annotated[
    CreditLimitChanged | FreezeCreditLimitError, strawberry.union("FreezeCreditLimitResult")
]
UnfreezeCreditLimitErrorCode = error_codes(
    "UnfreezeCreditLimit",
    ["INVALID", "NOT_FOUND", "SAME_PERSON", "NOT_FROZEN"],
    "Why the limit was not unfrozen.",
)
UnfreezeCreditLimitError = error_type(
    "UnfreezeCreditLimit", UnfreezeCreditLimitErrorCode, "Nothing was changed."
)
UnfreezeCreditLimitResult = Annotated[
    CreditLimitChanged | UnfreezeCreditLimitError, strawberry.union("UnfreezeCreditLimitResult")
]
SetTemporaryCreditLimitErrorCode = error_codes(
    "SetTemporaryCreditLimit",
    ["INVALID", "NOT_FOUND", "SAME_PERSON", "FROZEN", "EVIDENCE_REQUIRED"],
    "Why no temporary limit was set.",
)
SetTemporaryCreditLimitError = error_type(
    "SetTemporaryCreditLimit", SetTemporaryCreditLimitErrorCode, "Nothing was changed."
)
SetTemporaryCreditLimitResult = Annotated[
    CreditLimitChanged | SetTemporaryCreditLimitError,
    strawberry.union("SetTemporaryCreditLimitResult"),
]
