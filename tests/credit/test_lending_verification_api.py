"""Issue 13: only a member with every verification kind that `verificationKinds` marks
`requiredForLending` approved may lend. placeBid (before any SMS code), the bid's
confirmation, setAutoBidRule and its opt-in refuse the others with
LENDING_VERIFICATION_REQUIRED and `missingVerifications`, changing nothing; an automatic
bidding rule whose owner no longer qualifies is skipped when a loan is listed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from models.bids import AutoBidRule, Bid, BidSource, BidStatus
from models.credit import VerificationStatus, VerificationSubmission
from models.loans import Loan
from models.members import User
from models.messaging import OutgoingMessage
from models.payments import PaymentInstruction, PendingOperation
from services.credit import risk_assessment
from services.kit.security import lookup_hash
from services.money import ledger
from services.platform import outbox
from tests.factories import approve_verifications, create_funded_member, gql, token_for
from tests.lending import (
    AGGRESSIVE,
    code_for,
    listed_loan,
    member_actor,
    ready_lender,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

KINDS = "{ verificationKinds { code title requiredForLending } }"
PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId bid { id status } }
  ... on PlaceBidError { code field message missingVerifications { code title } } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { status amount } autoBidRule { enabled } }
    ... on ConfirmOperationError { code message missingVerifications { code title } } } }"""
SET_RULE = """mutation ($input: AutoBidRuleInput!) { setAutoBidRule(input: $input) { __typename
  ... on AutoBidRuleSaved { operationId rule { id enabled } }
  ... on SetAutoBidRuleError { code field message missingVerifications { code title } } } }"""
RULE = {
    "minRate": "0.0800",
    "maxRate": "0.2000",
    "minTerm": 3,
    "maxTerm": 24,
    "grades": ["AA", "A", "B", "C"],
    "methods": ["EQUAL_INSTALLMENT", "EQUAL_PRINCIPAL"],
    "amountPerLoan": "1000.00",
    "keepBalance": "0.00",
}


async def _required(client) -> list[dict[str, str]]:
    """What `verificationKinds` says lending needs, as `missingVerifications` lists it."""
    kinds = (await gql(client, KINDS))["data"]["verificationKinds"]
    return [{"code": k["code"], "title": k["title"]} for k in kinds if k["requiredForLending"]]


async def _unverified_lender(amount_fen: int, name: str = "Unverified") -> tuple[User, str]:
    """Money deposited and an R4 profile in force, but no verification at all."""
    user, phone, _card = await create_funded_member(amount_fen, name=name)
    actor = member_actor(user.id)
    assessment = await risk_assessment.submit_assessment(actor, AGGRESSIVE)
    await risk_assessment.confirm_risk_notice(actor, assessment.id, "127.0.0.1")
    return user, phone


async def _withdraw_approval(user_id: int, kind: str) -> None:
    """The approval of `kind` no longer holds (there is no revocation flow yet: the
    submission is set aside in the database, as a revocation or expiry would)."""
    await VerificationSubmission.filter(
        user_id=user_id, kind=kind, status=VerificationStatus.APPROVED
    ).update(status=VerificationStatus.REJECTED)


async def _place(client, token: str, loan_id: int, amount: str, key: str | None = None) -> Any:
    body = await gql(
        client,
        PLACE,
        {
            "input": {
                "loanId": str(loan_id),
                "amount": amount,
                "idempotencyKey": key or f"bid-{uuid.uuid4().hex[:16]}",
            }
        },
        token=token,
    )
    return body["data"]["placeBid"]


async def _sms_count(phone: str) -> int:
    return await OutgoingMessage.filter(recipient_lookup=lookup_hash(phone)).count()


async def _money(user_id: int) -> tuple[int, int]:
    books = await ledger.member_balances(user_id)
    return books["available"], books["frozen"]


