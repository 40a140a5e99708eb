"""M1.8, R2, R4: manual bids through GraphQL, second-confirmed and frozen at the
provider, trimmed at the end, full → disbursed (claims, ledger = provider), failed →
every freeze released exactly once; bidProgress events."""

from __future__ import annotations

from typing import Any

import pytest

from models.bids import Bid, BidStatus, Claim
from models.loans import Loan
from models.payments import PaymentInstruction, ProviderAccount
from services.credit import scoring
from services.loans import bidding
from services.money import ledger
from services.platform import clock, outbox
from tests.factories import (
    approve_verifications,
    create_member,
    gql,
    lending_kinds,
    pdf_text,
    token_for,
)
from tests.lending import (
    assert_ledger_matches_provider,
    borrower_signs,
    code_for,
    listed_loan,
    ready_lender,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId bid { id status requested amount } }
  ... on PlaceBidError { code field message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { id status requested amount source } }
    ... on ConfirmOperationError { code field message } } }"""
LOAN = """query ($id: ID!) { loan(id: $id) { status progress { funded remaining bidders } } }"""
ACCOUNT = "{ myAccount { available frozen } }"
CONTRACTS = """{ contracts(first: 5) { edges { node { id status downloadPath
  parties { role amount } } } } }"""
REQUEST_SIGNATURE = """mutation ($id: ID!) { requestContractSignature(input: {contractId: $id})
  { __typename } }"""
SIGN = """mutation ($id: ID!, $code: String!) { signContract(input: {contractId: $id, code: $code})
  { __typename ... on ContractSigned { contract { status } } } }"""

_keys = iter(range(1, 10**9))


async def _bid(client, token: str, phone: str, loan_id: int, amount: str) -> dict[str, Any]:
    placed = await gql(
        client,
        PLACE,
        {
            "input": {
                "loanId": str(loan_id),
                "amount": amount,
                "idempotencyKey": f"bid-{next(_keys):08d}",
            }
        },
        token=token,
    )
    result = placed["data"]["placeBid"]
    if result["__typename"] != "BidPlaced":
        return result
    confirmed = await gql(
        client, CONFIRM, {"id": result["operationId"], "code": await code_for(phone)}, token=token
    )
    return dict(confirmed["data"]["confirmOperation"])


async def test_manual_bids_fill_the_loan_which_is_disbursed(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    lenders = [await ready_lender(500_000, name=f"Lender {n}") for n in "ABC"]
    tokens = [await token_for(phone) for _user, phone in lenders]
    # The borrower's limit holds the request: 30,000.00 - 10,000.00.
    assert (await scoring.standing(borrower.id)).available_fen == 2_000_000

    first = await _bid(client, tokens[0], lenders[0][1], loan.id, "3333.33")
    assert first["bid"] == {
        "id": first["bid"]["id"],
        "status": "ACCEPTED",
        "requested": "3333.33",
        "amount": "3333.33",
        "source": "MANUAL",
    }
    mine = (await gql(client, ACCOUNT, token=tokens[0]))["data"]["myAccount"]
    assert (mine["available"], mine["frozen"]) == ("1666.67", "3333.33")
    progress = (await gql(client, LOAN, {"id": str(loan.id)}))["data"]["loan"]
    assert progress == {
        "status": "LISTED",
        "progress": {"funded": "3333.33", "remaining": "6666.67", "bidders": 1},
    }
    await _bid(client, tokens[1], lenders[1][1], loan.id, "3333.33")
    # The last bid asks for 5,000.00: it is trimmed to the 3,333.34 left, and fills it.
    last = await _bid(client, tokens[2], lenders[2][1], loan.id, "5000.00")
    assert (last["bid"]["requested"], last["bid"]["amount"]) == ("5000.00", "3333.34")
    # Full: bidding closed at once; the disbursement follows from the outbox.
    assert (await Loan.get(id=loan.id)).status in ("FULL", "REPAYING")
    # Nothing is left: another bid is refused and nothing is frozen.
    late_user, late_phone = await ready_lender(100_000, name="Late Lender")
    late = await _bid(client, await token_for(late_phone), late_phone, loan.id, "100.00")
    assert late["code"] == "LOAN_FULL"

    # The loan contract names every lender; the money waits for the borrower's signature.
    await outbox.dispatch_once()
    assert await bidding.disburse_pending() == 0
    assert (await Loan.get(id=loan.id)).status == "FULL"
    borrower_token = await token_for(borrower_phone)
    [contract] = (await gql(client, CONTRACTS, token=borrower_token))["data"]["contracts"]["edges"]
    contract = contract["node"]
    assert contract["status"] == "SIGNING"  # the three lenders consented by their bids
    assert sorted(p["amount"] for p in contract["parties"] if p["role"] == "LENDER") == [
        "3333.33",
        "3333.33",
        "3333.34",
    ]
    asked = await gql(client, REQUEST_SIGNATURE, {"id": contract["id"]}, token=borrower_token)
    assert asked["data"]["requestContractSignature"]["__typename"] == "ContractSignatureRequested"
    signed = await gql(
        client,
        SIGN,
        {"id": contract["id"], "code": await code_for(borrower_phone)},
        token=borrower_token,
    )
    assert signed["data"]["signContract"]["contract"]["status"] == "SIGNED"
    # The archived PDF names every lender (masked, as on their custody accounts) and
    # amount, and the borrower; a lender who is not party to it cannot download it.
    document = await client.get(
        contract["downloadPath"], headers={"Authorization": f"Bearer {borrower_token}"}
    )
    assert document.status_code == 200
    text = pdf_text(document.content)
    for (user, _phone), amount in zip(lenders, ("3333.33", "3333.33", "3333.34"), strict=True):
        custody = await ProviderAccount.get(owner_code=f"m:{user.id}")
        assert custody.id_number_masked in text
        assert amount in text
    assert "10000.00" in text
    outsider = await client.get(
        contract["downloadPath"],
        headers={"Authorization": f"Bearer {await token_for(late_phone)}"},
    )
    assert outsider.status_code == 404

    await settle_everything(sandbox)  # the outbox disburses, the provider settles
    loan = await Loan.get(id=loan.id)
    assert loan.status == "REPAYING"
    claims = (
        await Claim.filter(loan_id=loan.id).order_by("id").values_list("holder_id", "principal_fen")
    )
    assert claims == [
        (lenders[0][0].id, 333_333),
        (lenders[1][0].id, 333_333),
        (lenders[2][0].id, 333_334),
    ]
    assert (await ledger.member_balances(borrower.id))["available"] == 1_000_000
    for (user, _phone), share in zip(lenders, (333_333, 333_333, 333_334), strict=True):
        books = await ledger.member_balances(user.id)
        assert (books["available"], books["frozen"]) == (500_000 - share, 0)
    assert (await ledger.member_balances(late_user.id))["frozen"] == 0
    await assert_ledger_matches_provider(
        sandbox, [borrower.id, late_user.id, *(user.id for user, _ in lenders)]
    )


async def test_bid_checks_are_typed_and_freeze_nothing(app, client, scripted):
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000, max_bid_fen=500_000)
    lender, phone = await ready_lender(200_000)
    token = await token_for(phone)
    unassessed, unassessed_phone = await create_member()
    await approve_verifications(unassessed.id, lending_kinds())  # may lend, but no R4 yet
    cases = [
        (token, "50.00", "BID_OUT_OF_RANGE"),  # below the minimum of 100.00
        (token, "5000.01", "BID_OUT_OF_RANGE"),  # above the maximum
        (token, "2000.01", "INSUFFICIENT_FUNDS"),  # 2,000.00 deposited
        (await token_for(borrower_phone), "100.00", "OWN_LOAN"),
        (await token_for(unassessed_phone), "100.00", "RISK_ASSESSMENT_REQUIRED"),
    ]
    for who, amount, code in cases:
        body = await gql(
            client,
            PLACE,
            {
                "input": {
                    "loanId": str(loan.id),
                    "amount": amount,
                    "idempotencyKey": f"bid-{next(_keys):08d}",
                }
            },
            token=who,
        )
        assert body["data"]["placeBid"]["code"] == code, (amount, code, body)
    assert await Bid.all().count() == 0
    assert await PaymentInstruction.filter(kind="FREEZE").count() == 0
    assert (await ledger.member_balances(lender.id))["frozen"] == 0
    assert unassessed

    # A wrong code does nothing; the bid waits.
    placed = await gql(
        client,
        PLACE,
        {"input": {"loanId": str(loan.id), "amount": "100.00", "idempotencyKey": "bid-wrong-code"}},
        token=token,
    )
    operation = placed["data"]["placeBid"]["operationId"]
    wrong = await gql(client, CONFIRM, {"id": operation, "code": "000000"}, token=token)
    assert wrong["data"]["confirmOperation"]["code"] == "CODE_INVALID"
    assert (await Bid.get()).status == BidStatus.AWAITING_CONFIRMATION
    assert (await ledger.member_balances(lender.id))["frozen"] == 0


async def test_a_listing_that_ends_short_releases_every_freeze_once(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, days=3)
    lenders = [await ready_lender(300_000, name=f"Lender {n}") for n in "AB"]
    for _user, phone in lenders:
        await _bid(client, await token_for(phone), phone, loan.id, "2500.00")
    assert (await Loan.get(id=loan.id)).funded_fen == 500_000
    assert (await scoring.standing(borrower.id)).used_fen == 1_000_000

    assert await bidding.fail_expired_listings() == 0  # the window is still open
    await clock.advance(days=7)  # past 3 working days, whatever the weekday
    assert await bidding.fail_expired_listings() == 1
    assert await bidding.fail_expired_listings() == 0  # exactly once
    assert await bidding.fail_listing(loan.id) is False
    loan = await Loan.get(id=loan.id)
    assert loan.status == "FAILED"
    assert await Bid.filter(status=BidStatus.RELEASED).count() == 2
    assert await PaymentInstruction.filter(kind="UNFREEZE").count() == 2
    # A bid after the end is refused.
    late = await _bid(client, await token_for(lenders[0][1]), lenders[0][1], loan.id, "100.00")
    assert late["code"] == "LOAN_NOT_OPEN"
    await settle_everything(sandbox)
    for user, _phone in lenders:
        books = await ledger.member_balances(user.id)
        assert (books["available"], books["frozen"]) == (300_000, 0)
    assert (await scoring.standing(borrower.id)).used_fen == 0  # the limit is back
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])


async def test_bid_progress_is_published_for_every_bid_full_and_disbursed(app, client, scripted):
    from services.kit.broker import get_broker

    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 200_000, min_bid_fen=10_000)
    _lender, phone = await ready_lender(300_000)
    received: list[dict[str, Any]] = []
    async with get_broker().subscribe(bidding.progress_channel(loan.id)) as messages:
        await _bid(client, await token_for(phone), phone, loan.id, "1000.00")
        await _bid(client, await token_for(phone), phone, loan.id, "1500.00")
        await outbox.dispatch_once()
        await borrower_signs(loan.id, borrower.id, borrower_phone)
        await outbox.dispatch_once()
        async for message in messages:
            received.append(message)
            if message["event"] == "DISBURSED":
                break
    assert [(m["event"], m["funded_fen"], m["bidder_count"]) for m in received] == [
        ("BID", 100_000, 1),
        ("BID", 200_000, 1),
        ("FULL", 200_000, 1),
        ("DISBURSED", 200_000, 1),
    ]
    assert received[1]["bid_amount_fen"] == 100_000  # 1,500.00 asked, 1,000.00 left


async def test_a_disbursement_that_crashes_midway_writes_nothing_and_resumes(
    app, client, scripted, monkeypatch
):
    sandbox = app.state.sandbox.sandbox
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 300_000, min_bid_fen=10_000)
    lenders = [await ready_lender(200_000, name=f"Lender {n}") for n in "ABC"]
    real_transfer = bidding.movements.transfer
    calls = 0

    async def dies_on_the_second(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("process killed between two transfers")
        return await real_transfer(**kwargs)

    monkeypatch.setattr(bidding.movements, "transfer", dies_on_the_second)
    monkeypatch.setattr(outbox, "wake", lambda: None)  # no dispatcher racing the test
    for _user, phone in lenders:
        await _bid(client, await token_for(phone), phone, loan.id, "1000.00")
    await borrower_signs(loan.id, borrower.id, borrower_phone)
    with pytest.raises(RuntimeError):
        await bidding.disburse(loan.id)
    # All or nothing: no transfer, no claim, every bid still frozen, the loan still FULL.
    assert (await Loan.get(id=loan.id)).status == "FULL"
    assert await Claim.all().count() == 0
    assert await Bid.filter(status=BidStatus.ACCEPTED).count() == 3
    assert await PaymentInstruction.filter(kind="TRANSFER").count() == 0
    assert (await ledger.member_balances(borrower.id))["available"] == 0
    assert (await ledger.check()).ok

    monkeypatch.setattr(bidding.movements, "transfer", real_transfer)
    # The job (or the outbox event's retry, whichever comes first) resumes it, once.
    assert await bidding.disburse_pending() in (0, 1)
    assert await bidding.disburse_pending() == 0
    await settle_everything(sandbox)
    assert (await Loan.get(id=loan.id)).status == "REPAYING"
    assert await Claim.all().count() == 3
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])
