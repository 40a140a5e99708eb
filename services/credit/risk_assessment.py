"""Lender risk assessment (R4): a questionnaire before the first bid, a tier, a notice.

The questionnaire, the score bands of the tiers and the risk notice are data, each with a
version: changing a question, an option's points or the notice means a new version, and
every assessment keeps the version it was taken on. What each tier may do (its lending
cap and the lowest credit grade it may buy) is the platform parameter `lending.riskTiers`,
changed at run time like the credit policy.

A member may retake the questionnaire at any time; the newest assessment still valid (one
year by the business clock) is the one in force. Before bidding the member confirms the
risk notice of that assessment; the notice states the tier's cap and grades, and the
confirmation records the SHA-256 of the exact text, so a change of the cap or grades
(the parameter) or of the notice (its version) asks for a new confirmation.

`check_lender_may_bid` is the hook bidding calls before it takes a bid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tortoise.exceptions import IntegrityError

from models.lending import RiskAssessment, RiskNoticeConfirmation, RiskTier
from services.credit.policy import GRADES
from services.credit.risk_questionnaire import (
    TIER_LABELS,
    TIER_ORDER,
    _clean_answers,
    questionnaire,
    score_answers,
)
from services.errors import DomainError, NotFoundError
from services.identity.permissions import Actor
from services.platform import clock, parameters

# --- what each tier may do: a platform parameter ----------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierPolicy(_Strict):
    tier: RiskTier
    cap_fen: Annotated[int, Field(ge=0)]  # most outstanding in bids and claims
    lowest_grade: str  # the worst credit grade the tier may buy (from AA down to it)

    @model_validator(mode="after")
    def _known_grade(self) -> TierPolicy:
        if self.lowest_grade not in GRADES:
            raise ValueError(f"lowest_grade must be one of {', '.join(GRADES)}")
        return self

    @property
    def allowed_grades(self) -> tuple[str, ...]:
        return GRADES[: GRADES.index(self.lowest_grade) + 1]


class RiskTiers(_Strict):
    """One entry per tier, from CONSERVATIVE up; a higher tier never may do less."""

    tiers: list[TierPolicy]

    @model_validator(mode="after")
    def _ordered(self) -> RiskTiers:
        if tuple(entry.tier for entry in self.tiers) != TIER_ORDER:
            raise ValueError(f"tiers must be exactly {', '.join(TIER_ORDER)}, in that order")
        caps = [entry.cap_fen for entry in self.tiers]
        if caps != sorted(caps):
            raise ValueError("cap_fen must not fall from CONSERVATIVE to AGGRESSIVE")
        reach = [GRADES.index(entry.lowest_grade) for entry in self.tiers]
        if reach != sorted(reach):
            raise ValueError("lowest_grade must not get better from CONSERVATIVE to AGGRESSIVE")
        return self

    def policy(self, tier: RiskTier) -> TierPolicy:
        return next(entry for entry in self.tiers if entry.tier == tier)


RISK_TIERS = parameters.Param(
    "lending.riskTiers",
    RiskTiers,
    RiskTiers(
        tiers=[
            TierPolicy(tier=RiskTier.CONSERVATIVE, cap_fen=1_000_000, lowest_grade="A"),
            TierPolicy(tier=RiskTier.STEADY, cap_fen=5_000_000, lowest_grade="B"),
            TierPolicy(tier=RiskTier.BALANCED, cap_fen=20_000_000, lowest_grade="C"),
            TierPolicy(tier=RiskTier.GROWTH, cap_fen=50_000_000, lowest_grade="D"),
            TierPolicy(tier=RiskTier.AGGRESSIVE, cap_fen=100_000_000, lowest_grade="E"),
        ]
    ),
    "R4: per lender risk tier, the most the lender may have outstanding in bids and "
    "claims (cap_fen, in fen) and the worst credit grade they may buy (lowest_grade: "
    "every grade from AA down to it). Changing a tier's values asks its lenders to "
    "confirm the risk notice again.",
)


# --- the risk notice, as data ------------------------------------------------------------

NOTICE_VERSION = "R4-NOTICE-2026-1"
NOTICE_TEMPLATE = """\
LendBridge risk notice for lenders ({version})

