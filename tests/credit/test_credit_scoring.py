"""M2.4-M2.6, R1: the scorecard, automatic adjustment hooks (called by repayments),
serious-overdue freeze, limit use and the R1 caps, each to the fen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from models.credit import CreditLimitChange, CreditProfile
from services.credit import external, scoring
from services.credit.catalogue import KINDS
from services.credit.policy import GRADE_TABLE, SCORECARD
from services.errors import DomainError
from services.identity.permissions import Actor
from services.jobs import credit as jobs_credit
from services.platform import parameters
from tests.factories import (
    CLEAN_REPORTS,
    ScriptedSources,
    approve_verifications,
    create_member,
    create_staff,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

REQUIRED = [kind.code for kind in KINDS if kind.required_for_borrowing]


@pytest.fixture(autouse=True)
def sources() -> Iterator[dict[str, dict[str, Any]]]:
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    yield adapter.scripted
    external.set_adapter(None)


async def _member_with(kinds: list[str], sources: dict[str, Any], **reports: Any) -> int:
    member, _phone = await create_member()
    id_number = await approve_verifications(member.id, kinds)
    sources[id_number] = {**CLEAN_REPORTS, **reports}
    for source in external.Source if "ID_CARD" in kinds else ():
        await external.fetch(member.id, source)
    await scoring.reevaluate(
        member.id, reason="test", actor_id=None, kind=scoring.CreditChangeKind.EVALUATED
    )
    return member.id


async def test_grade_c_member_with_every_required_item(sources):
    member_id = await _member_with(REQUIRED, sources)
    standing = await scoring.standing(member_id)
    assert (standing.profile.score, standing.profile.grade) == (85, "C")
    assert (standing.limit_fen, standing.available_fen) == (3_000_000, 3_000_000)


async def test_a_missing_required_item_means_no_limit_whatever_the_score(sources):
    kinds = [k for k in REQUIRED if k != "VIDEO"] + ["REAL_ESTATE", "HOUSING_FUND"]
    member_id = await _member_with(kinds, sources)
    standing = await scoring.standing(member_id)
    assert standing.profile.score == 85 - 10 + 15 + 10
    assert standing.profile.grade == "B"
    assert standing.limit_fen == 0
    assert standing.profile.explanation["missing"] == ["VIDEO"]


async def test_on_time_repayments_raise_the_limit_once_each_up_to_the_maximum(sources):
    member_id = await _member_with(REQUIRED, sources)
    # Each on-time installment: +2 points (history at most 40) and +2% of 30,000.00.
    assert await scoring.on_installment_paid(member_id, installment_key="L1#1", on_time=True)
    assert not await scoring.on_installment_paid(member_id, installment_key="L1#1", on_time=True)
    profile = await CreditProfile.get(user_id=member_id)
    assert (profile.score, profile.limit_fen) == (87, 3_060_000)
    [change] = await CreditLimitChange.filter(kind="ON_TIME")
    assert (change.old_limit_fen, change.new_limit_fen, change.actor_id) == (
        3_000_000,
        3_060_000,
        None,
    )

    for number in range(2, 31):
        await scoring.on_installment_paid(member_id, installment_key=f"L1#{number}", on_time=True)
    profile = await CreditProfile.get(user_id=member_id)
    # 30 on time: history points capped at 40 (score 125 -> grade A, 100,000.00),
    # and the raise capped at +50%: 150,000.00.
    assert (profile.score, profile.grade) == (125, "A")
    assert profile.limit_fen == 15_000_000
    # A late payment is not an on-time one.
    assert not await scoring.on_installment_paid(member_id, installment_key="L1#31", on_time=False)


async def test_overdue_lowers_the_limit_and_serious_overdue_freezes_it_once(sources):
    member_id = await _member_with(REQUIRED, sources)
    assert await scoring.on_installment_overdue(member_id, installment_key="L9#3", days_overdue=1)
    profile = await CreditProfile.get(user_id=member_id)
    # -10 points (85 -> 75: grade D, 10,000.00), then -10% of that limit.
    assert (profile.score, profile.grade, profile.limit_fen) == (75, "D", 900_000)
    assert not await scoring.on_installment_overdue(
        member_id, installment_key="L9#3", days_overdue=30
    )
    assert (await scoring.standing(member_id)).limit_fen == 900_000

    assert await scoring.on_installment_overdue(member_id, installment_key="L9#3", days_overdue=90)
    standing = await scoring.standing(member_id)
    assert (standing.profile.frozen, standing.limit_fen, standing.available_fen) == (True, 0, 0)
    assert not await scoring.on_installment_overdue(
        member_id, installment_key="L9#3", days_overdue=91
    )
    kinds = (
        await CreditLimitChange.filter(user_id=member_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["OVERDUE", "FROZEN"]
    assert await CreditLimitChange.filter(kind="FROZEN").count() == 1


async def test_using_the_limit_never_goes_past_what_is_available(sources):
    member_id = await _member_with(REQUIRED, sources)
    await scoring.use_limit(member_id, 2_000_000)
    with pytest.raises(DomainError) as refused:
        await scoring.use_limit(member_id, 1_000_001)
    assert refused.value.code == "CREDIT_LIMIT_EXCEEDED"
    standing = await scoring.use_limit(member_id, 1_000_000)
    assert (standing.used_fen, standing.available_fen) == (3_000_000, 0)
    await scoring.restore_limit(member_id, 500_000)
    assert (await scoring.standing(member_id)).available_fen == 500_000
    with pytest.raises(DomainError):
        await scoring.restore_limit(member_id, 2_500_001)
    assert (await CreditProfile.get(user_id=member_id)).used_fen == 2_500_000


async def test_r1_caps_the_limit_on_this_platform_and_across_platforms(sources):
    staff, _phone = await create_staff("admin")
    actor = Actor(user_id=staff.id, kind="staff")
    bands = (await parameters.get(GRADE_TABLE)).model_dump(mode="json")["bands"]
    for band, limit in zip(bands, (40_000_000, 35_000_000, 32_000_000, 30_000_000), strict=False):
        band["limit_fen"] = limit  # grade C now gives 300,000.00: above the R1 cap
    await parameters.set_value(actor, "credit.grades", {"bands": bands}, "a test of the cap")
    owes_elsewhere = {
        "industry_sharing": {
            "platforms": [
                {"platform": "Other P2P", "outstanding_fen": 95_000_000, "overdue": False}
            ],
            "total_outstanding_fen": 95_000_000,
        }
    }
    member_id = await _member_with(REQUIRED, sources, **owes_elsewhere)
    standing = await scoring.standing(member_id)
    assert standing.profile.limit_fen == 20_000_000  # 200,000.00 per person on this platform
    # 1,000,000.00 across platforms, 950,000.00 owed elsewhere: 50,000.00 more at most.
    assert standing.other_platforms_outstanding_fen == 95_000_000
    assert standing.available_fen == 5_000_000
    with pytest.raises(DomainError):
        await scoring.use_limit(member_id, 5_000_001)


async def test_scorecard_weights_are_platform_parameters(sources):
    staff, _phone = await create_staff("admin")
    member_id = await _member_with(REQUIRED, sources)
    points = {kind.code: kind.score for kind in KINDS} | {"VIDEO": 25}
    card = (await parameters.get(SCORECARD)).model_dump(mode="json")
    await parameters.set_value(
        Actor(user_id=staff.id, kind="staff"),
        "credit.scorecard",
        {**card, "item_points": points},
        "video interviews matter more",
    )
    profile = await scoring.reevaluate(
        member_id, reason="policy", actor_id=staff.id, kind=scoring.CreditChangeKind.PARAMETERS
    )
    assert (profile.score, profile.grade, profile.limit_fen) == (100, "B", 5_000_000)


async def test_a_policy_change_rescores_every_profile_once_with_history(sources):
    staff, _phone = await create_staff("admin")
    first = await _member_with(REQUIRED, sources)
    second = await _member_with(REQUIRED[1:], sources)  # no ID card: no limit either way
    assert await jobs_credit.reevaluate_after_policy_change() == 0  # all current
    bands = (await parameters.get(GRADE_TABLE)).model_dump(mode="json")["bands"]
    bands[3]["min_score"] = 90  # C now needs 90: 85 points is grade D
    await parameters.set_value(
        Actor(user_id=staff.id, kind="staff"), "credit.grades", {"bands": bands}, "stricter C"
    )
    assert await jobs_credit.reevaluate_after_policy_change() == 2
    assert await jobs_credit.reevaluate_after_policy_change() == 0
    profile = await CreditProfile.get(user_id=first)
    assert (profile.grade, profile.limit_fen) == ("D", 1_000_000)
    [change] = await CreditLimitChange.filter(user_id=first, kind="PARAMETERS")
    assert (change.old_limit_fen, change.new_limit_fen, change.old_grade) == (
        3_000_000,
        1_000_000,
        "C",
    )
    # The other member's grade did not move (still no ID card): re-scored, no history row.
    assert await CreditLimitChange.filter(user_id=second, kind="PARAMETERS").count() == 0
