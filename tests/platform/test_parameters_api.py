"""M11.3: platform parameters change at run time, checked by type, with history."""

from __future__ import annotations

import pytest

from models.system import ParameterChange, PlatformParameter
from services.credit import policy
from services.kit.broker import get_broker
from services.platform import clock, parameters
from tests.factories import create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

SET = """mutation ($name: String!, $value: JSON!, $reason: String!) {
  setPlatformParameter(input: {name: $name, value: $value, reason: $reason}) {
    __typename
    ... on PlatformParameterSet { parameter { name value defaultValue updatedBy } }
    ... on SetPlatformParameterError { code field message } } }"""

NEW_CAPS = {
    "person_fen": 10_000_000,
    "person_all_platforms_fen": 50_000_000,
    "company_fen": 100_000_000,
    "company_all_platforms_fen": 500_000_000,
}


async def _admin_token() -> tuple[int, str]:
    admin, phone = await create_staff("admin")
    return admin.id, await token_for(phone)


async def test_parameters_list_their_defaults_until_changed(client):
    _admin_id, token = await _admin_token()
    body = await gql(
        client, "{ platformParameters { name value defaultValue updatedAt } }", token=token
    )
    listed = {row["name"]: row for row in body["data"]["platformParameters"]}
    caps = listed["credit.borrowingCaps"]
    assert caps["value"] == caps["defaultValue"]
    assert caps["value"]["person_fen"] == 20_000_000  # R1: 200,000 yuan per person
    assert caps["updatedAt"] is None
    assert listed["credit.autoAdjustment"]["value"]["raise_per_on_time"] == "0.0200"


async def test_a_change_is_in_force_at_once_and_kept_in_history(client):
    admin_id, token = await _admin_token()
    body = await gql(
        client,
        SET,
        {"name": "credit.borrowingCaps", "value": NEW_CAPS, "reason": "regulator asked"},
        token=token,
    )
    result = body["data"]["setPlatformParameter"]
    assert result["__typename"] == "PlatformParameterSet"
    assert result["parameter"]["value"] == NEW_CAPS
    assert result["parameter"]["updatedBy"] == str(admin_id)
    caps = await parameters.get(policy.BORROWING_CAPS)
    assert caps.person_fen == 10_000_000

    [change] = await ParameterChange.all()
    assert change.old_value["person_fen"] == 20_000_000
    assert change.new_value == NEW_CAPS
    assert (change.actor_id, change.reason) == (admin_id, "regulator asked")

    history = await gql(
        client,
        '{ parameterHistory(name: "credit.borrowingCaps") { reason newValue } }',
        token=token,
    )
    assert history["data"]["parameterHistory"] == [
        {"reason": "regulator asked", "newValue": NEW_CAPS}
    ]


async def test_another_process_sees_the_change_on_its_next_read(client):
    assert (await parameters.get(policy.BORROWING_CAPS)).person_fen == 20_000_000  # cached
    # Another process stores a value: until it bumps the version, this one keeps its cache.
    await PlatformParameter.create(
        name="credit.borrowingCaps", value=NEW_CAPS, updated_at=await clock.now()
    )
    assert (await parameters.get(policy.BORROWING_CAPS)).person_fen == 20_000_000
    await get_broker().bump("parameters")
    assert (await parameters.get(policy.BORROWING_CAPS)).person_fen == 10_000_000


@pytest.mark.parametrize(
    ("name", "value", "reason", "code"),
    [
        ("credit.borrowingCaps", {**NEW_CAPS, "person_fen": -1}, "bad value", "INVALID"),
        ("credit.borrowingCaps", {"person_fen": 1}, "missing keys", "INVALID"),
        ("credit.borrowingCaps", "200000", "wrong type", "INVALID"),
        ("credit.borrowingCaps", NEW_CAPS, "why", "INVALID"),  # reason too short
        ("no.such.parameter", 1, "typo test", "NOT_FOUND"),
        (
            "credit.grades",
            {"bands": [{"grade": "AA", "min_score": 1, "limit_fen": 1}]},
            "bands missing",
            "INVALID",
        ),
        ("credit.scorecard", {"item_points": {"NOPE": 1}}, "unknown kind", "INVALID"),
    ],
)
async def test_a_bad_value_is_refused_and_changes_nothing(client, name, value, reason, code):
    _admin_id, token = await _admin_token()
    body = await gql(client, SET, {"name": name, "value": value, "reason": reason}, token=token)
    result = body["data"]["setPlatformParameter"]
    assert (result["__typename"], result["code"]) == ("SetPlatformParameterError", code)
    assert await PlatformParameter.all().count() == 0
    assert await ParameterChange.all().count() == 0