Your risk assessment of {assessed_on} (questionnaire {questionnaire}) scored {score} \
and puts you in the {label} tier ({tier}). As a {label} lender:
- you may have at most {cap} outstanding in bids and loans at any one time;
- you may lend only on loans of credit grade {grades}.

Lending on LendBridge is not a bank deposit and is not guaranteed. Borrowers may repay \
late or not at all, and you may lose part or all of the money you lend. A credit grade \
is an estimate, not a promise, and past repayments do not promise future ones. \
LendBridge is an information intermediary: it does not guarantee your principal or \
interest. Lend only money you can afford to lose, and spread it over several loans.

This assessment is valid until {valid_until}. Take it again if your circumstances change.
By confirming, you state that you have read and understood this notice.
"""


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def _grade_range(grades: tuple[str, ...]) -> str:
    return grades[0] if len(grades) == 1 else f"{grades[0]} to {grades[-1]} ({', '.join(grades)})"


@dataclass(frozen=True)
class Notice:
    version: str
    text: str
    sha256: str


def notice_for(assessment: RiskAssessment, policy: TierPolicy) -> Notice:
    """The notice a member confirms for an assessment, under the tier's policy in force."""
    tier = RiskTier(assessment.tier)
    text = NOTICE_TEMPLATE.format(
        version=NOTICE_VERSION,
        assessed_on=assessment.created_at.date().isoformat(),
        questionnaire=assessment.questionnaire_version,
        score=assessment.score,
        label=TIER_LABELS[tier],
        tier=tier.value,
        cap=_yuan(policy.cap_fen),
        grades=_grade_range(policy.allowed_grades),
        valid_until=assessment.valid_until.date().isoformat(),
    )
    return Notice(NOTICE_VERSION, text, hashlib.sha256(text.encode()).hexdigest())


# --- operations ---------------------------------------------------------------------------


