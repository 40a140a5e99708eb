"""The overdue list, collection records, collectors and overdue events (M9.3, M9.4)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.loans import LoanStatus
from models.members import User
from models.repayments import CollectionKind
from models.repayments import CollectionRecord as CollectionRecordRow
from resolvers.identity.access import decode_user_id
from resolvers.ids import number_of
from schema.errors import BadUserInputError, resync
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money
from schema.types.credit.credit import MemberRef
from schema.types.loans import LoanStatus as LoanStatusType
from schema.types.repayments import collection as t
from services.errors import DomainError
from services.kit.broker import Gap
from services.repayments import collection
from services.repayments.events import overdue_stream
from services.repayments.overdue_policy import Bucket


def _loan_id(value: strawberry.ID) -> int:
    return number_of(value, "loanId", what="No such loan")


def _global_user_id(user_id: int) -> strawberry.ID:
    return strawberry.ID(str(relay.GlobalID("User", str(user_id))))


def _person(user: User) -> MemberRef:
    return MemberRef(
        id=_global_user_id(user.id), display_name=user.display_name, phone=user.phone_masked
    )


def _record(row: CollectionRecordRow) -> t.CollectionRecord:
    return t.CollectionRecord(
        id=strawberry.ID(str(row.id)),
        loan_id=strawberry.ID(str(row.loan_id)),
        collector_id=_global_user_id(row.collector_id),
        kind=t.CollectionKind(CollectionKind(row.kind).value),
        note=row.note,
        promised_amount=Money(row.promised_amount_fen)
        if row.promised_amount_fen is not None
        else None,
        promised_date=row.promised_date,
        created_at=row.created_at,
    )


def _view(row: collection.OverdueLoan) -> t.OverdueLoan:
    return t.OverdueLoan(
        loan_id=strawberry.ID(str(row.loan.id)),
        status=LoanStatusType(LoanStatus(row.loan.status).value),
        amount=Money(row.loan.amount_fen),
        borrower=_person(row.borrower),
        days_overdue=row.days_overdue,
        bucket=t.AgingBucket(row.bucket.value),
        overdue_amount=Money(row.overdue_amount_fen),
        penalty=Money(row.penalty_fen),
        overdue_installments=row.overdue_installments,
        collector=_person(row.collector) if row.collector is not None else None,
    )


async def overdue_loans(
    info: Info,
    filter: t.OverdueLoanFilter | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.OverdueLoan]:
    after_id = cursor_key(after)
    given = filter or t.OverdueLoanFilter()
    collector_id = None
    if given.collector_id is not None:
        try:
            collector_id = decode_user_id(given.collector_id, field="collectorId")
        except DomainError as error:
            raise BadUserInputError(error.message, field="collectorId") from error
    if (
        given.min_amount is not None
        and given.max_amount is not None
        and given.min_amount > given.max_amount
    ):
        raise BadUserInputError("minAmount must not exceed maxAmount", field="minAmount")
    size = clamp_first(first)
    page = await collection.overdue_loans(
        collection.OverdueFilter(
            bucket=Bucket(given.bucket.value) if given.bucket else None,
            min_amount_fen=given.min_amount,
            max_amount_fen=given.max_amount,
            collector_id=collector_id,
        ),
        first=size + 1,
        after_id=after_id,
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.loan.id,
        node=_view,
    )


async def collection_records(info: Info, loan_id: strawberry.ID) -> list[t.CollectionRecord]:
    try:
        number = _loan_id(loan_id)
    except DomainError:
        return []
    return [_record(row) for row in await collection.records(number)]


async def add_collection_record(
    info: Info, input: t.AddCollectionRecordInput
) -> t.AddCollectionRecordResult:
    try:
        row = await collection.add_record(
            await info.context.get_actor(),
            loan_id=_loan_id(input.loan_id),
            kind=CollectionKind(input.kind.value),
            note=input.note,
            promised_amount_fen=input.promised_amount,
            promised_date=input.promised_date,
        )
    except DomainError as error:
        return t.AddCollectionRecordError.from_domain(error)
    return t.CollectionRecordAdded(record=_record(row))


async def assign_collector(info: Info, input: t.AssignCollectorInput) -> t.AssignCollectorResult:
    try:
        collector_id = decode_user_id(input.collector_id, field="collectorId")
    except DomainError:
        return t.AssignCollectorError(
            message="That person is not an active collector",
            field="collectorId",
            code=t.AssignCollectorErrorCode.NOT_A_COLLECTOR,
        )
    try:
        loan = await collection.assign_collector(
            await info.context.get_actor(),
            loan_id=_loan_id(input.loan_id),
            collector_id=collector_id,
        )
    except DomainError as error:
        return t.AssignCollectorError.from_domain(error)
    collector = await User.get(id=collector_id)
    return t.CollectorAssigned(loan_id=strawberry.ID(str(loan.id)), collector=_person(collector))


async def overdue_events(info: Info) -> AsyncGenerator[t.OverdueEvent]:
    async for event in overdue_stream():
        if isinstance(event, Gap):
            yield resync(event)
            continue
        bucket = event.get("bucket")
        yield t.OverdueEvent(
            kind=t.OverdueEventKind(event["kind"]),
            loan_id=strawberry.ID(str(event["loan_id"])),
            installment=event["installment"],
            days=event["days"],
            bucket=t.AgingBucket(bucket) if bucket else None,
            amount=Money(event["amount_fen"]),
            at=datetime.fromisoformat(event["at"]),
        )
