"""Finance: platform accounts, fund transactions, reconciliation, adjustments."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.finance import Adjustment, AdjustmentStatus, BreakState
from models.finance import ReconciliationBreak as BreakRow
from models.finance import ReconciliationRun as RunRow
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money, SignedMoney
from schema.types.money import finance as t
from services import reconciliation
from services.errors import DomainError, NotFoundError
from services.money import adjustments as adjustment_service
from services.money import finance


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def _int_id(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as error:
        raise NotFoundError("No such object", field=field) from error


def _run(row: RunRow) -> t.ReconciliationRun:
    return t.ReconciliationRun(
        id=strawberry.ID(str(row.id)),
        day=row.day,
        status=t.ReconciliationRunStatus(str(row.status)),
        statement_lines=row.statement_lines,
        matched=row.matched,
        in_flight=row.in_flight,
        accounts_checked=row.accounts_checked,
        breaks_found=row.breaks_found,
        breaks_known=row.breaks_known,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _money(value: int | None) -> SignedMoney | None:
    return None if value is None else SignedMoney(value)


def _break(row: BreakRow) -> t.ReconciliationBreak:
    return t.ReconciliationBreak(
        id=strawberry.ID(str(row.id)),
        kind=t.ReconciliationBreakKind(str(row.kind)),
        state=t.ReconciliationBreakState(str(row.state)),
        day=row.day,
        request_id=row.request_id,
        account=row.account,
        platform_amount=_money(row.platform_amount),
        provider_amount=_money(row.provider_amount),
        note=row.note,
        run_id=_id(row.run_id),
        resolved_by=_id(row.resolved_by_id),
        resolution=row.resolution,
        resolved_at=row.resolved_at,
        created_at=row.created_at,
    )


def _adjustment(row: Adjustment) -> t.AdjustmentType:
    return t.AdjustmentType(
        id=strawberry.ID(str(row.id)),
        break_id=_id(row.reconciliation_break_id),
        reason=row.reason,
        entries=[
            t.AdjustmentEntry(account_code=entry["account"], amount=SignedMoney(entry["amount"]))
            for entry in row.entries
        ],
        moves_money=row.moves_money,
        member_consent_operation_id=(
            strawberry.ID(str(row.member_consent_operation_id))
            if row.member_consent_operation_id
            else None
        ),
        status=t.AdjustmentStatus(str(row.status)),
        proposed_by=strawberry.ID(str(row.proposed_by_id)),
        decided_by=_id(row.decided_by_id),
        decision_note=row.decision_note,
        journal_id=_id(row.journal_id),
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def _transaction(item: finance.FundTransaction) -> t.FundTransaction:
    journal = item.journal
    return t.FundTransaction(
        id=strawberry.ID(str(journal.id)),
        kind=journal.kind,
        memo=journal.memo,
        idempotency_key=journal.idempotency_key,
        business_date=journal.business_date,
        created_at=journal.created_at,
        postings=[
            t.FundPosting(
                account_code=line.account,
                amount=SignedMoney(line.amount),
                balance_after=SignedMoney(line.balance_after),
            )
            for line in item.postings
        ],
    )


async def platform_accounts(info: Info) -> t.PlatformAccounts:
    view = await finance.platform_overview()
    return t.PlatformAccounts(
        fee=Money(view.fee),
        risk_reserve=Money(view.risk_reserve),
        guarantee_fund=Money(view.guarantee_fund),
        margin=Money(view.margin),
        members_available=Money(view.members_available),
        members_frozen=Money(view.members_frozen),
        members_withdrawing=Money(view.members_withdrawing),
        held_at_provider=Money(view.held_at_provider),
        suspense=Money(view.suspense),
        as_of=view.as_of,
    )


async def fund_transactions(
    info: Info,
    filter: t.FundTransactionFilter | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.FundTransaction]:
    size = clamp_first(first)
    given = filter or t.FundTransactionFilter()
    try:
        page = await finance.list_fund_transactions(
            filter=finance.FundTransactionFilter(
                kind=given.kind,
                account_code=given.account_code,
                date_from=given.from_,
                date_to=given.to,
            ),
            first=size + 1,
            before_id=cursor_key(after),
        )
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.journal.id,
        node=_transaction,
    )


async def reconciliation_breaks(
    info: Info,
    state: t.ReconciliationBreakState | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.ReconciliationBreak]:
    size = clamp_first(first)
    page = await reconciliation.list_breaks(
        state=BreakState(state.value) if state else None,
        first=size + 1,
        before_id=cursor_key(after),
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=_break,
    )


async def adjustments(
    info: Info,
    status: t.AdjustmentStatus | None = None,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.AdjustmentType]:
    size = clamp_first(first)
    page = await adjustment_service.list_adjustments(
        status=AdjustmentStatus(status.value) if status else None,
        first=size + 1,
        before_id=cursor_key(after),
    )
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=_adjustment,
    )


async def run_reconciliation(
    info: Info, input: t.RunReconciliationInput
) -> t.RunReconciliationResult:
    try:
        run = await reconciliation.run_daily(day=input.day, actor=await info.context.get_actor())
    except DomainError as error:
        return t.RunReconciliationError.from_domain(error)
    return t.ReconciliationRan(run=_run(run))


async def propose_adjustment(
    info: Info, input: t.ProposeAdjustmentInput
) -> t.ProposeAdjustmentResult:
    try:
        row = await adjustment_service.propose_adjustment(
            actor=await info.context.get_actor(),
            break_id=_int_id(input.break_id, "breakId"),
            reason=input.reason,
            entries=[(entry.account_code, int(entry.amount)) for entry in input.entries],
            member_consent_operation_id=input.member_consent_operation_id,
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.ProposeAdjustmentError.from_domain(error)
    return t.AdjustmentProposed(adjustment=_adjustment(row))


async def approve_adjustment(
    info: Info, input: t.ApproveAdjustmentInput
) -> t.ApproveAdjustmentResult:
    try:
        adjustment_id = _int_id(input.adjustment_id, "adjustmentId")
        assert adjustment_id is not None
        row = await adjustment_service.approve_adjustment(
            actor=await info.context.get_actor(), adjustment_id=adjustment_id
        )
    except DomainError as error:
        return t.ApproveAdjustmentError.from_domain(error)
    return t.AdjustmentApproved(adjustment=_adjustment(row))


async def reject_adjustment(info: Info, input: t.RejectAdjustmentInput) -> t.RejectAdjustmentResult:
    try:
        adjustment_id = _int_id(input.adjustment_id, "adjustmentId")
        assert adjustment_id is not None
        row = await adjustment_service.reject_adjustment(
            actor=await info.context.get_actor(), adjustment_id=adjustment_id, reason=input.reason
        )
    except DomainError as error:
        return t.RejectAdjustmentError.from_domain(error)
    return t.AdjustmentRejected(adjustment=_adjustment(row))


async def request_adjustment_consent(
    info: Info, input: t.RequestAdjustmentConsentInput
) -> t.RequestAdjustmentConsentResult:
    try:
        member_id = _int_id(input.member_id, "memberId")
        assert member_id is not None
        operation = await adjustment_service.request_member_consent(
            actor=await info.context.get_actor(),
            member_id=member_id,
            amount=int(input.amount),
            reason=input.reason,
        )
    except DomainError as error:
        return t.RequestAdjustmentConsentError.from_domain(error)
    return t.AdjustmentConsentRequested(
        operation_id=strawberry.ID(str(operation.id)),
        amount=Money(operation.amount),
        expires_at=operation.expires_at,
    )
