"""Issue 5 must-show, through GraphQL only: publish → automatic review → levels 1 and 2
→ listed → auto-bids (rules opted in by SMS) and manual bids (SMS-confirmed) → full →
the borrower signs the contract → disbursed; afterwards every journal balances and each
member's balances at the provider equal the ledger's."""

from __future__ import annotations

import asyncio

import pytest

from services.money import ledger
from services.platform import outbox
from tests.factories import create_staff, gql, token_for
from tests.lending import (
    assert_ledger_matches_provider,
    code_for,
    ready_lender,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

PUBLISH = """mutation ($input: PublishLoanInput!) { publishLoan(input: $input) { __typename
  ... on LoanPublished { loan { id status requiredLevels } }
  ... on PublishLoanError { code field message } } }"""
REVIEW = """mutation ($id: ID!, $level: Int!) {
  reviewLoan(input: {loanId: $id, level: $level, decision: APPROVE, reason: ""}) {
  __typename ... on LoanReviewed { loan { status } } ... on ReviewLoanError { code } } }"""
SET_RULE = """mutation ($input: AutoBidRuleInput!) { setAutoBidRule(input: $input) {
  __typename ... on AutoBidRuleSaved { operationId } ... on SetAutoBidRuleError { code } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on ConfirmOperationError { code } } }"""
PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code } } }"""
LOAN = """query ($id: ID!) { loan(id: $id) { status progress { funded remaining bidders } } }"""
CONTRACTS = "{ contracts(first: 1) { edges { node { id status } } } }"
SIGN_REQUEST = """mutation ($id: ID!) { requestContractSignature(input: {contractId: $id})
  { __typename } }"""
SIGN = """mutation ($id: ID!, $code: String!) { signContract(input: {contractId: $id, code: $code})
  { __typename } }"""


async def _confirm(client, token: str, phone: str, operation: str) -> None:
    body = await gql(client, CONFIRM, {"id": operation, "code": await code_for(phone)}, token=token)
    assert body["data"]["confirmOperation"]["__typename"] == "OperationConfirmed", body


async def test_publish_review_list_auto_and_manual_bids_full_signed_disbursed(
    app, client, scripted
):
    sandbox = app.state.sandbox.sandbox
    borrower, borrower_phone = await verified_borrower(scripted)
    borrower_token = await token_for(borrower_phone)

    # Two lenders opt in to auto-bidding (one SMS code each), two will bid by hand.
    auto = [await ready_lender(400_000, name=f"Auto {n}") for n in "AB"]
    for _user, phone in auto:
        token = await token_for(phone)
        rule = {
            "minRate": "0.1000",
            "maxRate": "0.1500",
            "minTerm": 6,
            "maxTerm": 12,
            "grades": ["AA", "A", "B", "C"],
            "methods": ["EQUAL_INSTALLMENT"],
            "amountPerLoan": "2000.00",
            "keepBalance": "500.00",
        }
        saved = (await gql(client, SET_RULE, {"input": rule}, token=token))["data"]
        await _confirm(client, token, phone, saved["setAutoBidRule"]["operationId"])
    manual = [await ready_lender(400_000, name=f"Manual {n}") for n in "CD"]

    published = await gql(
        client,
        PUBLISH,
        {
            "input": {
                "amount": "10000.00",
                "annualRate": "0.1200",
                "termMonths": 12,
                "method": "EQUAL_INSTALLMENT",
                "purpose": "Stock for the shop",
                "biddingDays": 5,
                "minBid": "100.00",
                "maxBid": "5000.00",
                "idempotencyKey": "lifecycle-publish-1",
            }
        },
        token=borrower_token,
    )
    loan = published["data"]["publishLoan"]["loan"]
    assert (loan["status"], loan["requiredLevels"]) == ("PENDING_REVIEW", [1, 2])
    for level in (1, 2):
        _staff, phone = await create_staff(f"risk_l{level}")
        reviewed = await gql(
            client, REVIEW, {"id": loan["id"], "level": level}, token=await token_for(phone)
        )
        assert reviewed["data"]["reviewLoan"]["__typename"] == "LoanReviewed"
    assert reviewed["data"]["reviewLoan"]["loan"]["status"] == "LISTED"

    # Listing serves the auto-bid rules: 2,000.00 each, within the 50 % auto share.
    for _ in range(50):
        await outbox.dispatch_once()
        progress = (await gql(client, LOAN, {"id": loan["id"]}))["data"]["loan"]["progress"]
        if progress["bidders"] == 2:
            break
        await asyncio.sleep(0.05)
    assert progress == {"funded": "4000.00", "remaining": "6000.00", "bidders": 2}

    for (_user, phone), amount in zip(manual, ("3000.00", "3500.00"), strict=True):
        token = await token_for(phone)
        placed = await gql(
            client,
            PLACE,
            {"input": {"loanId": loan["id"], "amount": amount, "idempotencyKey": f"bid-{phone}"}},
            token=token,
        )
        await _confirm(client, token, phone, placed["data"]["placeBid"]["operationId"])
    # The second manual bid asked 3,500.00 and got the 3,000.00 left: the loan is full.
    full = (await gql(client, LOAN, {"id": loan["id"]}))["data"]["loan"]
    assert full["status"] == "FULL"
    assert full["progress"] == {"funded": "10000.00", "remaining": "0.00", "bidders": 4}

    # The loan contract is made from the outbox (lenders consented by their bids); the
    # app's own dispatcher may be the one making it.
    for _ in range(100):
        await outbox.dispatch_once()
        edges = (await gql(client, CONTRACTS, token=borrower_token))["data"]["contracts"]["edges"]
        if edges:
            break
        await asyncio.sleep(0.05)
    [edge] = edges
    contract_id = edge["node"]["id"]
    await gql(client, SIGN_REQUEST, {"id": contract_id}, token=borrower_token)
    signed = await gql(
        client,
        SIGN,
        {"id": contract_id, "code": await code_for(borrower_phone)},
        token=borrower_token,
    )
    assert signed["data"]["signContract"]["__typename"] == "ContractSigned"

    await settle_everything(sandbox)
    done = (await gql(client, LOAN, {"id": loan["id"]}))["data"]["loan"]
    assert done["status"] == "REPAYING"
    account = await gql(client, "{ myAccount { available frozen } }", token=borrower_token)
    assert account["data"]["myAccount"] == {"available": "10000.00", "frozen": "0.00"}
    lent = {"Auto A": 200_000, "Auto B": 200_000, "Manual C": 300_000, "Manual D": 300_000}
    for (user, _phone), name in zip([*auto, *manual], lent, strict=True):
        books = await ledger.member_balances(user.id)
        assert (books["available"], books["frozen"]) == (400_000 - lent[name], 0), name
    await assert_ledger_matches_provider(
        sandbox, [borrower.id, *(user.id for user, _phone in [*auto, *manual])]
    )
