"""`node(id:)` returns an object only to those who may see it."""

from __future__ import annotations

import pytest
from strawberry import relay

from tests.factories import create_member, create_staff, error_codes, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

NODE = """query ($id: ID!) {
  node(id: $id) { __typename id ... on User { displayName phoneMasked } } }"""


def gid(user_id: int) -> str:
    return str(relay.GlobalID("User", str(user_id)))


async def test_a_member_sees_their_own_user_node_and_not_another(client):
    me, phone = await create_member(name="Han Meimei")
    other, _ = await create_member(name="Other")
    token = await token_for(phone)

    own = await gql(client, NODE, {"id": gid(me.id)}, token=token)
    assert own["data"]["node"] == {
        "__typename": "User",
        "id": gid(me.id),
        "displayName": "Han Meimei",
        "phoneMasked": me.phone_masked,
    }
    theirs = await gql(client, NODE, {"id": gid(other.id)}, token=token)
    assert theirs["data"]["node"] is None


async def test_staff_with_customer_access_see_any_member(client):
    member, _ = await create_member(name="Customer")
    _cs, phone = await create_staff("cs")
    body = await gql(client, NODE, {"id": gid(member.id)}, token=await token_for(phone))
    assert body["data"]["node"]["displayName"] == "Customer"


async def test_malformed_and_unknown_ids(client):
    _me, phone = await create_member()
    token = await token_for(phone)
    bad = await gql(client, NODE, {"id": "not-base64!"}, token=token)
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    unknown = await gql(client, NODE, {"id": str(relay.GlobalID("Loan", "1"))}, token=token)
    assert unknown["data"]["node"] is None
    missing = await gql(client, NODE, {"id": gid(999999)}, token=token)
    assert missing["data"]["node"] is None
