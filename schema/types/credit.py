"""Verification kinds and members' verification materials (M1.2, M2.1-M2.3, D4)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from schema.errors import error_codes, error_type


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


@strawberry.type(description="A member's materials for one verification kind.")
class Verification:
    id: strawberry.ID = strawberry.field(description="Submission id.")
    kind: str = strawberry.field(description="Verification kind code.")
    status: VerificationStatus = strawberry.field(description="Review state.")
    fields: list[VerificationField] = strawberry.field(description="Values, masked if personal.")
    files: list[MaterialFileType] = strawberry.field(description="Files received.")
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
