"""Service cases (issue 22, M5.3): members open, answer, reopen and rate theirs; case
staff see all, answer, assign, escalate and close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import Info

from models.cases import CaseAttachment, CaseKind, CaseStatus, ServiceCase
from resolvers.ids import number_of
from resolvers.uploads import read_upload
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.types import cases as t
from services.cases import attachments, cases, handling
from services.cases.cases import CaseView
from services.errors import DomainError, NotFoundError, PermissionDeniedError
from services.platform import clock

_BIGGEST_ID = 2**63 - 1


def _id(value: strawberry.ID, field: str) -> int:
    number = number_of(value, field)
    if number > _BIGGEST_ID:
        raise NotFoundError("Not found", field=field)
    return number


def _wanted(value: strawberry.ID | None, field: str) -> int | None:
    """A filter's id; 0 (which no row has) for an id that cannot exist, so the filter
    matches nothing (and the caller's permission is still checked)."""
    if value is None:
        return None
    try:
        return _id(value, field)
    except NotFoundError:
        return 0


def _forbidden(error: PermissionDeniedError) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(error.message, extensions={"code": "FORBIDDEN"})


def _attachment(row: CaseAttachment) -> t.ServiceCaseAttachment:
    async def check() -> bool:
        return await attachments.check(row) is None

    return t.ServiceCaseAttachment(
        id=strawberry.ID(str(row.id)),
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        uploaded_at=row.created_at,
        check=check,
    )


def _sla(case: ServiceCase, now: datetime) -> t.ServiceCaseSla:
    if case.status != CaseStatus.OPEN or case.due_at is None:
        return t.ServiceCaseSla.NOT_WAITING
    if now >= case.due_at:
        return t.ServiceCaseSla.BREACHED
    if case.warn_at is not None and now >= case.warn_at:
        return t.ServiceCaseSla.NEAR_BREACH
    return t.ServiceCaseSla.ON_TIME


def _optional_id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def _case(view: CaseView, now: datetime) -> t.ServiceCase:
    case = view.case
    return t.ServiceCase(
        id=strawberry.ID(str(case.id)),
        member_id=strawberry.ID(str(case.member_id)),
        kind=t.ServiceCaseKind(str(case.kind)),
        subject=case.subject,
        status=t.ServiceCaseStatus(str(case.status)),
        level=case.level,
        assignee_id=_optional_id(case.assignee_id),
        loan_id=_optional_id(case.loan_id),
        movement_id=_optional_id(case.movement_id),
        opened_at=case.opened_at,
        due_at=case.due_at,
        sla=_sla(case, now),
        breaches=case.breaches,
        first_answered_at=case.first_answered_at,
        closed_at=case.closed_at,
        resolution=case.resolution if case.status == CaseStatus.CLOSED else None,
        reopened=case.reopened,
        rating=case.rating,
        messages=[
            t.ServiceCaseMessage(
                id=strawberry.ID(str(row.id)),
                entry=t.ServiceCaseEntry(str(row.entry)),
                author_id=strawberry.ID(str(row.author_id)),
                text=row.text,
                created_at=row.created_at,
                attachments=[_attachment(file) for file in view.attachments.get(row.id, [])],
            )
            for row in view.messages
        ],
    )


async def _saved(case: ServiceCase) -> t.ServiceCaseSaved:
    (view,) = await cases.views([case])
    return t.ServiceCaseSaved(case=_case(view, await clock.now()))


async def service_cases(
    info: Info,
    case_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this case.")
    ] = None,
    status: Annotated[
        t.ServiceCaseStatus | None, strawberry.argument(description="Only cases in this status.")
    ] = None,
    kind: Annotated[
        t.ServiceCaseKind | None, strawberry.argument(description="Only cases of this kind.")
    ] = None,
    assignee_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only cases assigned to this staff member."),
    ] = None,
    level: Annotated[
        int | None, strawberry.argument(description="Only cases at this level (2: escalated).")
    ] = None,
    breaching: Annotated[
        bool | None,
        strawberry.argument(
            description="true: only cases waiting for the platform past their SLA now; "
            "false: only the others."
        ),
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="Page size: 20 unless given, at most 100.")
    ] = 20,
    after: Annotated[
        str | None,
        strawberry.argument(description="The endCursor of the page before (newest first)."),
    ] = None,
) -> Connection[t.ServiceCase]:
    size = clamp_first(first)
    before_id = cursor_key(after)
    if before_id is not None:
        before_id = min(before_id, _BIGGEST_ID)  # a forged cursor past any id: from the top
    where = cases.CaseFilter(
        case_id=_wanted(case_id, "caseId"),
        status=CaseStatus(status.value) if status is not None else None,
        kind=CaseKind(kind.value) if kind is not None else None,
        assignee_id=_wanted(assignee_id, "assigneeId"),
        level=level,
        breaching=breaching,
    )
    try:
        rows, total = await cases.list_cases(
            actor=await info.context.get_actor(), where=where, first=size + 1, before_id=before_id
        )
    except PermissionDeniedError as error:
        raise _forbidden(error) from error
    now = await clock.now()
    shaped = {view.case.id: _case(view, now) for view in await cases.views(rows[:size])}
    return build_connection(
        rows,
        first=size,
        total=total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: shaped[row.id],
    )


