"""Staff handling of service cases (M5.3), all for staff with `cases:manage` (gate 1):

- `assign`: to a staff member who holds `cases:manage` (ASSIGNEE_NOT_CASE_STAFF
  otherwise); they get a notice. Not on a CLOSED case (CASE_CLOSED).
- `escalate`: level 1 to level 2 (the supervisors' queue: `serviceCases(level: 2)`),
  with a reason, optionally assigned to a named supervisor (who must hold
  `cases:manage`); once only (ALREADY_ESCALATED). The SLA clock is not changed:
  escalating does not buy time.
- `close`: with a resolution (1-2000 characters): the clock stops, the member gets it
  by notice, SMS and e-mail and may reopen within `cases.reopenDays`. Closing counts as
  the first answer when no answer came before.

Each action is an ACTION entry in the case's history, with who did it.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models.cases import CaseStatus, EntryKind, ServiceCase
from services.cases import access, notices
from services.cases.cases import stop_wait, write
from services.errors import DomainError
from services.identity.permissions import Actor
from services.platform import clock, outbox


async def _open_case(actor: Actor, case_id: int) -> ServiceCase:
    case = await access.get_visible(actor, case_id, lock=True)
    if case.status == CaseStatus.CLOSED:
        raise DomainError("The case is closed", code="CASE_CLOSED", field="caseId")
    return case


async def _check_assignee(user_id: int, field: str) -> None:
    if user_id not in await notices.case_staff():
        raise DomainError(
            "The assignee must be active staff with cases:manage",
            code="ASSIGNEE_NOT_CASE_STAFF",
            field=field,
        )


async def assign(*, actor: Actor, case_id: int, assignee_id: int) -> ServiceCase:
    """Assign the case; see the module docstring. NotFoundError, DomainError CASE_CLOSED
    or ASSIGNEE_NOT_CASE_STAFF."""
    assert actor.user_id is not None
    await _check_assignee(assignee_id, "assigneeId")
    now = await clock.now()
    async with in_transaction():
        case = await _open_case(actor, case_id)
        case.assignee_id = assignee_id
        case.updated_at = now
        await case.save(update_fields=["assignee_id", "updated_at"])
        await write(case, EntryKind.ACTION, actor.user_id, f"Assigned to staff {assignee_id}", now)
        await notices.tell_staff(
            case,
            kind="SERVICE_CASE_ASSIGNED",
            title=f"Case {case.id} assigned to you",
            body=f"{case.kind} {case.id}: {case.subject}",
        )
    outbox.wake()  # committed: the notices go out now
    return case


async def escalate(
    *, actor: Actor, case_id: int, reason: str, supervisor_id: int | None = None
) -> ServiceCase:
    """Escalate the case to level 2; see the module docstring. NotFoundError,
    DomainError CASE_CLOSED, ALREADY_ESCALATED or ASSIGNEE_NOT_CASE_STAFF,
    InvalidInputError (reason)."""
    assert actor.user_id is not None
    reason = access.text(reason, "reason", access.REASON_MOST)
    if supervisor_id is not None:
        await _check_assignee(supervisor_id, "supervisorId")
    now = await clock.now()
    async with in_transaction():
        case = await _open_case(actor, case_id)
        if case.level >= 2:
            raise DomainError("The case is escalated already", code="ALREADY_ESCALATED")
        case.level = 2
        if supervisor_id is not None:
            case.assignee_id = supervisor_id
        case.updated_at = now
        await case.save(update_fields=["level", "assignee_id", "updated_at"])
        await write(case, EntryKind.ACTION, actor.user_id, f"Escalated to level 2: {reason}", now)
        await notices.tell_staff(
            case,
            kind="SERVICE_CASE_ESCALATED",
            title=f"Case {case.id} escalated",
            body=f"{case.kind} {case.id}: {case.subject}. {reason}",
        )
    outbox.wake()  # committed: the notices go out now
    return case


async def close(*, actor: Actor, case_id: int, resolution: str) -> ServiceCase:
    """Close the case with its resolution; see the module docstring. NotFoundError,
    DomainError CASE_CLOSED, InvalidInputError (resolution)."""
    assert actor.user_id is not None
    resolution = access.text(resolution, "resolution", access.RESOLUTION_MOST)
    now = await clock.now()
    async with in_transaction():
        case = await _open_case(actor, case_id)
        case.status = CaseStatus.CLOSED
        stop_wait(case)
        if case.first_answered_at is None:
            case.first_answered_at = now
            case.first_answer_seconds = int((now - case.opened_at).total_seconds())
        if case.assignee_id is None:
            case.assignee_id = actor.user_id
        case.closed_at = now
        case.resolution = resolution
        case.updated_at = now
        await case.save()
        await write(case, EntryKind.ACTION, actor.user_id, f"Closed: {resolution}", now)
        await notices.tell_member(
            case,
            kind="SERVICE_CASE_CLOSED",
            title=f"Case {case.id} closed",
            body=f"Your case {case.id} ({case.subject}) is closed: {resolution[:200]}",
        )
    outbox.wake()  # committed: the notices go out now
    return case