async def test_place_bid_names_every_missing_kind_and_changes_nothing(app, client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    lender, phone = await _unverified_lender(200_000)
    token = await token_for(phone)
    required = await _required(client)
    assert [kind["code"] for kind in required] == ["ID_CARD", "MOBILE_REAL_NAME"]
    sms_before = await _sms_count(phone)

    refused = await _place(client, token, loan.id, "1000.00", key="bid-unverified-1")
    assert refused["__typename"] == "PlaceBidError"
    assert (refused["code"], refused["field"]) == ("LENDING_VERIFICATION_REQUIRED", None)
    assert refused["missingVerifications"] == required
    for kind in required:
        assert kind["title"] in refused["message"]
    # A replay of the same request answers the same, kinds included.
    assert await _place(client, token, loan.id, "1000.00", key="bid-unverified-1") == refused

    # Nothing changed: no bid, nothing frozen, no operation, no SMS code sent.
    assert await Bid.filter(lender_id=lender.id).count() == 0
    assert await PendingOperation.filter(user_id=lender.id).count() == 0
    assert await PaymentInstruction.filter(kind="FREEZE").count() == 0
    assert await _money(lender.id) == (200_000, 0)
    assert await _sms_count(phone) == sms_before
    assert (await Loan.get(id=loan.id)).funded_fen == 0


async def test_with_one_kind_approved_the_other_is_named_and_with_both_the_bid_goes_through(
    app, client, scripted
):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    lender, phone = await _unverified_lender(200_000)
    token = await token_for(phone)
    required = {kind["code"]: kind for kind in await _required(client)}

    await approve_verifications(lender.id, ["ID_CARD"])
    refused = await _place(client, token, loan.id, "1000.00")
    assert refused["code"] == "LENDING_VERIFICATION_REQUIRED"
    assert refused["missingVerifications"] == [required["MOBILE_REAL_NAME"]]
    assert required["MOBILE_REAL_NAME"]["title"] in refused["message"]
    assert required["ID_CARD"]["title"] not in refused["message"]

    await _withdraw_approval(lender.id, "ID_CARD")
    await approve_verifications(lender.id, ["MOBILE_REAL_NAME"])
    refused = await _place(client, token, loan.id, "1000.00")
    assert refused["missingVerifications"] == [required["ID_CARD"]]
    assert await Bid.filter(lender_id=lender.id).count() == 0

    await approve_verifications(lender.id, ["ID_CARD"])
    placed = await _place(client, token, loan.id, "1000.00")
    assert placed["__typename"] == "BidPlaced", placed
    confirmed = await gql(
        client, CONFIRM, {"id": placed["operationId"], "code": await code_for(phone)}, token=token
    )
    accepted = confirmed["data"]["confirmOperation"]["bid"]
    assert accepted == {"status": "ACCEPTED", "amount": "1000.00"}
    assert await _money(lender.id) == (100_000, 100_000)


async def test_a_bid_is_refused_at_confirmation_when_the_approval_no_longer_holds(
    app, client, scripted
):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    lender, phone = await ready_lender(200_000)
    token = await token_for(phone)
    placed = await _place(client, token, loan.id, "1000.00")
    assert placed["__typename"] == "BidPlaced", placed

    await _withdraw_approval(lender.id, "MOBILE_REAL_NAME")
    confirmed = await gql(
        client, CONFIRM, {"id": placed["operationId"], "code": await code_for(phone)}, token=token
    )
    result = confirmed["data"]["confirmOperation"]
    assert result["code"] == "LENDING_VERIFICATION_REQUIRED"
    assert [kind["code"] for kind in result["missingVerifications"]] == ["MOBILE_REAL_NAME"]
    bid = await Bid.get(id=int(placed["bid"]["id"]))
    assert (bid.status, bid.refusal) == (BidStatus.REFUSED, "LENDING_VERIFICATION_REQUIRED")
    assert await PaymentInstruction.filter(kind="FREEZE").count() == 0
    assert await _money(lender.id) == (200_000, 0)
    assert (await Loan.get(id=loan.id)).funded_fen == 0


async def test_set_auto_bid_rule_is_refused_without_the_kinds(app, client):
    lender, phone = await _unverified_lender(100_000)
    token = await token_for(phone)
    required = await _required(client)
    sms_before = await _sms_count(phone)

    body = await gql(client, SET_RULE, {"input": RULE}, token=token)
    refused = body["data"]["setAutoBidRule"]
    assert refused["__typename"] == "SetAutoBidRuleError"
    assert (refused["code"], refused["field"]) == ("LENDING_VERIFICATION_REQUIRED", None)
    assert refused["missingVerifications"] == required
    for kind in required:
        assert kind["title"] in refused["message"]
    # Checked before the settings: an invalid rule is told the same.
    invalid = await gql(client, SET_RULE, {"input": {**RULE, "grades": []}}, token=token)
    assert invalid["data"]["setAutoBidRule"]["code"] == "LENDING_VERIFICATION_REQUIRED"
    assert await AutoBidRule.filter(user_id=lender.id).count() == 0
    assert await PendingOperation.filter(user_id=lender.id).count() == 0
    assert await _sms_count(phone) == sms_before

    await approve_verifications(lender.id, ["MOBILE_REAL_NAME"])
    body = await gql(client, SET_RULE, {"input": RULE}, token=token)
    assert body["data"]["setAutoBidRule"]["missingVerifications"] == [required[0]]

    await approve_verifications(lender.id, ["ID_CARD"])
    body = await gql(client, SET_RULE, {"input": RULE}, token=token)
    saved = body["data"]["setAutoBidRule"]
    assert saved["__typename"] == "AutoBidRuleSaved", saved
    assert saved["operationId"] is not None


async def test_the_opt_in_is_refused_when_the_approval_no_longer_holds(app, client):
    lender, phone = await ready_lender(100_000)
    token = await token_for(phone)
    saved = (await gql(client, SET_RULE, {"input": RULE}, token=token))["data"]["setAutoBidRule"]
    assert saved["operationId"] is not None

    await _withdraw_approval(lender.id, "ID_CARD")
    confirmed = await gql(
        client, CONFIRM, {"id": saved["operationId"], "code": await code_for(phone)}, token=token
    )
    result = confirmed["data"]["confirmOperation"]
    assert result["code"] == "LENDING_VERIFICATION_REQUIRED"
    assert [kind["code"] for kind in result["missingVerifications"]] == ["ID_CARD"]
    rule = await AutoBidRule.get(user_id=lender.id)
    assert (rule.enabled, rule.opted_in_at, rule.queue_position) == (False, None, None)


async def _opt_in(client, phone: str) -> int:
    token = await token_for(phone)
    saved = (await gql(client, SET_RULE, {"input": RULE}, token=token))["data"]["setAutoBidRule"]
    confirmed = await gql(
        client, CONFIRM, {"id": saved["operationId"], "code": await code_for(phone)}, token=token
    )
    assert confirmed["data"]["confirmOperation"]["autoBidRule"] == {"enabled": True}, confirmed
    return int(saved["rule"]["id"])


async def test_an_auto_bid_rule_whose_owner_no_longer_qualifies_is_skipped(app, client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    lapsed, lapsed_phone = await ready_lender(500_000, name="Lapsed")
    lapsed_rule = await _opt_in(client, lapsed_phone)  # first in the queue
    other, other_phone = await ready_lender(500_000, name="Other")
    other_rule = await _opt_in(client, other_phone)
    await _withdraw_approval(lapsed.id, "MOBILE_REAL_NAME")
    before = dict(await AutoBidRule.all().values_list("id", "queue_position"))

    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    for _ in range(100):  # the loan.listed event, here or by the app's own dispatcher
        if await Loan.filter(id=loan.id, auto_bid_done_at__isnull=False).exists():
            break
        await outbox.dispatch_once()
        await asyncio.sleep(0.05)
    bids = await Bid.filter(loan_id=loan.id, source=BidSource.AUTO).order_by("id")
    assert [(bid.lender_id, bid.amount_fen, bid.auto_rule_id) for bid in bids] == [
        (other.id, 100_000, other_rule)
    ]
    assert await _money(lapsed.id) == (500_000, 0)
    after = dict(await AutoBidRule.all().values_list("id", "queue_position"))
    assert after[lapsed_rule] == before[lapsed_rule]  # skipped: it keeps its place
    assert after[other_rule] > before[other_rule]  # bid: to the back
    assert (await AutoBidRule.get(id=lapsed_rule)).enabled is True
    assert (await Loan.get(id=loan.id)).status == "LISTED"
