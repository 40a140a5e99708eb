"""Root fields: repaying a loan, the borrower's schedule and repayments, the lender's
receivables, repayment events (M1.6, M1.11, M9.1)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers.repayments import repayments as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types.repayments import repayments as t
from services.identity.permissions import Permission


@strawberry.type
class RepaymentsQuery:
    my_schedule: t.LoanSchedule | None = strawberry.field(
        resolver=r.my_schedule,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your loan's installments (due, paid of each part, penalty, still "
        "owed); null unless you are its borrower.",
    )
    my_receivables: list[t.Receivable] = strawberry.field(
        resolver=r.my_receivables,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Every claim you hold: received and still expected, the next date.",
    )
    my_repayments: Connection[t.Repayment] = strawberry.field(
        resolver=r.my_repayments,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your repayments as a borrower, newest first.",
    )


@strawberry.type
class RepaymentsMutation:
    repay: t.RepayResult = strawberry.mutation(
        resolver=r.repay,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Repay your loan: the next installment, several, early in full, or an "
        "amount towards what has fallen due (partial repayment); confirm it with the SMS "
        "code (confirmOperation).",
    )


@strawberry.type
class RepaymentsSubscription:
    @strawberry.subscription(
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your repayment events: as borrower due, paid and overdue; as lender "
        "what you received.",
    )
    async def my_repayment_events(
        self, info: strawberry.Info
    ) -> AsyncGenerator[t.RepaymentEvent, None]:
        async for event in r.my_repayment_events(info):
            yield event
