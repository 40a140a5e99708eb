"""D4: full personal values only for staff with pii:view, with a reason, every view logged."""

from __future__ import annotations

import logging

import pytest
from strawberry import relay

from models.system import PersonalDataReveal
from tests.factories import create_member, create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

REVEAL = """mutation ($userId: ID!, $field: PersonalFieldEnum!, $reason: String!) {
  revealPersonalData(input: {userId: $userId, field: $field, reason: $reason}) {
    __typename ... on PersonalDataRevealed { values }
    ... on RevealPersonalDataError { code field } } }"""


def _gid(user_id: int) -> str:
    return str(relay.GlobalID("User", str(user_id)))


async def test_customer_service_sees_the_full_phone_and_the_view_is_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    member, phone = await create_member()
    cs, cs_phone = await create_staff("cs")
    body = await gql(
        client,
        REVEAL,
        {"userId": _gid(member.id), "field": "PHONE", "reason": "caller asked to verify"},
        token=await token_for(cs_phone),
    )
    assert body["data"]["revealPersonalData"] == {
        "__typename": "PersonalDataRevealed",
        "values": [phone],
    }
    [entry] = await PersonalDataReveal.all()
    assert (entry.actor_id, entry.subject_user_id, entry.field_name, entry.reason) == (
        cs.id,
        member.id,
        "PHONE",
        "caller asked to verify",
    )
    assert phone not in caplog.text  # shown to the staff member, never written to logs


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"field": "PHONE", "reason": "why"}, "INVALID", "reason"),
        ({"field": "ID_NUMBER", "reason": "check identity"}, "NOT_FOUND", "field"),
        (
            {"field": "PHONE", "reason": "check identity", "userId": _gid(999999)},
            "NOT_FOUND",
            "userId",
        ),
    ],
)
async def test_refusals_show_and_log_nothing(client, variables, code, field):
    member, _phone = await create_member()
    _cs, cs_phone = await create_staff("credit")
    body = await gql(
        client, REVEAL, {"userId": _gid(member.id), **variables}, token=await token_for(cs_phone)
    )
    assert body["data"]["revealPersonalData"] == {
        "__typename": "RevealPersonalDataError",
        "code": code,
        "field": field,
    }
    assert await PersonalDataReveal.all().count() == 0