async def _run(
    action: Callable[[], Awaitable[ServiceCase]], error_type: Any
) -> t.ServiceCaseSaved | Any:
    """Run a service action: the saved case, or the typed error (FORBIDDEN on top)."""
    try:
        case = await action()
    except PermissionDeniedError as error:
        raise _forbidden(error) from error
    except DomainError as error:
        return error_type.from_domain(error)
    return await _saved(case)


async def open_service_case(info: Info, input: t.OpenServiceCaseInput) -> t.OpenServiceCaseResult:
    async def action() -> ServiceCase:
        return await cases.open_case(
            actor=await info.context.get_actor(),
            kind=CaseKind(input.kind.value),
            subject=input.subject,
            text=input.text,
            files=[await read_upload(upload) for upload in input.attachments or ()],
            loan_id=_id(input.loan_id, "loanId") if input.loan_id is not None else None,
            movement_id=(
                _id(input.movement_id, "movementId") if input.movement_id is not None else None
            ),
        )

    return await _run(action, t.OpenServiceCaseError)


async def answer_service_case(
    info: Info, input: t.AnswerServiceCaseInput
) -> t.AnswerServiceCaseResult:
    async def action() -> ServiceCase:
        return await cases.answer(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            text=input.text,
            files=[await read_upload(upload) for upload in input.attachments or ()],
        )

    return await _run(action, t.AnswerServiceCaseError)


async def assign_service_case(
    info: Info, input: t.AssignServiceCaseInput
) -> t.AssignServiceCaseResult:
    async def action() -> ServiceCase:
        return await handling.assign(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            assignee_id=_id(input.assignee_id, "assigneeId"),
        )

    return await _run(action, t.AssignServiceCaseError)


async def escalate_service_case(
    info: Info, input: t.EscalateServiceCaseInput
) -> t.EscalateServiceCaseResult:
    async def action() -> ServiceCase:
        return await handling.escalate(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            reason=input.reason,
            supervisor_id=(
                _id(input.supervisor_id, "supervisorId")
                if input.supervisor_id is not None
                else None
            ),
        )

    return await _run(action, t.EscalateServiceCaseError)


async def close_service_case(
    info: Info, input: t.CloseServiceCaseInput
) -> t.CloseServiceCaseResult:
    async def action() -> ServiceCase:
        return await handling.close(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            resolution=input.resolution,
        )

    return await _run(action, t.CloseServiceCaseError)


async def reopen_service_case(
    info: Info, input: t.ReopenServiceCaseInput
) -> t.ReopenServiceCaseResult:
    async def action() -> ServiceCase:
        return await cases.reopen(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            text=input.text,
        )

    return await _run(action, t.ReopenServiceCaseError)


async def rate_service_case(info: Info, input: t.RateServiceCaseInput) -> t.RateServiceCaseResult:
    async def action() -> ServiceCase:
        return await cases.rate(
            actor=await info.context.get_actor(),
            case_id=_id(input.case_id, "caseId"),
            rating=input.rating,
        )

    return await _run(action, t.RateServiceCaseError)
