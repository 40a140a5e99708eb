"""The lender risk questionnaire, taking it, confirming the notice, a lender's profile."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.scalars import Money
from schema.types.credit import lending as t
from services.credit import risk_assessment as risk
from services.credit import risk_questionnaire as questions
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.platform import parameters


async def risk_questionnaire() -> t.RiskQuestionnaire:
    q = questions.questionnaire()
    tiers = await parameters.get(risk.RISK_TIERS)
    return t.RiskQuestionnaire(
        version=q.version,
        questions=[
            t.RiskQuestion(
                code=question.code,
                text=question.text,
                options=[t.RiskOption(code=o.code, text=o.text) for o in question.options],
            )
            for question in q.questions
        ],
        tiers=[
            t.RiskTierPolicy(
                tier=t.RiskTier(band.tier.value),
                min_score=band.min_score,
                lending_cap=Money(tiers.policy(band.tier).cap_fen),
                lowest_grade=tiers.policy(band.tier).lowest_grade,
                allowed_grades=list(tiers.policy(band.tier).allowed_grades),
            )
            for band in q.bands
        ],
    )


def _profile(profile: risk.RiskProfile) -> t.RiskProfile:
    assessment = profile.assessment
    if assessment is None or profile.policy is None or profile.notice is None:
        return t.RiskProfile(
            status=t.RiskProfileStatus(profile.status.value), assessment=None, notice=None
        )
    confirmation = profile.confirmation
    return t.RiskProfile(
        status=t.RiskProfileStatus(profile.status.value),
        assessment=t.RiskAssessmentType(
            id=strawberry.ID(str(assessment.id)),
            questionnaire_version=assessment.questionnaire_version,
            score=assessment.score,
            tier=t.RiskTier(assessment.tier.value),
            lending_cap=Money(profile.policy.cap_fen),
            allowed_grades=list(profile.policy.allowed_grades),
            created_at=assessment.created_at,
            valid_until=assessment.valid_until,
        ),
        notice=t.RiskNotice(
            version=profile.notice.version,
            text=profile.notice.text,
            sha256=profile.notice.sha256,
            confirmed=confirmation is not None,
            confirmed_at=confirmation.confirmed_at if confirmation else None,
        ),
    )


async def my_risk_profile(info: Info) -> t.RiskProfile:
    return _profile(await risk.my_profile(await info.context.get_actor()))


async def submit_risk_assessment(
    info: Info, input: t.SubmitRiskAssessmentInput
) -> t.SubmitRiskAssessmentResult:
    try:
        answers: dict[str, str] = {}
        for item in input.answers:
            if item.question in answers:
                known = questions.questionnaire().question(item.question) is not None
                raise InvalidInputError(
                    f"The question {item.question[:40]!r} is answered twice",
                    field=item.question if known else "answers",
                )
            answers[item.question] = item.option
        actor = await info.context.get_actor()
        await risk.submit_assessment(actor, answers)
    except DomainError as error:
        return t.SubmitRiskAssessmentError.from_domain(error)
    return t.RiskAssessmentSubmitted(profile=_profile(await risk.my_profile(actor)))


async def confirm_risk_notice(
    info: Info, input: t.ConfirmRiskNoticeInput
) -> t.ConfirmRiskNoticeResult:
    try:
        try:
            assessment_id = int(input.assessment_id)
        except ValueError as error:
            raise NotFoundError("No such risk assessment", field="assessmentId") from error
        actor = await info.context.get_actor()
        await risk.confirm_risk_notice(actor, assessment_id, info.context.client_ip)
    except DomainError as error:
        return t.ConfirmRiskNoticeError.from_domain(error)
    return t.RiskNoticeConfirmed(profile=_profile(await risk.my_profile(actor)))
