"""GraphQL types of service cases (issue 22, M5.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from schema.errors import error_codes, error_type

# The upload pipeline's stable codes (services/kit/uploads.py UploadProblem).
_FILE_CODES = ["TOO_MANY_FILES", "FILE_TYPE_NOT_ACCEPTED", "FILE_TOO_LARGE"]


@strawberry.enum(description="What a case is about.")
class ServiceCaseKind(Enum):
    ENQUIRY = "ENQUIRY"
    COMPLAINT = "COMPLAINT"
    DISPUTE = "DISPUTE"
    DATA_REQUEST = "DATA_REQUEST"


@strawberry.enum(description="Where a case stands.")
class ServiceCaseStatus(Enum):
    OPEN = "OPEN"
    ANSWERED = "ANSWERED"
    CLOSED = "CLOSED"


@strawberry.enum(description="Where a case stands against its SLA, at business time now.")
class ServiceCaseSla(Enum):
    NOT_WAITING = "NOT_WAITING"
    ON_TIME = "ON_TIME"
    NEAR_BREACH = "NEAR_BREACH"
    BREACHED = "BREACHED"


@strawberry.enum(description="Who wrote an entry of a case's history.")
class ServiceCaseEntry(Enum):
    MEMBER = "MEMBER"
    STAFF = "STAFF"
    ACTION = "ACTION"


async def _verified(root: ServiceCaseAttachment) -> bool:
    return await root.check()


@strawberry.type(
    description="A file sent with a message: stored, hashed (SHA-256) and signed by the "
    "platform as it arrived."
)
class ServiceCaseAttachment:
    id: strawberry.ID = strawberry.field(description="Attachment id.")
    filename: str = strawberry.field(description="The name it was uploaded with.")
    content_type: str = strawberry.field(description="application/pdf, image/jpeg or image/png.")
    size: int = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the file as received (hex).")
    uploaded_at: datetime = strawberry.field(description="When it arrived (UTC).")
    verified: bool = strawberry.field(
        resolver=_verified,
        description="The record still holds the platform's signature and the stored file "
        "its hash. Checked when asked: it reads the file.",
    )
    check: strawberry.Private[Callable[[], Awaitable[bool]]]


@strawberry.type(description="One entry of a case's history: kept, never edited or deleted.")
class ServiceCaseMessage:
    id: strawberry.ID = strawberry.field(description="Message id.")
    entry: ServiceCaseEntry = strawberry.field(
        description="MEMBER or STAFF wrote it; ACTION: what was done (assigned, escalated, "
        "closed, reopened, rated)."
    )
    author_id: strawberry.ID = strawberry.field(description="Who wrote it (a user id).")
    text: str = strawberry.field(description="What was written.")
    created_at: datetime = strawberry.field(description="When (business time, UTC).")
    attachments: list[ServiceCaseAttachment] = strawberry.field(
        description="Files sent with it, in the order received."
    )


@strawberry.type(description="A member's service case (M5.3).")
class ServiceCase:
    id: strawberry.ID = strawberry.field(description="Case id.")
    member_id: strawberry.ID = strawberry.field(description="The member whose case it is.")
    kind: ServiceCaseKind = strawberry.field(description="What it is about.")
    subject: str = strawberry.field(description="Its subject.")
    status: ServiceCaseStatus = strawberry.field(
        description="OPEN: waiting for the platform (the SLA clock runs); ANSWERED: "
        "waiting for the member; CLOSED."
    )
    level: int = strawberry.field(description="1; 2 once escalated (the supervisors').")
    assignee_id: strawberry.ID | None = strawberry.field(description="Staff handling it.")
    loan_id: strawberry.ID | None = strawberry.field(description="The loan a dispute is about.")
    movement_id: strawberry.ID | None = strawberry.field(
        description="The movement (myTransactions) a dispute is about."
    )
    opened_at: datetime = strawberry.field(description="When it was opened (UTC).")
    due_at: datetime | None = strawberry.field(
        description="When the current wait for the platform breaches its SLA; null when "
        "the case is not waiting for the platform."
    )
    sla: ServiceCaseSla = strawberry.field(description="Against its SLA, now.")
    breaches: int = strawberry.field(description="Waits that went past their SLA.")
    first_answered_at: datetime | None = strawberry.field(
        description="The first staff answer (or the closing)."
    )
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    resolution: str | None = strawberry.field(description="How it was resolved, once closed.")
    reopened: int = strawberry.field(description="Times the member reopened it.")
    rating: int | None = strawberry.field(description="The member's rating, 1 to 5.")
    messages: list[ServiceCaseMessage] = strawberry.field(
        description="Its whole history, oldest first."
    )


@strawberry.input(description="A case a member opens.")
class OpenServiceCaseInput:
    kind: ServiceCaseKind = strawberry.field(description="What it is about.")
    subject: str = strawberry.field(description="1 to 200 characters.")
    text: str = strawberry.field(description="1 to 4000 characters.")
    loan_id: strawberry.ID | None = strawberry.field(
        default=None, description="A DISPUTE's loan: one you borrowed or hold a claim in."
    )
    movement_id: strawberry.ID | None = strawberry.field(
        default=None, description="A DISPUTE's movement: one of your myTransactions."
    )
    attachments: list[Upload] | None = strawberry.field(
        default=None,
        description="Files (GraphQL multipart request spec): at most 5 PDF, JPEG or PNG "
        "files of at most 10 MB each.",
    )


@strawberry.input(description="An answer to a case.")
class AnswerServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    text: str = strawberry.field(description="1 to 4000 characters.")
    attachments: list[Upload] | None = strawberry.field(
        default=None,
        description="Files (GraphQL multipart request spec): at most 5 PDF, JPEG or PNG "
        "files of at most 10 MB each.",
    )


@strawberry.input(description="Assign a case to staff who handle cases.")
class AssignServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    assignee_id: strawberry.ID = strawberry.field(
        description="A staff member's user id; they must hold cases:manage."
    )


@strawberry.input(description="Escalate a case to level 2 (the supervisors).")
class EscalateServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    reason: str = strawberry.field(description="1 to 500 characters.")
    supervisor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Assign it to this supervisor (must hold cases:manage)."
    )


@strawberry.input(description="Close a case.")
class CloseServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    resolution: str = strawberry.field(description="1 to 2000 characters.")


@strawberry.input(description="Reopen your closed case.")
class ReopenServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    text: str = strawberry.field(description="Why, 1 to 4000 characters.")


@strawberry.input(description="Rate how your closed case was handled.")
class RateServiceCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")


@strawberry.type(description="The case as it is now.")
class ServiceCaseSaved:
    case: ServiceCase = strawberry.field(description="The case.")


OpenServiceCaseErrorCode = error_codes(
    "OpenServiceCase",
    ["INVALID", "NOT_FOUND", *_FILE_CODES],
    "Why the case was not opened: INVALID (subject, text; a loan or movement on a kind "
    "other than DISPUTE), NOT_FOUND (the loan or movement is not yours), and the files' "
    "codes on `attachments`.",
)
OpenServiceCaseError = error_type(
    "OpenServiceCase", OpenServiceCaseErrorCode, "Nothing was changed."
)
OpenServiceCaseResult = Annotated[
    ServiceCaseSaved | OpenServiceCaseError, strawberry.union("OpenServiceCaseResult")
]


AnswerServiceCaseErrorCode = error_codes(
    "AnswerServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_CLOSED", *_FILE_CODES],
    "Why the answer was not added: INVALID (text), NOT_FOUND (no such case of yours), "
    "CASE_CLOSED (reopen it first), and the files' codes on `attachments`.",
)
AnswerServiceCaseError = error_type(
    "AnswerServiceCase", AnswerServiceCaseErrorCode, "Nothing was changed."
)
AnswerServiceCaseResult = Annotated[
    ServiceCaseSaved | AnswerServiceCaseError, strawberry.union("AnswerServiceCaseResult")
]


AssignServiceCaseErrorCode = error_codes(
    "AssignServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_CLOSED", "ASSIGNEE_NOT_CASE_STAFF"],
    "Why the case was not assigned.",
)
AssignServiceCaseError = error_type(
    "AssignServiceCase", AssignServiceCaseErrorCode, "Nothing was changed."
)
AssignServiceCaseResult = Annotated[
    ServiceCaseSaved | AssignServiceCaseError, strawberry.union("AssignServiceCaseResult")
]


EscalateServiceCaseErrorCode = error_codes(
    "EscalateServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_CLOSED", "ALREADY_ESCALATED", "ASSIGNEE_NOT_CASE_STAFF"],
    "Why the case was not escalated.",
)
EscalateServiceCaseError = error_type(
    "EscalateServiceCase", EscalateServiceCaseErrorCode, "Nothing was changed."
)
EscalateServiceCaseResult = Annotated[
    ServiceCaseSaved | EscalateServiceCaseError, strawberry.union("EscalateServiceCaseResult")
]


CloseServiceCaseErrorCode = error_codes(
    "CloseServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_CLOSED"],
    "Why the case was not closed.",
)
CloseServiceCaseError = error_type(
    "CloseServiceCase", CloseServiceCaseErrorCode, "Nothing was changed."
)
CloseServiceCaseResult = Annotated[
    ServiceCaseSaved | CloseServiceCaseError, strawberry.union("CloseServiceCaseResult")
]


ReopenServiceCaseErrorCode = error_codes(
    "ReopenServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_NOT_CLOSED", "REOPEN_PERIOD_OVER"],
    "Why the case was not reopened (REOPEN_PERIOD_OVER: closed more than cases.reopenDays ago).",
)
ReopenServiceCaseError = error_type(
    "ReopenServiceCase", ReopenServiceCaseErrorCode, "Nothing was changed."
)
ReopenServiceCaseResult = Annotated[
    ServiceCaseSaved | ReopenServiceCaseError, strawberry.union("ReopenServiceCaseResult")
]


RateServiceCaseErrorCode = error_codes(
    "RateServiceCase",
    ["INVALID", "NOT_FOUND", "CASE_NOT_CLOSED", "ALREADY_RATED"],
    "Why the rating was not recorded.",
)
RateServiceCaseError = error_type(
    "RateServiceCase", RateServiceCaseErrorCode, "Nothing was changed."
)
RateServiceCaseResult = Annotated[
    ServiceCaseSaved | RateServiceCaseError, strawberry.union("RateServiceCaseResult")
]
