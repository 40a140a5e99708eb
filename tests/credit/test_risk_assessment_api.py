"""R4: lenders take a risk assessment before their first bid; their tier sets a lending
cap and the grades they may buy; they confirm a risk notice."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest

from models.lending import RiskAssessment, RiskNoticeConfirmation, RiskTier
from models.members import User
from services.credit import risk_assessment as risk
from services.credit import risk_questionnaire
from services.credit.policy import GRADES
from services.errors import DomainError, InvalidInputError
from services.identity.permissions import Actor
from services.platform import clock, parameters
from tests.factories import create_member, create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUESTIONNAIRE = """{ riskQuestionnaire { version
  questions { code text options { code text } }
  tiers { tier minScore lendingCap lowestGrade allowedGrades } } }"""
PROFILE_FIELDS = """status
  assessment { id questionnaireVersion score tier lendingCap allowedGrades createdAt validUntil }
  notice { version text sha256 confirmed confirmedAt }"""
PROFILE = f"{{ myRiskProfile {{ {PROFILE_FIELDS} }} }}"
SUBMIT = f"""mutation ($answers: [RiskAnswerInput!]!) {{
  submitRiskAssessment(input: {{answers: $answers}}) {{ __typename
    ... on RiskAssessmentSubmitted {{ profile {{ {PROFILE_FIELDS} }} }}
    ... on SubmitRiskAssessmentError {{ code field message }} }} }}"""
CONFIRM = f"""mutation ($id: ID!) {{ confirmRiskNotice(input: {{assessmentId: $id}}) {{ __typename
    ... on RiskNoticeConfirmed {{ profile {{ {PROFILE_FIELDS} }} }}
    ... on ConfirmRiskNoticeError {{ code field message }} }} }}"""

QUESTIONS = (
    "age",
    "income",
    "investableShare",
    "experience",
    "lossTolerance",
    "horizon",
    "p2pKnowledge",
    "purpose",
)


def _all(option: str, **overrides: str) -> dict[str, str]:
    """Every question answered with `option`, except the ones given."""
    answers = dict.fromkeys(QUESTIONS, option)
    answers.update(overrides)
    return answers


# One answer set per tier (score in brackets), for the default questionnaire.
CONSERVATIVE = _all("A")  # 12
STEADY = _all("B")  # 39: one point below BALANCED
BALANCED = _all("B", age="C", purpose="C")  # 40: exactly BALANCED's lowest score
GROWTH = _all("C")  # 59
AGGRESSIVE = _all("D")  # 73
ANSWERS_BY_TIER = {
    RiskTier.CONSERVATIVE: CONSERVATIVE,
    RiskTier.STEADY: STEADY,
    RiskTier.BALANCED: BALANCED,
    RiskTier.GROWTH: GROWTH,
    RiskTier.AGGRESSIVE: AGGRESSIVE,
}
# The defaults of `lending.riskTiers`: (cap in fen, lowest grade).
DEFAULTS = {
    RiskTier.CONSERVATIVE: (1_000_000, "A"),
    RiskTier.STEADY: (5_000_000, "B"),
    RiskTier.BALANCED: (20_000_000, "C"),
    RiskTier.GROWTH: (50_000_000, "D"),
    RiskTier.AGGRESSIVE: (100_000_000, "E"),
}


def _a_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _as_input(answers: dict[str, str]) -> list[dict[str, str]]:
    return [{"question": q, "option": o} for q, o in answers.items()]


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, kind="member")


async def _member_token() -> tuple[User, str]:
    user, phone = await create_member()
    return user, await token_for(phone)


async def _ready_lender(answers: dict[str, str]) -> User:
    """A member whose assessment (from `answers`) is in force and its notice confirmed."""
    user, _phone = await create_member()
    assessment = await risk.submit_assessment(_actor(user), answers)
    await risk.confirm_risk_notice(_actor(user), assessment.id, "127.0.0.1")
    return user


async def _refusal(user_id: int, amount: int, grade: str, outstanding: int = 0) -> str | None:
    """The code check_lender_may_bid refuses with, or None when the bid may go ahead."""
    try:
        await risk.check_lender_may_bid(user_id, amount, grade, outstanding)
    except DomainError as error:
        return error.code
    return None


async def _set_tiers(value: dict[str, Any]) -> None:
    admin, _phone = await create_staff("admin")
    await parameters.set_value(
        Actor(user_id=admin.id, kind="staff"), "lending.riskTiers", value, "risk policy review"
    )


def _default_tiers() -> dict[str, Any]:
    dumped: dict[str, Any] = risk.RISK_TIERS.dump(risk.RISK_TIERS.default)
    return dumped


# --- the questionnaire ---------------------------------------------------------------------


async def test_the_questionnaire_is_public_with_its_tiers_and_their_policy(client):
    body = await gql(client, QUESTIONNAIRE)
    assert "errors" not in body, body
    q = body["data"]["riskQuestionnaire"]
    assert q["version"] == "R4-2026-1"
    assert tuple(question["code"] for question in q["questions"]) == QUESTIONS
    assert all(len(question["options"]) >= 4 for question in q["questions"])
    assert [tier["tier"] for tier in q["tiers"]] == [tier.value for tier in RiskTier]
    assert [tier["minScore"] for tier in q["tiers"]] == [0, 25, 40, 55, 70]
    conservative, *_rest, aggressive = q["tiers"]
    assert conservative["lendingCap"] == "10000.00"
    assert conservative["allowedGrades"] == ["AA", "A"]
    assert aggressive["lendingCap"] == "1000000.00"
    assert aggressive["lowestGrade"] == "E"
    assert "HR" not in aggressive["allowedGrades"]


@pytest.mark.parametrize(
    ("answers", "score", "tier"),
    [
        (CONSERVATIVE, 12, RiskTier.CONSERVATIVE),
        (STEADY, 39, RiskTier.STEADY),
        (BALANCED, 40, RiskTier.BALANCED),
        (GROWTH, 59, RiskTier.GROWTH),
        (AGGRESSIVE, 73, RiskTier.AGGRESSIVE),
        (_all("D", age="B", income="E"), 80, RiskTier.AGGRESSIVE),
        # "I cannot accept any loss" keeps a member conservative whatever the score.
        (_all("D", age="B", income="E", lossTolerance="A"), 70, RiskTier.CONSERVATIVE),
        (_all("D", age="B", income="E", p2pKnowledge="A"), 70, RiskTier.CONSERVATIVE),
    ],
)
async def test_score_and_tier_come_from_the_data(answers, score, tier):
    assert risk_questionnaire.score_answers(risk_questionnaire.questionnaire(), answers) == (
        score,
        tier,
    )


# --- the whole flow through the API -------------------------------------------------------


async def test_assessment_then_notice_then_ready_to_bid(client):
    member, token = await _member_token()
    before = (await gql(client, PROFILE, token=token))["data"]["myRiskProfile"]
    assert before == {"status": "ASSESSMENT_REQUIRED", "assessment": None, "notice": None}

    body = await gql(client, SUBMIT, {"answers": _as_input(STEADY)}, token=token)
    submitted = body["data"]["submitRiskAssessment"]
    assert submitted["__typename"] == "RiskAssessmentSubmitted", submitted
    profile = submitted["profile"]
    assert profile["status"] == "NOTICE_REQUIRED"
    assessment = profile["assessment"]
    assert (assessment["score"], assessment["tier"]) == (39, "STEADY")
    assert assessment["questionnaireVersion"] == "R4-2026-1"
    assert assessment["lendingCap"] == "50000.00"
    assert assessment["allowedGrades"] == ["AA", "A", "B"]
    today = await clock.today()
    assert assessment["createdAt"].startswith(today.isoformat())
    assert assessment["validUntil"].startswith(_a_year_after(today).isoformat())
    notice = profile["notice"]
    assert notice["version"] == risk.NOTICE_VERSION
    assert notice["confirmed"] is False
    assert notice["confirmedAt"] is None
    assert "¥50,000.00" in notice["text"]
    assert "AA to B (AA, A, B)" in notice["text"]
    assert "STEADY" in notice["text"]
    assert notice["sha256"] == hashlib.sha256(notice["text"].encode()).hexdigest()
    assert await _refusal(member.id, 100, "AA") == "RISK_NOTICE_NOT_CONFIRMED"

    body = await gql(client, CONFIRM, {"id": assessment["id"]}, token=token)
    confirmed = body["data"]["confirmRiskNotice"]
    assert confirmed["__typename"] == "RiskNoticeConfirmed", confirmed
    assert confirmed["profile"]["status"] == "READY"
    assert confirmed["profile"]["notice"]["confirmed"] is True
    assert confirmed["profile"]["notice"]["confirmedAt"] is not None
    [row] = await RiskNoticeConfirmation.all()
    assert (row.user_id, row.assessment_id) == (member.id, int(assessment["id"]))
    assert (row.notice_version, row.notice_sha256) == (risk.NOTICE_VERSION, notice["sha256"])
    assert row.client_ip == "127.0.0.1"

    after = (await gql(client, PROFILE, token=token))["data"]["myRiskProfile"]
    assert after == confirmed["profile"]
    assert await _refusal(member.id, 100, "AA") is None

    # Confirming again changes nothing.
    again = await gql(client, CONFIRM, {"id": assessment["id"]}, token=token)
    assert again["data"]["confirmRiskNotice"]["__typename"] == "RiskNoticeConfirmed"
    assert await RiskNoticeConfirmation.all().count() == 1


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        pytest.param(_as_input(STEADY)[:-1], "purpose", id="missing-question"),
        pytest.param(_as_input(_all("B", income="F")), "income", id="unknown-option"),
        pytest.param(_as_input(_all("B", age="")), "age", id="empty-option"),
        pytest.param(
            [*_as_input(STEADY), {"question": "age", "option": "A"}], "age", id="duplicate"
        ),
        pytest.param(
            [*_as_input(STEADY), {"question": "favouriteColour", "option": "A"}],
            "answers",
            id="unknown-question",
        ),
        pytest.param(
            [*_as_input(STEADY), *[{"question": "colour", "option": "A"}] * 2],
            "answers",
            id="unknown-question-twice",
        ),
        pytest.param([], "age", id="no-answers"),
    ],
)
async def test_wrong_answers_are_typed_errors_and_store_nothing(client, answers, field):
    _member, token = await _member_token()
    body = await gql(client, SUBMIT, {"answers": answers}, token=token)
    result = body["data"]["submitRiskAssessment"]
    assert result["__typename"] == "SubmitRiskAssessmentError", result
    assert (result["code"], result["field"]) == ("INVALID", field)
    assert result["message"]
    assert await RiskAssessment.all().count() == 0


async def test_option_codes_are_case_insensitive(client):
    _member, token = await _member_token()
    answers = _as_input({code: option.lower() for code, option in GROWTH.items()})
    body = await gql(client, SUBMIT, {"answers": answers}, token=token)
    result = body["data"]["submitRiskAssessment"]
    assert result["profile"]["assessment"]["tier"] == "GROWTH"
    [row] = await RiskAssessment.all()
    assert row.answers == GROWTH


async def test_a_member_cannot_confirm_another_members_assessment(client):
    owner, _phone = await create_member()
    theirs = await risk.submit_assessment(_actor(owner), STEADY)
    _other, token = await _member_token()
    for assessment_id in (str(theirs.id), "999999", "not-a-number"):
        body = await gql(client, CONFIRM, {"id": assessment_id}, token=token)
        assert body["data"]["confirmRiskNotice"] == {
            "__typename": "ConfirmRiskNoticeError",
            "code": "NOT_FOUND",
            "field": "assessmentId",
            "message": "No such risk assessment",
        }
    assert await RiskNoticeConfirmation.all().count() == 0
    assert await _refusal(owner.id, 100, "AA") == "RISK_NOTICE_NOT_CONFIRMED"


async def test_a_retaken_assessment_is_the_one_in_force(client):
    member, token = await _member_token()
    first = await gql(client, SUBMIT, {"answers": _as_input(AGGRESSIVE)}, token=token)
    first_id = first["data"]["submitRiskAssessment"]["profile"]["assessment"]["id"]
    await gql(client, CONFIRM, {"id": first_id}, token=token)
    assert await _refusal(member.id, 60_000_000, "E") is None

    second = await gql(client, SUBMIT, {"answers": _as_input(CONSERVATIVE)}, token=token)
    profile = second["data"]["submitRiskAssessment"]["profile"]
    assert profile["assessment"]["tier"] == "CONSERVATIVE"
    assert profile["status"] == "NOTICE_REQUIRED"  # the new assessment's notice
    assert await _refusal(member.id, 100, "AA") == "RISK_NOTICE_NOT_CONFIRMED"

    stale = await gql(client, CONFIRM, {"id": first_id}, token=token)
    assert stale["data"]["confirmRiskNotice"]["code"] == "ASSESSMENT_NOT_CURRENT"
    await gql(client, CONFIRM, {"id": profile["assessment"]["id"]}, token=token)
    assert await _refusal(member.id, 60_000_000, "E") == "GRADE_NOT_ALLOWED"
    assert await _refusal(member.id, 1_000_000, "A") is None


async def test_an_assessment_expires_after_a_year_of_business_time(client):
    member, token = await _member_token()
    body = await gql(client, SUBMIT, {"answers": _as_input(STEADY)}, token=token)
    assessment_id = body["data"]["submitRiskAssessment"]["profile"]["assessment"]["id"]
    await gql(client, CONFIRM, {"id": assessment_id}, token=token)

    await clock.advance(days=364)
    assert await _refusal(member.id, 100, "AA") is None

    await clock.advance(days=2)  # 366 days on
    assert await _refusal(member.id, 100, "AA") == "RISK_ASSESSMENT_REQUIRED"
    profile = (await gql(client, PROFILE, token=token))["data"]["myRiskProfile"]
    assert profile == {"status": "ASSESSMENT_REQUIRED", "assessment": None, "notice": None}
    late = await gql(client, CONFIRM, {"id": assessment_id}, token=token)
    assert late["data"]["confirmRiskNotice"]["code"] == "RISK_ASSESSMENT_REQUIRED"

    # Taking it again puts the member back in business, from the new date.
    body = await gql(client, SUBMIT, {"answers": _as_input(STEADY)}, token=token)
    renewed = body["data"]["submitRiskAssessment"]["profile"]["assessment"]
    today = await clock.today()
    assert renewed["validUntil"].startswith(_a_year_after(today).isoformat())
    await gql(client, CONFIRM, {"id": renewed["id"]}, token=token)
    assert await _refusal(member.id, 100, "AA") is None


# --- the bidding hook ---------------------------------------------------------------------


async def test_no_assessment_means_no_bid():
    member, _phone = await create_member()
    assert await _refusal(member.id, 100, "AA") == "RISK_ASSESSMENT_REQUIRED"


async def test_an_unconfirmed_notice_means_no_bid():
    member, _phone = await create_member()
    await risk.submit_assessment(_actor(member), AGGRESSIVE)
    assert await _refusal(member.id, 100, "AA") == "RISK_NOTICE_NOT_CONFIRMED"


@pytest.mark.parametrize("tier", list(RiskTier))
async def test_each_tier_may_bid_up_to_its_cap_on_its_grades(tier):
    member = await _ready_lender(ANSWERS_BY_TIER[tier])
    cap, lowest = DEFAULTS[tier]
    worst = GRADES.index(lowest)
    # Grades: every one down to the lowest allowed, none below it.
    for grade in GRADES[: worst + 1]:
        assert await _refusal(member.id, 100, grade) is None, grade
    for grade in GRADES[worst + 1 :]:
        assert await _refusal(member.id, 100, grade) == "GRADE_NOT_ALLOWED", grade
    # Cap: exactly at it is allowed, one fen over is refused (with or without outstanding).
    assert await _refusal(member.id, cap, "AA") is None
    assert await _refusal(member.id, cap + 1, "AA") == "LENDING_CAP_EXCEEDED"
    assert await _refusal(member.id, 100, "AA", outstanding=cap - 100) is None
    assert await _refusal(member.id, 101, "AA", outstanding=cap - 100) == "LENDING_CAP_EXCEEDED"
    assert await _refusal(member.id, 1, "AA", outstanding=cap) == "LENDING_CAP_EXCEEDED"


async def test_the_cap_refusal_names_the_amount_and_the_room_left():
    member = await _ready_lender(STEADY)
    with pytest.raises(DomainError) as refused:
        await risk.check_lender_may_bid(member.id, 2_000_000, "A", 4_000_000)
    assert refused.value.code == "LENDING_CAP_EXCEEDED"
    assert refused.value.field == "amount"
    assert "¥50,000.00" in refused.value.message
    assert "¥10,000.00" in refused.value.message  # room left


async def test_a_grade_refusal_comes_before_the_cap():
    member = await _ready_lender(CONSERVATIVE)
    assert await _refusal(member.id, 99_000_000, "C") == "GRADE_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("amount", "grade", "outstanding"),
    [(0, "AA", 0), (-1, "AA", 0), (100, "AA", -1), (100, "Z", 0), (100, "aa", 0)],
)
async def test_bad_arguments_are_programming_errors(amount, grade, outstanding):
    member = await _ready_lender(STEADY)
    with pytest.raises(ValueError, match=r"credit grade|amount_fen"):
        await risk.check_lender_may_bid(member.id, amount, grade, outstanding)


# --- the tier policy is a platform parameter ------------------------------------------------


async def test_changing_the_tier_policy_changes_the_outcome():
    member = await _ready_lender(STEADY)
    assert await _refusal(member.id, 4_000_000, "B") is None

    tiers = _default_tiers()
    tiers["tiers"][1] = {"tier": "STEADY", "cap_fen": 3_000_000, "lowest_grade": "A"}
    await _set_tiers(tiers)

    # The notice the member confirmed stated other terms: it must be confirmed again.
    assert await _refusal(member.id, 100, "AA") == "RISK_NOTICE_NOT_CONFIRMED"
    profile = await risk.my_profile(_actor(member))
    assert profile.status == risk.ProfileStatus.NOTICE_REQUIRED
    assert profile.notice is not None
    assert "¥30,000.00" in profile.notice.text
    assert "AA to A (AA, A)" in profile.notice.text
    assert profile.assessment is not None
    await risk.confirm_risk_notice(_actor(member), profile.assessment.id, "127.0.0.1")
    assert await RiskNoticeConfirmation.filter(user_id=member.id).count() == 2

    assert await _refusal(member.id, 4_000_000, "A") == "LENDING_CAP_EXCEEDED"
    assert await _refusal(member.id, 100, "B") == "GRADE_NOT_ALLOWED"
    assert await _refusal(member.id, 3_000_000, "A") is None
    assert await _refusal(member.id, 3_000_001, "A") == "LENDING_CAP_EXCEEDED"


async def test_another_tiers_change_does_not_ask_for_a_new_confirmation():
    member = await _ready_lender(STEADY)
    tiers = _default_tiers()
    tiers["tiers"][4] = {"tier": "AGGRESSIVE", "cap_fen": 100_000_000, "lowest_grade": "HR"}
    await _set_tiers(tiers)
    assert await _refusal(member.id, 100, "AA") is None
    aggressive = await _ready_lender(AGGRESSIVE)
    assert await _refusal(aggressive.id, 100, "HR") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({1: {"tier": "STEADY", "cap_fen": 500_000, "lowest_grade": "B"}}, "cap_fen"),
        ({1: {"tier": "STEADY", "cap_fen": 5_000_000, "lowest_grade": "AA"}}, "lowest_grade"),
        ({1: {"tier": "STEADY", "cap_fen": 5_000_000, "lowest_grade": "Z"}}, "lowest_grade"),
        ({1: {"tier": "STEADY", "cap_fen": -1, "lowest_grade": "B"}}, "cap_fen"),
        ({1: {"tier": "BALANCED", "cap_fen": 5_000_000, "lowest_grade": "B"}}, "tiers"),
    ],
)
async def test_an_inconsistent_tier_policy_is_refused(change, message):
    tiers = _default_tiers()
    for index, entry in change.items():
        tiers["tiers"][index] = entry
    with pytest.raises(InvalidInputError) as refused:
        await _set_tiers(tiers)
    assert refused.value.field == "value"
    assert message in refused.value.message
    assert (await parameters.get(risk.RISK_TIERS)) == risk.RISK_TIERS.default
