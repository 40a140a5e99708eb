"""Issue 22, M5.1 through the API: the customer list and a member's file.

Customer service finds a member by full phone or ID number (through the keyed lookup
hashes: the numbers are stored encrypted and never compared in clear), by masked phone
or by part of a name; filters by status, grade, registration days and overdue; pages
newest first. Numbers in answers are masked. Wildcards are literal, a 10,000-character
search is refused. A member's file shows, in one request, their credit, balances, loans,
claims, contracts, notices, messages and status changes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from strawberry import relay

from models.credit import CreditProfile
from models.members import User
from models.payments import ProviderAccount
from models.repayments import LoanInstallment
from services.kit.security import decrypt_pii
from services.repayments import overdue
from tests.factories import create_funded_member, create_member, create_staff, gql, token_for
from tests.lending import move_clock_to, repaying_loan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

LIST = """query ($filter: CustomerFilterInput, $first: Int, $after: String) {
  customers(filter: $filter, first: $first, after: $after) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { user { id displayName phoneMasked status } realNameMasked
      idNumberMasked grade available frozen withdrawing openLoans overdueLoans } } } }"""
FILE = """query ($id: ID!) { customer(id: $id) {
  customer { user { displayName status } grade available openLoans overdueLoans }
  credit { grade score limit used frozen }
  loans { totalCount nodes { id amount annualRate termMonths status } }
  claims { totalCount nodes { loanId principal bought } }
  contracts { totalCount nodes { kind status number } }
  notices { totalCount nodes { kind title } }
  cases { totalCount nodes { kind subject status level breached } }
  messages { totalCount nodes { channel recipientMasked status } }
  statusChanges { toStatus state reason } } }"""
OPEN_CASE = """mutation ($loan: ID!) { openServiceCase(input: {kind: DISPUTE,
  subject: "Penalty charged twice", text: "I was charged twice", loanId: $loan}) {
  __typename } }"""
LOCK = """mutation ($user: ID!) { setAccountStatus(input: {userId: $user, status: LOCKED,
  reason: "Suspicious logins"}) { __typename } }"""


def gid(user_id: int) -> str:
    return relay.to_base64("User", user_id)


async def _cs() -> str:
    return await token_for((await create_staff("cs"))[1])


async def _found(client, token: str, **wanted) -> list[str]:
    body = await gql(client, LIST, {"filter": wanted, "first": 100}, token=token)
    assert "errors" not in body, body
    return [edge["node"]["user"]["displayName"] for edge in body["data"]["customers"]["edges"]]


async def test_search_by_phone_id_number_masked_phone_and_name(app, client):
    alice, alice_phone, _card = await create_funded_member(0, name="Alice Zhang")
    bob, bob_phone = await create_member(name="Bob 50%_off")
    await create_member(name="Carol")
    account = await ProviderAccount.get(user_id=alice.id)
    cs = await _cs()

    assert await _found(client, cs, search=alice_phone) == ["Alice Zhang"]
    assert await _found(client, cs, search=f"+86 {bob_phone[:3]}-{bob_phone[3:]}") == [
        "Bob 50%_off"
    ]
    assert await _found(client, cs, search=bob.phone_masked) == ["Bob 50%_off"]
    # The ID number through its lookup hash: the account stores it encrypted only.
    id_number = decrypt_pii(account.id_number_cipher)
    assert id_number not in json.dumps(await ProviderAccount.all().values(), default=str)
    assert await _found(client, cs, search=id_number) == ["Alice Zhang"]
    assert await _found(client, cs, search=id_number[:-1] + "0") == []  # bad check digit
    assert await _found(client, cs, search="zhang") == ["Alice Zhang"]
    assert await _found(client, cs, search=account.real_name_masked) == ["Alice Zhang"]
    # Wildcards are literal; an injection attempt is just a name nobody has.
    assert await _found(client, cs, search="%") == ["Bob 50%_off"]
    assert await _found(client, cs, search="_") == ["Bob 50%_off"]
    assert await _found(client, cs, search="' OR 1=1 --") == []
    assert len(await _found(client, cs, search="  ")) == 3  # blank: everyone

    too_long = await gql(client, LIST, {"filter": {"search": "逾" * 10_000}}, token=cs)
    extensions = too_long["errors"][0]["extensions"]
    assert (extensions["code"], extensions["field"]) == ("BAD_USER_INPUT", "search")
    assert too_long["data"] is None

    # What comes back is masked: no full phone or ID number anywhere in the answer.
    body = await gql(client, LIST, {"first": 100}, token=cs)
    text = json.dumps(body)
    for secret in (alice_phone, bob_phone, id_number):
        assert secret not in text
    row = next(
        edge["node"]
        for edge in body["data"]["customers"]["edges"]
        if edge["node"]["user"]["displayName"] == "Alice Zhang"
    )
    assert row["idNumberMasked"] == account.id_number_masked
    assert row["realNameMasked"] == "A**********"


async def test_filters_and_pages(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(60_000, 40_000), term=3)
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=2))
    await overdue.run_daily(today)
    quiet, _phone = await create_member(name="Quiet Member")
    cs = await _cs()
    await gql(client, LOCK, {"user": gid(quiet.id)}, token=cs)
    # Registration days: two members registered on days of their own (UTC).
    await User.filter(id=quiet.id).update(created_at=datetime(2026, 1, 15, 23, 59, tzinfo=UTC))
    await User.filter(id=made.borrower.id).update(
        created_at=datetime(2026, 1, 16, 0, 0, tzinfo=UTC)
    )

    assert await _found(client, cs, hasOverdue=True) == ["Borrower Member"]
    assert "Borrower Member" not in await _found(client, cs, hasOverdue=False)
    assert await _found(client, cs, status="LOCKED") == ["Quiet Member"]
    # The grade the borrower has now (overdue lowered it from C); lenders have none.
    grade = (await CreditProfile.get(user_id=made.borrower.id)).grade
    assert await _found(client, cs, grade=grade) == ["Borrower Member"]
    assert await _found(client, cs, registeredFrom="2026-01-15", registeredTo="2026-01-15") == [
        "Quiet Member"
    ]
    assert await _found(client, cs, registeredFrom="2026-01-16", registeredTo="2026-01-16") == [
        "Borrower Member"
    ]
    bad_day = await gql(client, LIST, {"filter": {"registeredFrom": "15/01/2026"}}, token=cs)
    assert bad_day["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    body = await gql(client, LIST, {"filter": {"hasOverdue": True}, "first": 1}, token=cs)
    [borrower] = body["data"]["customers"]["edges"]
    assert (borrower["node"]["openLoans"], borrower["node"]["overdueLoans"]) == (1, 1)
    assert borrower["node"]["grade"] == grade

    # Newest first, two at a time, every member once.
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(client, LIST, {"first": 2, "after": after}, token=cs))["data"][
            "customers"
        ]
        assert page["totalCount"] == 4  # borrower, two lenders, the quiet member
        seen += [edge["node"]["user"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ids = [int(relay.GlobalID.from_id(value).node_id) for value in seen]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4


async def test_a_members_file_in_one_request(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(60_000, 40_000), term=3)
    cs = await _cs()
    opened = await gql(
        client,
        OPEN_CASE,
        {"loan": str(made.loan.id)},
        token=await token_for(made.borrower_phone),
    )
    assert opened["data"]["openServiceCase"]["__typename"] == "ServiceCaseSaved", opened
    await gql(client, LOCK, {"user": gid(made.borrower.id)}, token=cs)

    body = await gql(client, FILE, {"id": gid(made.borrower.id)}, token=cs)
    found = body["data"]["customer"]
    assert found["customer"]["user"] == {"displayName": "Borrower Member", "status": "LOCKED"}
    assert found["credit"]["grade"] == found["customer"]["grade"] == "C"
    assert found["loans"]["totalCount"] == 1
    assert found["loans"]["nodes"][0]["amount"] == "1000.00"
    assert found["loans"]["nodes"][0]["status"] == "REPAYING"
    assert found["customer"]["openLoans"] == 1
    assert {contract["kind"] for contract in found["contracts"]["nodes"]} == {"LOAN"}
    assert found["messages"]["totalCount"] >= 1  # the signing code, at least
    assert all("****" in message["recipientMasked"] for message in found["messages"]["nodes"])
    assert found["statusChanges"] == [
        {"toStatus": "LOCKED", "state": "APPLIED", "reason": "Suspicious logins"}
    ]
    assert found["claims"]["totalCount"] == 0
    assert found["cases"] == {
        "totalCount": 1,
        "nodes": [
            {
                "kind": "DISPUTE",
                "subject": "Penalty charged twice",
                "status": "OPEN",
                "level": 1,
                "breached": False,
            }
        ],
    }

    (lender, _phone) = made.lenders[0]
    held = (await gql(client, FILE, {"id": gid(lender.id)}, token=cs))["data"]["customer"]
    assert held["claims"]["nodes"] == [
        {"loanId": str(made.loan.id), "principal": "600.00", "bought": False}
    ]
    assert held["loans"]["totalCount"] == 0

    # Not a member, or nobody: no file. A member, or a guarantor's staff: forbidden.
    staff, _phone = await create_staff("finance")
    for nobody in (gid(staff.id), gid(10**9), "not-an-id"):
        assert (await gql(client, FILE, {"id": nobody}, token=cs))["data"]["customer"] is None
    member_token = await token_for(made.lenders[1][1])
    guarantor_token = await token_for((await create_staff("guarantor"))[1])
    for token in (member_token, guarantor_token):
        refused = await gql(client, FILE, {"id": gid(made.borrower.id)}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        listed = await gql(client, LIST, {}, token=token)
        assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
