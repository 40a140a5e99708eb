"""Root fields: service cases (issue 22, M5.3)."""

from __future__ import annotations

import strawberry

from resolvers import cases as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types import cases as t
from services.identity.permissions import Permission


@strawberry.type
class CasesQuery:
    service_cases: Connection[t.ServiceCase] = strawberry.field(
        resolver=r.service_cases,
        extensions=auth(Permission.PROFILE_READ),
        description="Service cases, newest first, with their messages and attachments: a "
        "member sees only their own, staff with cases:manage every one (other staff: "
        "FORBIDDEN).",
    )


@strawberry.type
class CasesMutation:
    open_service_case: t.OpenServiceCaseResult = strawberry.mutation(
        resolver=r.open_service_case,
        extensions=auth(Permission.PROFILE_READ),
        description="A member opens a case (enquiry, complaint, dispute, data request), "
        "with files if any (staff: FORBIDDEN).",
    )
    answer_service_case: t.AnswerServiceCaseResult = strawberry.mutation(
        resolver=r.answer_service_case,
        extensions=auth(Permission.PROFILE_READ),
        description="Answer a case: a member their own, staff with cases:manage any (other "
        "staff: FORBIDDEN). A staff answer goes to the member by notice, SMS and e-mail.",
    )
    assign_service_case: t.AssignServiceCaseResult = strawberry.mutation(
        resolver=r.assign_service_case,
        extensions=auth(Permission.CASES_MANAGE),
        description="Assign a case to staff who handle cases.",
    )
    escalate_service_case: t.EscalateServiceCaseResult = strawberry.mutation(
        resolver=r.escalate_service_case,
        extensions=auth(Permission.CASES_MANAGE),
        description="Escalate a case to level 2 (the supervisors), once.",
    )
    close_service_case: t.CloseServiceCaseResult = strawberry.mutation(
        resolver=r.close_service_case,
        extensions=auth(Permission.CASES_MANAGE),
        description="Close a case with its resolution; the member is told.",
    )
    reopen_service_case: t.ReopenServiceCaseResult = strawberry.mutation(
        resolver=r.reopen_service_case,
        extensions=auth(Permission.PROFILE_READ),
        description="A member reopens their closed case within cases.reopenDays.",
    )
    rate_service_case: t.RateServiceCaseResult = strawberry.mutation(
        resolver=r.rate_service_case,
        extensions=auth(Permission.PROFILE_READ),
        description="A member rates how their closed case was handled, once per closing.",
    )
