"""Customer service (issue 22): the customer list, a member's file, account status."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.customers import AccountStatusChange
from models.customers import DataDeletionRequest as DeletionRequestRow
from models.members import UserStatus
from resolvers.identity.access import decode_user_id
from resolvers.ids import number_of
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money, Rate
from schema.types import customers as t
from schema.types.identity.members import UserNode, UserStatusEnum
from services.customers import file as customer_file
from services.customers import listing, member_data, status
from services.errors import DomainError


def _customer(row: listing.CustomerRow) -> t.Customer:
    return t.Customer(
        user=UserNode.from_model(row.user),
        real_name_masked=row.real_name_masked,
        id_number_masked=row.id_number_masked,
        grade=row.grade,
        available=Money(row.available_fen),
        frozen=Money(row.frozen_fen),
        withdrawing=Money(row.withdrawing_fen),
        open_loans=row.open_loans,
        overdue_loans=row.overdue_loans,
    )


def _user_id(user_id: int) -> strawberry.ID:
    return strawberry.ID(str(relay.to_base64("User", user_id)))


def _change(row: AccountStatusChange) -> t.AccountStatusChange:
    return t.AccountStatusChange(
        id=strawberry.ID(str(row.id)),
        user_id=_user_id(row.user_id),
        from_status=UserStatusEnum(str(row.from_status)),
        to_status=UserStatusEnum(str(row.to_status)),
        reason=row.reason,
        state=t.AccountStatusChangeState(str(row.state)),
        proposed_by_id=_user_id(row.proposed_by_id),
        decided_by_id=_user_id(row.decided_by_id) if row.decided_by_id else None,
        decision_reason=row.decision_reason,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def _deletion(row: DeletionRequestRow) -> t.DataDeletionRequest:
    return t.DataDeletionRequest(
        id=strawberry.ID(str(row.id)),
        requested_at=row.created_at,
        reason=row.reason,
        answer=row.answer,
        loans_running=row.loans_running,
        retained_until=row.retained_until,
    )


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise BadUserInputError("Give a date as YYYY-MM-DD", field=field) from error


async def customers(
    info: Info,
    filter: Annotated[
        t.CustomerFilterInput | None, strawberry.argument(description="Which members.")
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="Page size: 20 unless given, at most 100.")
    ] = 20,
    after: Annotated[
        str | None,
        strawberry.argument(description="The endCursor of the page before (newest first)."),
    ] = None,
) -> Connection[t.Customer]:
    actor = await info.context.get_actor()
    size = clamp_first(first)
    before_id = cursor_key(after)
    given = filter or t.CustomerFilterInput()
    wanted = listing.CustomerFilter(
        search=given.search,
        status=UserStatus(given.status.value) if given.status is not None else None,
        grade=given.grade,
        registered_from=_day(given.registered_from, "registeredFrom"),
        registered_to=_day(given.registered_to, "registeredTo"),
        has_overdue=given.has_overdue,
    )
    try:
        page = await listing.customers(
            actor=actor, wanted=wanted, first=size + 1, before_id=before_id
        )
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=before_id is not None,
        key=lambda row: row.user.id,
        node=_customer,
    )


def _file(found: customer_file.CustomerFile) -> t.CustomerFile:
    credit = found.credit
    return t.CustomerFile(
        customer=_customer(found.row),
        credit=t.CustomerCredit(
            score=credit.score,
            grade=credit.grade,
            limit=Money(credit.limit_fen),
            used=Money(credit.used_fen),
            frozen=credit.frozen,
        )
        if credit
        else None,
        loans=t.CustomerLoans(
            nodes=[
                t.CustomerLoan(
                    id=strawberry.ID(str(loan.id)),
                    amount=Money(loan.amount_fen),
                    annual_rate=Rate(Decimal(loan.annual_rate)),
                    term_months=loan.term_months,
                    status=str(loan.status),
                    created_at=loan.created_at,
                )
                for loan in found.loans.rows
            ],
            total_count=found.loans.total,
        ),
        claims=t.CustomerClaims(
            nodes=[
                t.CustomerClaim(
                    id=strawberry.ID(str(claim.id)),
                    loan_id=strawberry.ID(str(claim.loan_id)),
                    principal=Money(claim.principal_fen),
                    bought=claim.bid_id is None,
                    created_at=claim.created_at,
                )
                for claim in found.claims.rows
            ],
            total_count=found.claims.total,
        ),
        contracts=t.CustomerContracts(
            nodes=[
                t.CustomerContract(
                    id=strawberry.ID(str(contract.id)),
                    number=contract.number,
                    kind=str(contract.kind),
                    title=contract.title,
                    status=str(contract.status),
                    created_at=contract.created_at,
                )
                for contract in found.contracts.rows
            ],
            total_count=found.contracts.total,
        ),
        notices=t.CustomerNotices(
            nodes=[
                t.CustomerNotice(
                    kind=notice.kind,
                    title=notice.title,
                    created_at=notice.created_at,
                    read=notice.read_at is not None,
                )
                for notice in found.notices.rows
            ],
            total_count=found.notices.total,
        ),
        cases=t.CustomerCases(
            nodes=[
                t.CustomerCase(
                    id=strawberry.ID(str(case.id)),
                    kind=str(case.kind),
                    subject=case.subject,
                    status=str(case.status),
                    level=case.level,
                    opened_at=case.opened_at,
                    breached=case.breaches > 0,
                )
                for case in found.cases.rows
            ],
            total_count=found.cases.total,
        ),
        messages=t.CustomerMessages(
            nodes=[
                t.CustomerMessage(
                    channel=str(message.channel),
                    recipient_masked=message.recipient_masked,
                    subject=message.subject,
                    status=str(message.status),
                    created_at=message.created_at,
                )
                for message in found.messages.rows
            ],
            total_count=found.messages.total,
        ),
        status_changes=[_change(row) for row in found.status_changes],
        deletion_requests=[_deletion(row) for row in found.deletion_requests],
    )


async def customer(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The member (a User id).")],
) -> t.CustomerFile | None:
    actor = await info.context.get_actor()
    try:
        found = await customer_file.file_of(actor=actor, user_id=decode_user_id(id, field="id"))
    except DomainError:
        return None
    return _file(found)


def _blocked(kind: Any, codes: Any, error: status.CloseBlockedError) -> Any:
    """The error type `kind` (CLOSE_BLOCKED of `codes`) listing what blocks the closure."""
    return kind(
        message=error.message,
        field=error.field,
        code=codes.CLOSE_BLOCKED,
        blockers=[
            t.CloseBlocker(kind=blocker.kind, count=blocker.count, detail=blocker.detail)
            for blocker in error.blockers
        ],
    )


async def set_account_status(
    info: Info, input: t.SetAccountStatusInput
) -> t.SetAccountStatusResult:
    actor = await info.context.get_actor()
    try:
        change = await status.set_status(
            actor=actor,
            user_id=decode_user_id(input.user_id),
            status=UserStatus(input.status.value),
            reason=input.reason,
        )
    except status.CloseBlockedError as error:
        return _blocked(t.AccountCloseBlocked, t.SetAccountStatusErrorCode, error)
    except DomainError as error:
        return t.SetAccountStatusError.from_domain(error)
    return t.AccountStatusSet(change=_change(change))


async def decide_account_status_change(
    info: Info, input: t.DecideAccountStatusChangeInput
) -> t.DecideAccountStatusChangeResult:
    actor = await info.context.get_actor()
    try:
        change = await status.decide(
            actor=actor,
            change_id=number_of(input.change_id, "changeId", what="No such change waiting"),
            approve=input.approve,
            reason=input.reason,
        )
    except status.CloseBlockedError as error:
        return _blocked(t.AccountCloseStillBlocked, t.DecideAccountStatusChangeErrorCode, error)
    except DomainError as error:
        return t.DecideAccountStatusChangeError.from_domain(error)
    return t.AccountStatusSet(change=_change(change))


async def pending_account_status_changes(
    info: Info,
    first: Annotated[
        int | None, strawberry.argument(description="Page size: 20 unless given, at most 100.")
    ] = 20,
    after: Annotated[
        str | None,
        strawberry.argument(description="The endCursor of the page before (newest first)."),
    ] = None,
) -> Connection[t.AccountStatusChange]:
    size = clamp_first(first)
    before_id = cursor_key(after)
    rows = await status.pending(first=size + 1, before_id=before_id)
    return build_connection(
        rows,
        first=size,
        total=await status.pending_count(),
        has_previous=before_id is not None,
        key=lambda row: row.id,
        node=_change,
    )


async def request_data_deletion(
    info: Info, input: t.RequestDataDeletionInput | None = None
) -> t.RequestDataDeletionResult:
    actor = await info.context.get_actor()
    try:
        answer = await member_data.request_deletion(
            actor=actor, reason=input.reason if input else ""
        )
    except DomainError as error:
        return t.RequestDataDeletionError.from_domain(error)
    return t.DataDeletionRequested(
        request=_deletion(answer.request),
        retained=[t.RetainedRecords(kind=row.kind, until=row.until) for row in answer.retained],
    )