def _one_year_after(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


async def current_assessment(user_id: int) -> RiskAssessment | None:
    """The assessment in force: the newest one still valid by the business clock."""
    now = await clock.now()
    return (
        await RiskAssessment.filter(user_id=user_id, valid_until__gt=now)
        .order_by("-created_at", "-id")
        .first()
    )


async def submit_assessment(actor: Actor, answers: dict[str, str]) -> RiskAssessment:
    """Score a complete set of answers and store the assessment; it is in force at once.

    Raises InvalidInputError (field: the question at fault, or `answers` for an unknown
    question) when a question is unanswered or an option unknown. Nothing is stored then.
    """
    if actor.user_id is None:
        raise NotFoundError("Log in first")
    q = questionnaire()
    cleaned = _clean_answers(q, answers)
    score, tier = score_answers(q, cleaned)
    now = await clock.now()
    return await RiskAssessment.create(
        user_id=actor.user_id,
        questionnaire_version=q.version,
        answers=cleaned,
        score=score,
        tier=tier,
        created_at=now,
        valid_until=_one_year_after(now),
    )


async def _confirmed(assessment: RiskAssessment, notice: Notice) -> RiskNoticeConfirmation | None:
    return await RiskNoticeConfirmation.get_or_none(
        assessment_id=assessment.id, notice_sha256=notice.sha256
    )


async def confirm_risk_notice(
    actor: Actor, assessment_id: int, client_ip: str
) -> RiskNoticeConfirmation:
    """Record that the member confirmed the notice of their assessment in force, as it
    reads now. Confirming the same text again returns the first confirmation.

    Raises NotFoundError (no such assessment of the caller's), DomainError
    RISK_ASSESSMENT_REQUIRED (it has expired) or ASSESSMENT_NOT_CURRENT (a newer one is
    in force).
    """
    assessment = await RiskAssessment.get_or_none(id=assessment_id)
    if assessment is None or actor.user_id is None or assessment.user_id != actor.user_id:
        raise NotFoundError("No such risk assessment", field="assessmentId")
    current = await current_assessment(actor.user_id)
    if current is None:
        raise DomainError(
            "This risk assessment has expired: take the questionnaire again",
            code="RISK_ASSESSMENT_REQUIRED",
            field="assessmentId",
        )
    if current.id != assessment.id:
        raise DomainError(
            "A newer risk assessment is in force: confirm its notice",
            code="ASSESSMENT_NOT_CURRENT",
            field="assessmentId",
        )
    tiers = await parameters.get(RISK_TIERS)
    notice = notice_for(assessment, tiers.policy(RiskTier(assessment.tier)))
    existing = await _confirmed(assessment, notice)
    if existing is not None:
        return existing
    try:
        return await RiskNoticeConfirmation.create(
            user_id=actor.user_id,
            assessment_id=assessment.id,
            notice_version=notice.version,
            notice_sha256=notice.sha256,
            confirmed_at=await clock.now(),
            client_ip=client_ip[:64],
        )
    except IntegrityError:
        # The same confirmation, sent twice at once: the other one was stored first.
        existing = await _confirmed(assessment, notice)
        if existing is None:
            raise
        return existing


class ProfileStatus(StrEnum):
    ASSESSMENT_REQUIRED = "ASSESSMENT_REQUIRED"  # none, or the last one expired
    NOTICE_REQUIRED = "NOTICE_REQUIRED"  # the notice as it reads now is not confirmed
    READY = "READY"  # may bid, within the tier's cap and grades


@dataclass(frozen=True)
class RiskProfile:
    status: ProfileStatus
    assessment: RiskAssessment | None = None
    policy: TierPolicy | None = None
    notice: Notice | None = None
    confirmation: RiskNoticeConfirmation | None = None


async def profile_of(user_id: int) -> RiskProfile:
    assessment = await current_assessment(user_id)
    if assessment is None:
        return RiskProfile(ProfileStatus.ASSESSMENT_REQUIRED)
    tiers = await parameters.get(RISK_TIERS)
    policy = tiers.policy(RiskTier(assessment.tier))
    notice = notice_for(assessment, policy)
    confirmation = await _confirmed(assessment, notice)
    status = ProfileStatus.READY if confirmation is not None else ProfileStatus.NOTICE_REQUIRED
    return RiskProfile(status, assessment, policy, notice, confirmation)


async def my_profile(actor: Actor) -> RiskProfile:
    """The caller's assessment in force, what it allows and the notice to confirm."""
    if actor.user_id is None:
        return RiskProfile(ProfileStatus.ASSESSMENT_REQUIRED)
    return await profile_of(actor.user_id)


async def check_lender_may_bid(
    user_id: int, amount_fen: int, grade: str, outstanding_fen: int
) -> None:
    """May this lender bid `amount_fen` on a loan of `grade`, having `outstanding_fen` in
    bids and claims already? Returns, or raises DomainError with code:

    - RISK_ASSESSMENT_REQUIRED: no assessment, or the last one has expired;
    - RISK_NOTICE_NOT_CONFIRMED: the notice of the assessment in force, as it reads now,
      is not confirmed;
    - GRADE_NOT_ALLOWED: the grade is below the tier's lowest grade;
    - LENDING_CAP_EXCEEDED (field `amount`): outstanding + amount would pass the cap.

    A grade outside GRADES or a negative amount is a programming error (ValueError).
    """
    if grade not in GRADES:
        raise ValueError(f"unknown credit grade {grade!r}")
    if amount_fen <= 0 or outstanding_fen < 0:
        raise ValueError("amount_fen must be positive and outstanding_fen not negative")
    profile = await profile_of(user_id)
    if profile.status == ProfileStatus.ASSESSMENT_REQUIRED:
        raise DomainError(
            "Take the lender risk assessment before bidding", code="RISK_ASSESSMENT_REQUIRED"
        )
    assert profile.policy is not None
    if profile.status == ProfileStatus.NOTICE_REQUIRED:
        raise DomainError(
            "Confirm the risk notice of your assessment before bidding",
            code="RISK_NOTICE_NOT_CONFIRMED",
        )
    policy = profile.policy
    if grade not in policy.allowed_grades:
        raise DomainError(
            f"Your risk tier allows loans of grade {_grade_range(policy.allowed_grades)} only",
            code="GRADE_NOT_ALLOWED",
        )
    if outstanding_fen + amount_fen > policy.cap_fen:
        room = max(policy.cap_fen - outstanding_fen, 0)
        raise DomainError(
            f"Your lending cap is {_yuan(policy.cap_fen)} and {_yuan(outstanding_fen)} is "
            f"outstanding: you may bid at most {_yuan(room)} more",
            code="LENDING_CAP_EXCEEDED",
            field="amount",
        )
