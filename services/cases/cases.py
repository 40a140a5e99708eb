"""Opening and answering service cases (M5.3).

- `open_case` (a member): kind, subject (1-200 characters), text (1-4000), up to 5
  files; for a dispute optionally the loan or the movement (a posting of
  `myTransactions`) it is about, which must be the member's own (a loan they borrowed
  or hold a claim in): NOT_FOUND otherwise, never telling whether it exists. The case
  starts OPEN, waiting for the platform: its SLA clock runs (services/cases/policy.py).
- `answer`: the member on their own case (another member's is NOT_FOUND) or staff with
  `cases:manage` on any (other staff: FORBIDDEN); never on a CLOSED case
  (CASE_CLOSED: reopen it). A staff answer stops the clock (ANSWERED), is the case's
  first answer if none came before, assigns the case to its author when unassigned, and
  goes to the member by notice, SMS and e-mail. A member's answer to an ANSWERED case
  starts a new wait (OPEN, a new SLA clock); to an OPEN one it joins the wait.
- `reopen` (the member): a CLOSED case until the end of the `cases.reopenDays`-th
  business day after the day it closed (REOPEN_PERIOD_OVER after), with a text: OPEN
  again, a new wait, its rating cleared.
- `rate` (the member): 1 to 5 on a CLOSED case, once per closing (ALREADY_RATED).

Every message is a new `service_case_messages` row: nothing edits or deletes one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.bids import Claim
from models.cases import (
    CaseAttachment,
    CaseKind,
    CaseMessage,
    CaseStatus,
    EntryKind,
    ServiceCase,
)
from models.ledger import Posting
from models.loans import Loan
from services.cases import access, attachments, notices, policy
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.kit import uploads
from services.kit.uploads import UploadedFile
from services.platform import clock, outbox, parameters


@dataclass(frozen=True)
class CaseView:
    case: ServiceCase
    messages: list[CaseMessage]
    attachments: dict[int, list[CaseAttachment]] = field(default_factory=dict)  # by message


def start_wait(case: ServiceCase, now: datetime, warn_at: datetime, due_at: datetime) -> None:
    """The case waits for the platform from `now`: a new SLA clock, nothing notified."""
    case.status = CaseStatus.OPEN
    case.waiting_since = now
    case.warn_at = warn_at
    case.due_at = due_at
    case.warned_at = None
    case.breached_at = None


def stop_wait(case: ServiceCase) -> None:
    """The platform answered (or closed): no SLA clock runs."""
    case.waiting_since = None
    case.warn_at = None
    case.due_at = None


async def write(
    case: ServiceCase, entry: EntryKind, author_id: int, text: str, at: datetime
) -> CaseMessage:
    """Append an entry to the case's history (in the caller's transaction)."""
    return await CaseMessage.create(
        case_id=case.id, entry=entry, author_id=author_id, text=text, created_at=at
    )


async def _check_reference(
    member_id: int, kind: CaseKind, loan_id: int | None, movement_id: int | None
) -> None:
    if (loan_id is not None or movement_id is not None) and kind != CaseKind.DISPUTE:
        raise InvalidInputError("Only a dispute names a loan or a movement", field="loanId")
    if loan_id is not None:
        loan = await Loan.get_or_none(id=loan_id)
        mine = loan is not None and (
            loan.borrower_id == member_id
            or await Claim.filter(loan_id=loan_id, holder_id=member_id).exists()
        )
        if not mine:
            raise NotFoundError("No such loan of yours", field="loanId")
    if (
        movement_id is not None
        and not await Posting.filter(id=movement_id, account__user_id=member_id).exists()
    ):
        raise NotFoundError("No such movement of yours", field="movementId")


async def open_case(
    *,
    actor: Actor,
    kind: CaseKind,
    subject: str,
    text: str,
    files: Sequence[UploadedFile] = (),
    loan_id: int | None = None,
    movement_id: int | None = None,
) -> ServiceCase:
    """Open a case for the member; see the module docstring. PermissionDeniedError (not
    a member), InvalidInputError (texts; UploadRefusedError for the files),
    NotFoundError (a loan or movement not the member's)."""
    access.require_member(actor)
    assert actor.user_id is not None
    subject = access.text(subject, "subject", access.SUBJECT_MOST)
    text = access.text(text, "text", access.TEXT_MOST)
    await _check_reference(actor.user_id, kind, loan_id, movement_id)
    cleaned = attachments.clean(files)
    now = await clock.now()
    warn_at, due_at = await policy.clock_for(kind, now)
    async with uploads.store(cleaned) as stored, in_transaction():
        case = ServiceCase(
            member_id=actor.user_id,
            kind=kind,
            subject=subject,
            loan_id=loan_id,
            movement_id=movement_id,
            opened_at=now,
            updated_at=now,
        )
        start_wait(case, now, warn_at, due_at)
        await case.save()
        message = await write(case, EntryKind.MEMBER, actor.user_id, text, now)
        await attachments.record(
            stored, case_id=case.id, message_id=message.id, uploader_id=actor.user_id, at=now
        )
    return case


async def answer(
    *, actor: Actor, case_id: int, text: str, files: Sequence[UploadedFile] = ()
) -> ServiceCase:
    """Add the actor's answer to a case; see the module docstring. PermissionDeniedError
    (staff without cases:manage), NotFoundError, DomainError CASE_CLOSED,
    InvalidInputError (text; UploadRefusedError for the files)."""
    access.require_reader(actor)
    assert actor.user_id is not None
    staff = access.is_staff(actor)
    text = access.text(text, "text", access.TEXT_MOST)
    cleaned = attachments.clean(files)
    now = await clock.now()
    async with uploads.store(cleaned) as stored, in_transaction():
        case = await access.get_visible(actor, case_id, lock=True)
        if case.status == CaseStatus.CLOSED:
            raise DomainError("The case is closed", code="CASE_CLOSED", field="caseId")
        if staff:
            case.status = CaseStatus.ANSWERED
            stop_wait(case)
            if case.first_answered_at is None:
                case.first_answered_at = now
                case.first_answer_seconds = int((now - case.opened_at).total_seconds())
            if case.assignee_id is None:
                case.assignee_id = actor.user_id
        elif case.status == CaseStatus.ANSWERED:
            start_wait(case, now, *await policy.clock_for(case.kind, now))
        case.updated_at = now
        await case.save()
        entry = EntryKind.STAFF if staff else EntryKind.MEMBER
        message = await write(case, entry, actor.user_id, text, now)
        await attachments.record(
            stored, case_id=case.id, message_id=message.id, uploader_id=actor.user_id, at=now
        )
        if staff:
            await notices.tell_member(
                case,
                kind="SERVICE_CASE_ANSWERED",
                title=f"Case {case.id} answered",
                body=f"Your case {case.id} ({case.subject}) has an answer: {text[:200]}",
            )
    if staff:
        outbox.wake()  # committed: the notice, SMS and e-mail go out now
    return case


async def reopen(*, actor: Actor, case_id: int, text: str) -> ServiceCase:
    """The member reopens their CLOSED case within cases.reopenDays of its closing.
    NotFoundError, DomainError CASE_NOT_CLOSED or REOPEN_PERIOD_OVER, InvalidInputError."""
    access.require_member(actor)
    assert actor.user_id is not None
    text = access.text(text, "text", access.TEXT_MOST)
    now = await clock.now()
    days = (await parameters.get(policy.REOPEN_DAYS)).days
    async with in_transaction():
        case = await access.get_own(actor, case_id, lock=True)
        if case.status != CaseStatus.CLOSED or case.closed_at is None:
            raise DomainError("The case is not closed", code="CASE_NOT_CLOSED", field="caseId")
        if now.date() > case.closed_at.date() + timedelta(days=days):
            raise DomainError(
                f"A case may be reopened within {days} days of its closing",
                code="REOPEN_PERIOD_OVER",
                field="caseId",
            )
        start_wait(case, now, *await policy.clock_for(case.kind, now))
        case.closed_at = None
        case.rating = None
        case.reopened += 1
        case.updated_at = now
        await case.save()
        await write(case, EntryKind.ACTION, actor.user_id, "Reopened", now)
        await write(case, EntryKind.MEMBER, actor.user_id, text, now)
    return case


async def rate(*, actor: Actor, case_id: int, rating: int) -> ServiceCase:
    """The member rates how their CLOSED case was handled, 1 to 5, once per closing.
    NotFoundError, DomainError CASE_NOT_CLOSED or ALREADY_RATED, InvalidInputError."""
    access.require_member(actor)
    assert actor.user_id is not None
    if not 1 <= rating <= 5:
        raise InvalidInputError("A rating is 1 to 5", field="rating")
    now = await clock.now()
    async with in_transaction():
        case = await access.get_own(actor, case_id, lock=True)
        if case.status != CaseStatus.CLOSED:
            raise DomainError("The case is not closed", code="CASE_NOT_CLOSED", field="caseId")
        if case.rating is not None:
            raise DomainError("The case is rated already", code="ALREADY_RATED", field="caseId")
        case.rating = rating
        case.updated_at = now
        await case.save(update_fields=["rating", "updated_at"])
        await write(case, EntryKind.ACTION, actor.user_id, f"Rated {rating} of 5", now)
    return case


async def views(cases: Sequence[ServiceCase]) -> list[CaseView]:
    """The cases with their messages and attachments (two statements for any number)."""
    ids = [case.id for case in cases]
    messages: dict[int, list[CaseMessage]] = defaultdict(list)
    if ids:
        for row in await CaseMessage.filter(case_id__in=ids).order_by("id"):
            messages[row.case_id].append(row)
    files = await attachments.by_message(ids)
    return [CaseView(case, messages[case.id], files) for case in cases]


@dataclass(frozen=True)
class CaseFilter:
    case_id: int | None = None
    status: CaseStatus | None = None
    kind: CaseKind | None = None
    assignee_id: int | None = None
    level: int | None = None
    breaching: bool | None = None  # waiting past its SLA now (True) or not (False)


async def list_cases(
    *, actor: Actor, where: CaseFilter, first: int, before_id: int | None = None
) -> tuple[list[ServiceCase], int]:
    """The cases the actor may see (members their own, case staff all; anyone else
    PermissionDeniedError), newest first, `first` rows before `before_id`; and how many
    match in all."""
    query = access.visible(actor)
    if where.case_id is not None:
        query = query.filter(id=where.case_id)
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.kind is not None:
        query = query.filter(kind=where.kind)
    if where.assignee_id is not None:
        query = query.filter(assignee_id=where.assignee_id)
    if where.level is not None:
        query = query.filter(level=where.level)
    if where.breaching is not None:
        now = await clock.now()
        late = Q(status=CaseStatus.OPEN) & Q(due_at__lte=now)
        on_time = Q(status__not=CaseStatus.OPEN) | Q(due_at__isnull=True) | Q(due_at__gt=now)
        query = query.filter(late if where.breaching else on_time)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return list(await query.order_by("-id").limit(first)), total
