"""Repayments: repay (second-confirmed), the borrower's schedule and repayments, the
lender's receivables, repayment events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from models.loans import LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment
from models.repayments import Repayment as RepaymentRow
from schema.errors import resync
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money
from schema.types import loans as lt
from schema.types.repayments import repayments as t
from services.errors import DomainError
from services.kit.broker import Gap
from services.repayments import events, service, views
from services.repayments.due import RepayMode
from services.repayments.overdue import amount_due


def _id(value: strawberry.ID) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


def repayment_view(row: RepaymentRow) -> t.Repayment:
    return t.Repayment(
        id=strawberry.ID(str(row.id)),
        loan_id=strawberry.ID(str(row.loan_id)),
        kind=t.RepaymentKind(str(row.kind)),
        status=t.RepaymentStatus(str(row.status)),
        installments=list(row.installments),
        paid_off=views.paid_off(row),
        amount=Money(row.amount_fen),
        principal=Money(row.principal_fen),
        interest=Money(row.interest_fen),
        fee=Money(row.fee_fen),
        penalty=Money(row.penalty_fen),
        early_fee=Money(row.early_fee_fen),
        refusal=row.refusal or None,
        created_at=row.created_at,
        done_at=row.done_at,
    )


def _installment(row: LoanInstallment) -> t.LoanInstallment:
    return t.LoanInstallment(
        number=row.number,
        due_date=row.due_date,
        principal=Money(row.principal_fen),
        interest=Money(row.interest_fen),
        fee=Money(row.fee_fen),
        penalty=Money(row.penalty_accrued_fen),
        total_due=Money(
            row.principal_fen + row.interest_fen + row.fee_fen + row.penalty_accrued_fen
        ),
        paid=Money(
            row.paid_principal_fen + row.paid_interest_fen + row.paid_fee_fen + row.penalty_paid_fen
        ),
        paid_principal=Money(row.paid_principal_fen),
        paid_interest=Money(row.paid_interest_fen),
        paid_fee=Money(row.paid_fee_fen),
        paid_penalty=Money(row.penalty_paid_fen),
        owed=Money(amount_due(row)),
        status=t.InstallmentStatus(InstallmentStatus(row.status).value),
        paid_on=row.paid_on,
        paid_late=row.paid_late,
    )


async def repay(info: Info, input: t.RepayInput) -> t.RepayResult:
    loan_id = _id(input.loan_id)
    if loan_id is None:
        return t.RepayError(code=t.RepayErrorCode.NOT_FOUND, field="loanId", message="No such loan")
    try:
        row = await service.repay(
            actor=await info.context.get_actor(),
            loan_id=loan_id,
            mode=RepayMode(input.mode.value),
            count=input.count,
            amount_fen=None if input.amount is None else int(input.amount),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.RepayError.from_domain(error)
    assert row.operation_id is not None
    return t.RepaymentRequested(
        repayment=repayment_view(row), operation_id=strawberry.ID(str(row.operation_id))
    )


async def my_schedule(info: Info, loan_id: strawberry.ID) -> t.LoanSchedule | None:
    number = _id(loan_id)
    if number is None:
        return None
    found = await views.schedule_of(await info.context.get_actor(), number)
    if found is None:
        return None
    return t.LoanSchedule(
        loan_id=strawberry.ID(str(found.loan.id)),
        status=lt.LoanStatus(LoanStatus(found.loan.status).value),
        installments=[_installment(row) for row in found.installments],
        outstanding_principal=Money(found.outstanding_principal_fen),
        next_due_date=found.next_due_date,
    )


async def my_receivables(info: Info) -> list[t.Receivable]:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    return [
        t.Receivable(
            claim_id=strawberry.ID(str(item.claim.id)),
            loan_id=strawberry.ID(str(item.loan.id)),
            loan_status=lt.LoanStatus(LoanStatus(item.loan.status).value),
            principal=Money(item.claim.principal_fen),
            received_principal=Money(item.received_principal_fen),
            received_interest=Money(item.received_interest_fen),
            received_penalty=Money(item.received_penalty_fen),
            expected_principal=Money(item.expected_principal_fen),
            expected_interest=Money(item.expected_interest_fen),
            next_date=item.next_due_date,
        )
        for item in await views.receivables_of(actor.user_id)
    ]


async def my_repayments(
    info: Info, first: int | None = 20, after: str | None = None
) -> Connection[t.Repayment]:
    before_id = cursor_key(after)
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    size = clamp_first(first)
    page = await views.repayments_of(actor.user_id, first=size + 1, before_id=before_id)
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=repayment_view,
    )


def _money(value: object) -> Money | None:
    return Money(int(value)) if isinstance(value, int) else None


async def my_repayment_events(info: Info) -> AsyncGenerator[t.RepaymentEvent]:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    async for event in events.stream(actor.user_id):
        if isinstance(event, Gap):
            yield resync(event)
            continue
        yield t.RepaymentEvent(
            kind=t.RepaymentEventKind(event["kind"]),
            loan_id=strawberry.ID(str(event["loan_id"])),
            installment=int(event["installment"]),
            amount=Money(int(event["amount_fen"])),
            principal=_money(event.get("principal_fen")),
            interest=_money(event.get("interest_fen")),
            fee=_money(event.get("fee_fen")),
            penalty=_money(event.get("penalty_fen")),
            remaining=_money(event.get("remaining_fen")),
            at=datetime.fromisoformat(event["at"]),
        )
