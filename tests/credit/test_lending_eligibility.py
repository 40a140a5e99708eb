"""Who may lend: the verification kinds the catalogue marks required for lending, each
approved by the rule the credit score counts by (issue 13)."""

from __future__ import annotations

import dataclasses

import pytest

from models.credit import VerificationStatus, VerificationSubmission
from services.credit import catalogue, eligibility, scoring
from services.errors import DomainError
from services.money.idempotency import run_once
from tests.factories import approve_verifications, create_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _title(code: str) -> str:
    kind = catalogue.get_kind(code)
    assert kind is not None
    return kind.title


async def test_the_platform_requires_an_id_card_and_a_real_name_mobile_to_lend():
    # The catalogue as shipped (the rule itself follows whatever it marks, below).
    assert [kind.code for kind in eligibility.required_for_lending()] == [
        "ID_CARD",
        "MOBILE_REAL_NAME",
    ]


async def test_a_new_member_misses_every_required_kind_and_is_refused_by_title():
    member, _phone = await create_member()
    assert await eligibility.missing_for_lending(member.id) == ["ID_CARD", "MOBILE_REAL_NAME"]
    with pytest.raises(eligibility.LendingVerificationRequiredError) as refused:
        await eligibility.check_may_lend(member.id)
    error = refused.value
    assert error.code == "LENDING_VERIFICATION_REQUIRED"
    assert error.missing == ["ID_CARD", "MOBILE_REAL_NAME"]
    assert error.details == {"missing_verifications": ["ID_CARD", "MOBILE_REAL_NAME"]}
    assert _title("ID_CARD") in error.message
    assert _title("MOBILE_REAL_NAME") in error.message


async def test_with_one_kind_approved_only_the_other_is_missing():
    member, _phone = await create_member()
    await approve_verifications(member.id, ["MOBILE_REAL_NAME"])
    assert await eligibility.missing_for_lending(member.id) == ["ID_CARD"]
    with pytest.raises(eligibility.LendingVerificationRequiredError) as refused:
        await eligibility.check_may_lend(member.id)
    assert refused.value.missing == ["ID_CARD"]
    assert _title("ID_CARD") in refused.value.message
    assert _title("MOBILE_REAL_NAME") not in refused.value.message

    await approve_verifications(member.id, ["ID_CARD"])
    assert await eligibility.missing_for_lending(member.id) == []
    await eligibility.check_may_lend(member.id)  # no error


@pytest.mark.parametrize(
    "status",
    [VerificationStatus.SUBMITTED, VerificationStatus.REJECTED, VerificationStatus.MORE_REQUESTED],
)
async def test_only_an_approved_submission_counts(status):
    member, _phone = await create_member()
    await approve_verifications(member.id, ["ID_CARD", "MOBILE_REAL_NAME"])
    await VerificationSubmission.filter(user_id=member.id, kind="ID_CARD").update(status=status)
    assert await eligibility.missing_for_lending(member.id) == ["ID_CARD"]


async def test_approved_means_what_the_credit_score_counts():
    member, _phone = await create_member()
    await approve_verifications(member.id, ["ID_CARD", "MOBILE_REAL_NAME"])
    # A later submission of the ID card waiting for review (or rejected) does not undo
    # the approved one: the score keeps counting it, and so does the lending rule.
    await VerificationSubmission.create(
        user_id=member.id, kind="ID_CARD", status=VerificationStatus.REJECTED
    )
    await VerificationSubmission.create(user_id=member.id, kind="ID_CARD")
    assert "ID_CARD" in await scoring.approved_kinds(member.id)
    assert await eligibility.missing_for_lending(member.id) == []


async def test_the_rule_follows_the_catalogue(monkeypatch):
    """Whatever `required_for_lending` marks: here the e-mail is required and the mobile
    number is not; nothing in the rule names a kind."""

    def marked(kind: catalogue.VerificationKind) -> catalogue.VerificationKind:
        wanted = kind.code in ("ID_CARD", "EMAIL")
        return dataclasses.replace(kind, required_for_lending=wanted)

    monkeypatch.setattr(catalogue, "KINDS", tuple(marked(kind) for kind in catalogue.KINDS))
    member, _phone = await create_member()
    await approve_verifications(member.id, ["MOBILE_REAL_NAME"])
    assert await eligibility.missing_for_lending(member.id) == ["ID_CARD", "EMAIL"]
    with pytest.raises(eligibility.LendingVerificationRequiredError) as refused:
        await eligibility.check_may_lend(member.id)
    assert refused.value.missing == ["ID_CARD", "EMAIL"]
    assert _title("EMAIL") in refused.value.message

    await approve_verifications(member.id, ["ID_CARD", "EMAIL"])
    await eligibility.check_may_lend(member.id)  # the mobile number is not needed now

    # Nothing required: everyone may lend.
    monkeypatch.setattr(
        catalogue,
        "KINDS",
        tuple(dataclasses.replace(kind, required_for_lending=False) for kind in catalogue.KINDS),
    )
    newcomer, _phone = await create_member()
    assert await eligibility.missing_for_lending(newcomer.id) == []
    await eligibility.check_may_lend(newcomer.id)


async def test_an_idempotent_replay_still_names_the_missing_kinds():
    member, _phone = await create_member()

    async def execute(_claim: object) -> dict[str, object]:
        await eligibility.check_may_lend(member.id)
        return {}

    for _ in range(2):  # the first run, then its stored answer
        with pytest.raises(DomainError) as refused:
            await run_once(
                user_id=member.id, key="replay-key-1", operation="test", request={}, execute=execute
            )
        assert refused.value.code == "LENDING_VERIFICATION_REQUIRED"
        assert eligibility.missing_of(refused.value) == ["ID_CARD", "MOBILE_REAL_NAME"]
    assert not isinstance(refused.value, eligibility.LendingVerificationRequiredError)  # replayed
    assert eligibility.missing_of(DomainError("other", code="LOAN_FULL")) == []
