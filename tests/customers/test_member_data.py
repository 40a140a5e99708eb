"""Issue 22, the R6/D4 side: a member downloads their own data as a file through a signed
link, and asks for deletion, recorded and answered with what the law keeps, until when.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from strawberry import relay

from models.customers import DataDeletionRequest
from models.loans import Loan
from services.identity.permissions import Actor, Permission
from services.loans import requests, review
from services.loans.schedule import RepaymentMethod
from services.platform.retention import add_months
from simulation.people import member_actor
from tests.factories import create_member, create_staff, gql, token_for
from tests.lending import repaying_loan, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

LINK = """mutation { createDownloadLink(input: {kind: MY_DATA_JSON}) { __typename
  ... on DownloadLinkCreated { path } ... on CreateDownloadLinkError { code field } } }"""
DELETE = """mutation ($reason: String!) { requestDataDeletion(input: {reason: $reason}) {
  __typename ... on DataDeletionRequested { request { answer loansRunning retainedUntil }
    retained { kind until } }
  ... on RequestDataDeletionError { code field } } }"""
FILE = """query ($id: ID!) { customer(id: $id) { deletionRequests { reason loansRunning } } }"""
LOCK = """mutation ($user: ID!) { setAccountStatus(input: {userId: $user, status: LOCKED,
  reason: "Suspicious logins"}) { __typename } }"""


async def test_a_member_downloads_their_own_data(app, client, scripted):
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(60_000, 40_000))
    token = await token_for(made.borrower_phone)
    created = (await gql(client, LINK, token=token))["data"]["createDownloadLink"]
    assert created["__typename"] == "DownloadLinkCreated", created
    response = await client.get(created["path"])  # the link alone, no bearer token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = json.loads(response.content)
    assert data["format"] == "lendbridge-member-data/1"
    assert data["profile"]["phone"] == made.borrower_phone
    assert data["profile"]["display_name"] == "Borrower Member"
    assert data["profile"]["id_number"] is not None
    assert len(data["profile"]["id_number"]) == 18
    assert [loan["id"] for loan in data["loans"]] == [made.loan.id]
    assert data["loans"][0]["amount_fen"] == 100_000
    assert {contract["kind"] for contract in data["contracts"]} == {"LOAN"}
    assert data["claims"] == []
    assert all("card_cipher" not in card for card in data["bank_cards"])
    assert all("body" not in message for message in data["messages"])

    # A lender's file has their claim; staff have no member data to download.
    _lender, phone = made.lenders[0]
    lender_link = (await gql(client, LINK, token=await token_for(phone)))["data"][
        "createDownloadLink"
    ]
    theirs = json.loads((await client.get(lender_link["path"])).content)
    assert [(claim["loan_id"], claim["principal_fen"]) for claim in theirs["claims"]] == [
        (made.loan.id, 60_000)
    ]
    assert theirs["profile"]["phone"] == phone
    staff_token = await token_for((await create_staff("cs"))[1])
    refused = (await gql(client, LINK, token=staff_token))["data"]["createDownloadLink"]
    assert (refused["code"], refused["field"]) == ("INVALID", "id")

    # Once the account is locked the link serves nothing.
    await gql(client, LOCK, {"user": relay.to_base64("User", made.borrower.id)}, token=staff_token)
    assert (await client.get(created["path"])).status_code in (403, 404, 410)


async def _rejected_loan(borrower_id: int) -> Loan:
    loan = await requests.publish(
        member_actor(borrower_id),
        requests.LoanRequest(
            amount_fen=500_000,
            annual_rate=Decimal("0.1200"),
            term_months=6,
            method=RepaymentMethod.EQUAL_INSTALLMENT,
            purpose="Working capital",
            bid_window_days=10,
            min_bid_fen=5_000,
            max_bid_fen=500_000,
        ),
        idempotency_key=f"publish-{uuid.uuid4().hex[:16]}",
    )
    staff, _phone = await create_staff("risk_l1")
    reviewer = Actor(
        user_id=staff.id,
        kind="staff",
        permissions=frozenset({Permission.LOAN_REVIEW_L1, Permission.LOAN_REVIEW}),
    )
    await review.review(reviewer, loan.id, 1, review.LoanReviewDecision.REJECT, "Too risky")
    return await Loan.get(id=loan.id)


async def test_deletion_requests_are_answered_with_what_r6_keeps(app, client, scripted):
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(60_000, 40_000))
    running = await gql(
        client, DELETE, {"reason": "Leaving"}, token=await token_for(made.borrower_phone)
    )
    answered = running["data"]["requestDataDeletion"]
    assert answered["request"]["loansRunning"] is True
    assert answered["request"]["retainedUntil"] is None
    assert answered["retained"] == [
        {"kind": kind, "until": None}
        for kind in ("transactions", "contracts", "interaction_logs", "credit_materials")
    ]
    assert "still running" in answered["request"]["answer"]
    assert "must be closed first" in answered["request"]["answer"]

    # A loan rejected today ended today: kept five years from the day after.
    borrower, phone = await verified_borrower(scripted)
    loan = await _rejected_loan(borrower.id)
    assert loan.status == "REJECTED"
    ended = (loan.closed_at or loan.created_at).date()
    until = add_months(ended, 60).isoformat()
    after = (await gql(client, DELETE, {"reason": ""}, token=await token_for(phone)))["data"][
        "requestDataDeletion"
    ]
    assert after["request"]["loansRunning"] is False
    assert after["request"]["retainedUntil"] == until
    assert {row["until"] for row in after["retained"]} == {until}
    assert until in after["request"]["answer"]

    # Never a party to a loan: nothing R6 keeps.
    nobody, nobody_phone = await create_member()
    never = (await gql(client, DELETE, {"reason": ""}, token=await token_for(nobody_phone)))[
        "data"
    ]["requestDataDeletion"]
    assert never["retained"] == []
    assert "never a party" in never["request"]["answer"]

    too_long = (
        await gql(client, DELETE, {"reason": "x" * 10_000}, token=await token_for(nobody_phone))
    )["data"]["requestDataDeletion"]
    assert (too_long["code"], too_long["field"]) == ("INVALID", "reason")
    assert await DataDeletionRequest.filter(user_id=nobody.id).count() == 1

    # Customer service sees the requests in the member's file; staff cannot ask for one.
    cs = await token_for((await create_staff("cs"))[1])
    seen = await gql(client, FILE, {"id": relay.to_base64("User", made.borrower.id)}, token=cs)
    assert seen["data"]["customer"]["deletionRequests"] == [
        {"reason": "Leaving", "loansRunning": True}
    ]
    forbidden = await gql(client, DELETE, {"reason": ""}, token=cs)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
