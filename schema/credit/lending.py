"""Root fields: the lender risk assessment and risk notice (R4)."""

from __future__ import annotations

import strawberry

from resolvers.credit import lending as r
from schema.directives import auth, public
from schema.types.credit import lending as t
from services.identity.permissions import Permission


@strawberry.type
class LendingQuery:
    risk_questionnaire: t.RiskQuestionnaire = strawberry.field(
        resolver=r.risk_questionnaire,
        extensions=public(),
        description="The lender risk questionnaire and what each tier may do.",
    )
    my_risk_profile: t.RiskProfile = strawberry.field(
        resolver=r.my_risk_profile,
        extensions=auth(Permission.BID_PLACE),
        description="Your assessment in force, its cap and grades, and the notice to confirm.",
    )


@strawberry.type
class LendingMutation:
    submit_risk_assessment: t.SubmitRiskAssessmentResult = strawberry.mutation(
        resolver=r.submit_risk_assessment,
        extensions=auth(Permission.BID_PLACE),
        description="Answer the risk questionnaire; the new assessment is in force at once.",
    )
    confirm_risk_notice: t.ConfirmRiskNoticeResult = strawberry.mutation(
        resolver=r.confirm_risk_notice,
        extensions=auth(Permission.BID_PLACE),
        description="Confirm the risk notice of your assessment in force, as it reads now.",
    )
