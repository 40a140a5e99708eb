"""Lender risk assessment (R4): the questionnaire, a lender's tier and the risk notice."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type
from schema.scalars import Money


@strawberry.enum(description="A lender's risk tier, from the most cautious up.")
class RiskTier(Enum):
    CONSERVATIVE = "CONSERVATIVE"
    STEADY = "STEADY"
    BALANCED = "BALANCED"
    GROWTH = "GROWTH"
    AGGRESSIVE = "AGGRESSIVE"


@strawberry.type(description="One answer a question offers.")
class RiskOption:
    code: str = strawberry.field(description="Send it as `answers[].option`.")
    text: str = strawberry.field(description="The answer, for the member to read.")


@strawberry.type(description="One question of the risk questionnaire.")
class RiskQuestion:
    code: str = strawberry.field(description="Send it as `answers[].question`.")
    text: str = strawberry.field(description="The question.")
    options: list[RiskOption] = strawberry.field(description="Choose exactly one.")


@strawberry.type(description="A tier: the score it starts at and what it may do now.")
class RiskTierPolicy:
    tier: RiskTier = strawberry.field(description="The tier.")
    min_score: int = strawberry.field(description="Scores from this one up reach the tier.")
    lending_cap: Money = strawberry.field(
        description="Most the lender may have outstanding in bids and loans."
    )
    lowest_grade: str = strawberry.field(description="Worst credit grade the tier may buy.")
    allowed_grades: list[str] = strawberry.field(description="Grades it may buy, best first.")


@strawberry.type(description="The lender risk questionnaire (R4), taken before the first bid.")
class RiskQuestionnaire:
    version: str = strawberry.field(description="Questionnaire version, kept with each answer.")
    questions: list[RiskQuestion] = strawberry.field(description="Answer every one, once.")
    tiers: list[RiskTierPolicy] = strawberry.field(description="The tiers, from the lowest up.")


@strawberry.type(name="RiskAssessment", description="A lender's assessment and what it allows.")
class RiskAssessmentType:
    id: strawberry.ID = strawberry.field(description="Pass to confirmRiskNotice.")
    questionnaire_version: str = strawberry.field(description="Version it was taken on.")
    score: int = strawberry.field(description="Points scored.")
    tier: RiskTier = strawberry.field(description="The tier the answers give.")
    lending_cap: Money = strawberry.field(
        description="Most the lender may have outstanding in bids and loans (now)."
    )
    allowed_grades: list[str] = strawberry.field(description="Grades the lender may buy (now).")
    created_at: datetime = strawberry.field(description="Taken at (business time, UTC).")
    valid_until: datetime = strawberry.field(description="In force until (business time, UTC).")


@strawberry.type(description="The risk notice a lender confirms before bidding.")
class RiskNotice:
    version: str = strawberry.field(description="Notice version.")
    text: str = strawberry.field(description="The full text to show; it states cap and grades.")
    sha256: str = strawberry.field(description="SHA-256 of the text (UTF-8), hex.")
    confirmed: bool = strawberry.field(description="This text has been confirmed.")
    confirmed_at: datetime | None = strawberry.field(description="When (null: not yet).")


@strawberry.enum(description="What the lender must do before bidding.")
class RiskProfileStatus(Enum):
    ASSESSMENT_REQUIRED = "ASSESSMENT_REQUIRED"
    NOTICE_REQUIRED = "NOTICE_REQUIRED"
    READY = "READY"


@strawberry.type(description="A lender's risk profile: the assessment in force and its notice.")
class RiskProfile:
    status: RiskProfileStatus = strawberry.field(
        description="ASSESSMENT_REQUIRED (none or expired), NOTICE_REQUIRED or READY to bid."
    )
    assessment: RiskAssessmentType | None = strawberry.field(
        description="The newest assessment still valid (null: none)."
    )
    notice: RiskNotice | None = strawberry.field(
        description="Its risk notice as it reads now (null: no assessment)."
    )


@strawberry.input(description="One answer: a question code and the option chosen.")
class RiskAnswerInput:
    question: str = strawberry.field(description="A question code from riskQuestionnaire.")
    option: str = strawberry.field(description="One of its option codes.")


@strawberry.input(description="Answers to every question of the risk questionnaire.")
class SubmitRiskAssessmentInput:
    answers: list[RiskAnswerInput] = strawberry.field(description="One per question.")


@strawberry.type(description="The assessment is in force: confirm its notice to bid.")
class RiskAssessmentSubmitted:
    profile: RiskProfile = strawberry.field(description="The lender's profile, as now.")


SubmitRiskAssessmentErrorCode = error_codes(
    "SubmitRiskAssessment", ["INVALID"], "Why the answers were not accepted."
)
SubmitRiskAssessmentError = error_type(
    "SubmitRiskAssessment", SubmitRiskAssessmentErrorCode, "Nothing was stored."
)
SubmitRiskAssessmentResult = Annotated[
    RiskAssessmentSubmitted | SubmitRiskAssessmentError,
    strawberry.union("SubmitRiskAssessmentResult"),
]


@strawberry.input(description="Confirm the risk notice of your assessment in force.")
class ConfirmRiskNoticeInput:
    assessment_id: strawberry.ID = strawberry.field(description="The assessment's id.")


@strawberry.type(description="The notice is confirmed (again confirming changes nothing).")
class RiskNoticeConfirmed:
    profile: RiskProfile = strawberry.field(description="The lender's profile, as now.")


ConfirmRiskNoticeErrorCode = error_codes(
    "ConfirmRiskNotice",
    ["NOT_FOUND", "RISK_ASSESSMENT_REQUIRED", "ASSESSMENT_NOT_CURRENT"],
    "Why the notice was not confirmed.",
)
ConfirmRiskNoticeError = error_type(
    "ConfirmRiskNotice", ConfirmRiskNoticeErrorCode, "Nothing was stored."
)
ConfirmRiskNoticeResult = Annotated[
    RiskNoticeConfirmed | ConfirmRiskNoticeError, strawberry.union("ConfirmRiskNoticeResult")
]
