"""Issue 20 through the API: a lender lists part of a claim, anyone sees the listing's
public figures (no borrower identity) with the buyer's XIRR at the price, another lender
buys part of it with the SMS code, both see the purchase in `myTransfers` from their
side, the seller cancels the rest; the refusals come back as typed errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models.bids import Claim
from services.platform import clock
from tests.factories import gql, token_for
from tests.lending import code_for, move_clock_to, ready_lender, repaying_loan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

LISTINGS = """query ($max: SignedRate) { transferListings(first: 10, maxRate: $max) {
  totalCount edges { node { id loanId status principal listed sold rate price
  loanAnnualRate remainingInstallments nextDueDate buyerXirr version } } } }"""
LIST = """mutation ($claim: ID!, $principal: Money!, $rate: SignedRate!, $key: String!) {
  listClaimForTransfer(input: {claimId: $claim, principal: $principal, rate: $rate,
  idempotencyKey: $key}) {
    __typename ... on TransferListed { listing { id principal version } }
    ... on ListClaimError { code field } } }"""
BUY = """mutation ($listing: ID!, $principal: Money!, $version: Int!, $key: String!) {
  buyClaim(input: {listingId: $listing, principal: $principal, version: $version,
  idempotencyKey: $key}) {
    __typename ... on ClaimPurchaseAsked { operationId transfer { status requested } }
    ... on BuyClaimError { code field } } }"""
CONFIRM = """mutation ($op: ID!, $code: String!) { confirmOperation(input: {operationId: $op,
  code: $code}) { __typename ... on OperationConfirmed { claimTransfer { status principal
  price accruedInterest fee side } } ... on ConfirmOperationError { code } } }"""
MINE = """{ myTransfers(first: 10) { totalCount edges { node { side status principal price
  accruedInterest fee } } } }"""
CANCEL = """mutation ($listing: ID!) { cancelTransferListing(input: {listingId: $listing}) {
  __typename ... on TransferListingCancelled { listing { status } }
  ... on CancelTransferListingError { code } } }"""


async def test_list_see_buy_and_cancel_through_the_api(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000))
    (seller, seller_phone), (_other, other_phone) = made.lenders
    claim = await Claim.get(loan_id=made.loan.id, holder_id=seller.id)
    await move_clock_to(await clock.today() + timedelta(days=31))
    seller_token = await token_for(seller_phone)
    variables = {"claim": str(claim.id), "principal": "2000.00", "rate": "-0.0300"}
    listed = await gql(client, LIST, {**variables, "key": uuid.uuid4().hex}, token=seller_token)
    listing = listed["data"]["listClaimForTransfer"]["listing"]
    assert listing["principal"] == "2000.00"

    seen = await gql(client, LISTINGS)  # anonymous
    (node,) = [e["node"] for e in seen["data"]["transferListings"]["edges"]]
    assert node["id"] == listing["id"]
    assert (node["status"], node["rate"], node["price"]) == ("OPEN", "-0.0300", "1940.00")
    assert (node["loanAnnualRate"], node["remainingInstallments"]) == ("0.1200", 12)
    assert node["buyerXirr"] is not None
    assert float(node["buyerXirr"]) > 0.12  # bought at 3 % off: more than the loan's rate
    assert "borrower" not in str(seen)
    assert (await gql(client, LISTINGS, {"max": "-0.0400"}))["data"]["transferListings"][
        "totalCount"
    ] == 0

    _buyer, buyer_phone = await ready_lender(500_000, name="Buyer")
    buyer_token = await token_for(buyer_phone)
    asked = await gql(
        client,
        BUY,
        {
            "listing": listing["id"],
            "principal": "500.00",
            "version": node["version"],
            "key": uuid.uuid4().hex,
        },
        token=buyer_token,
    )
    purchase = asked["data"]["buyClaim"]
    assert purchase["transfer"] == {"status": "AWAITING_CONFIRMATION", "requested": "500.00"}
    done = await gql(
        client,
        CONFIRM,
        {"op": purchase["operationId"], "code": await code_for(buyer_phone)},
        token=buyer_token,
    )
    bought = done["data"]["confirmOperation"]["claimTransfer"]
    assert (bought["status"], bought["principal"], bought["price"], bought["side"]) == (
        "DONE",
        "500.00",
        "485.00",
        "BOUGHT",
    )
    assert bought["fee"] == "2.43"  # 0.5 % of 485.00 = 2.425, half-up
    mine = (await gql(client, MINE, token=buyer_token))["data"]["myTransfers"]
    sold = (await gql(client, MINE, token=seller_token))["data"]["myTransfers"]
    assert [e["node"]["side"] for e in mine["edges"]] == ["BOUGHT"]
    assert [e["node"]["side"] for e in sold["edges"]] == ["SOLD"]
    assert mine["edges"][0]["node"]["price"] == sold["edges"][0]["node"]["price"] == "485.00"

    refusals = [
        (
            BUY,
            {
                "listing": listing["id"],
                "principal": "500.00",
                "version": 1,
                "key": uuid.uuid4().hex,
            },
            seller_token,
            "buyClaim",
            "OWN_LISTING",
        ),
        (
            BUY,
            {"listing": "999999", "principal": "500.00", "version": 1, "key": uuid.uuid4().hex},
            buyer_token,
            "buyClaim",
            "NOT_FOUND",
        ),
        (
            LIST,
            {**variables, "rate": "0.2000", "key": uuid.uuid4().hex},
            seller_token,
            "listClaimForTransfer",
            "INVALID",
        ),
        (
            CANCEL,
            {"listing": listing["id"]},
            await token_for(other_phone),
            "cancelTransferListing",
            "NOT_FOUND",
        ),
    ]
    for document, values, token, field, code in refusals:
        answer = (await gql(client, document, values, token=token))["data"][field]
        assert answer["code"] == code, (field, answer)
    cancelled = await gql(client, CANCEL, {"listing": listing["id"]}, token=seller_token)
    assert cancelled["data"]["cancelTransferListing"]["listing"]["status"] == "CANCELLED"
    assert (await gql(client, LISTINGS))["data"]["transferListings"]["totalCount"] == 0
