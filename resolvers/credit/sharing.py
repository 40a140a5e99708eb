"""Industry credit sharing: a partner platform's query about one ID number (R1)."""

from __future__ import annotations

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import Info

from schema.errors import BadUserInputError
from schema.scalars import Money
from schema.types.credit import sharing as t
from services.credit import industry_answers
from services.errors import InvalidInputError, PermissionDeniedError


async def industry_credit_query(
    info: Info, input: t.IndustryCreditQueryInput
) -> t.IndustryCreditAnswer:
    context = info.context
    try:
        answer = await industry_answers.answer_industry_query(
            actor=await context.get_actor(),
            id_number=input.id_number,
            purpose=input.purpose,
            origin=industry_answers.QueryOrigin(
                client_ip=context.client_ip,
                user_agent=context.user_agent,
                trace_id=context.trace_id,
            ),
        )
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    except PermissionDeniedError as error:  # gate 1 refuses first; the service again
        raise StrawberryGraphQLError(error.message, extensions={"code": "FORBIDDEN"}) from error
    return t.IndustryCreditAnswer(
        platform=answer.platform,
        as_of=answer.as_of,
        known=answer.known,
        outstanding_principal=Money(answer.outstanding_principal_fen),
        outstanding_loans=answer.outstanding_loans,
        overdue=answer.overdue,
        overdue_amount=Money(answer.overdue_amount_fen),
        days_overdue=answer.days_overdue,
    )
