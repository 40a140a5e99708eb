"""M4.8: a lost confirmation code is replaced through `resendOperationCode`.

The member asked for a bid, a repayment or a withdrawal and the SMS code never arrived
(or was deleted, or spent by a request that died before carrying the operation out).
A minute after the last code they ask for a new one: the SMS says the same thing with
another code, the old code no longer works, the new one carries the operation out and
the money moves once. Sooner is TOO_SOON (no SMS); another member's operation is
NOT_FOUND, like an unknown one; a confirmed one OPERATION_CLOSED; an expired one
OPERATION_EXPIRED, and cancelled. The operation's expiry and its five attempts are the
operation's: a resend renews neither.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from models.bids import Bid, BidStatus
from models.loans import Loan
from models.messaging import OutgoingMessage, SmsCode, SmsPurpose
from models.payments import PendingOperation, Withdrawal
from models.repayments import InstallmentStatus, LoanInstallment, Repayment, RepaymentStatus
from services.identity import sms_codes
from services.identity.permissions import Actor
from services.kit.security import lookup_hash
from services.money import adjustments, ledger
from services.operations import confirmation
from services.platform.clock import system_now
from tests.factories import create_funded_member, create_member, gql, token_for
from tests.lending import listed_loan, ready_lender, repaying_loan, verified_borrower

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted", "resend_throttle"),
]

RESEND = """mutation ($id: ID!) { resendOperationCode(input: {operationId: $id}) { __typename
  ... on OperationCodeResent { operationId phoneMasked expiresAt }
  ... on ResendOperationCodeError { code field message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { status amount } repayment { status amount }
          withdrawal { status amount fee } autoBidRule { enabled } }
    ... on ConfirmOperationError { code } } }"""
PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code } } }"""
REPAY = """mutation ($loan: ID!, $key: String!) {
  repay(input: {loanId: $loan, mode: NEXT, idempotencyKey: $key}) { __typename
    ... on RepaymentRequested { operationId repayment { id status amount } }
    ... on RepayError { code } } }"""
WITHDRAW = """mutation ($card: ID!, $key: String!) {
  withdraw(input: {amount: "10.00", speed: T0, cardId: $card, idempotencyKey: $key}) {
    __typename ... on ConfirmationRequired { operationId expiresAt }
    ... on WithdrawError { code } } }"""
SET_RULE = """mutation ($input: AutoBidRuleInput!) { setAutoBidRule(input: $input) {
  __typename ... on AutoBidRuleSaved { operationId } } }"""
RULE = {
    "minRate": "0.0800",
    "maxRate": "0.2000",
    "minTerm": 3,
    "maxTerm": 24,
    "grades": ["A", "B"],
    "methods": ["EQUAL_INSTALLMENT"],
    "amountPerLoan": "250.00",
    "keepBalance": "0.00",
}
ACCOUNT = "{ myAccount { available frozen } }"


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _fen(money: str) -> int:
    yuan, cents = money.split(".")
    return int(yuan) * 100 + int(cents)


async def _texts(phone: str) -> list[str]:
    """Every SMS sent to `phone`, oldest first."""
    rows = OutgoingMessage.filter(recipient_lookup=lookup_hash(phone)).order_by("id")
    return [str(body) for body in await rows.values_list("body", flat=True)]


def _code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found[1]


def _wording(text: str) -> str:
    return text.replace(_code_in(text), "<code>")


async def _a_minute_passes() -> None:
    """The codes were sent 61 seconds ago: the resend throttle lets the next one go."""
    await SmsCode.all().update(created_at=system_now() - timedelta(seconds=61))


async def _resend(client: Any, token: str, operation_id: str) -> dict[str, Any]:
    body = await gql(client, RESEND, {"id": operation_id}, token=token)
    return dict(body["data"]["resendOperationCode"])


async def _confirm(client: Any, token: str, operation_id: str, code: str) -> dict[str, Any]:
    body = await gql(client, CONFIRM, {"id": operation_id, "code": code}, token=token)
    return dict(body["data"]["confirmOperation"])


async def _account(client: Any, token: str) -> tuple[int, int]:
    """(available, frozen) in fen, as the member sees them."""
    mine = (await gql(client, ACCOUNT, token=token))["data"]["myAccount"]
    return _fen(mine["available"]), _fen(mine["frozen"])


async def _replaced(client: Any, token: str, phone: str, operation_id: str) -> tuple[str, str]:
    """The code was lost: asking at once is TOO_SOON and sends nothing; a minute later a
    new SMS comes in the same words, the operation's expiry unchanged. (old, new) texts."""
    sent = await _texts(phone)
    expires_at = (await PendingOperation.get(id=operation_id)).expires_at
    too_soon = await _resend(client, token, operation_id)
    assert (too_soon["__typename"], too_soon["code"]) == ("ResendOperationCodeError", "TOO_SOON")
    assert await _texts(phone) == sent

    await _a_minute_passes()
    resent = await _resend(client, token, operation_id)

    assert resent["__typename"] == "OperationCodeResent", resent
    assert resent["operationId"] == operation_id
    assert resent["phoneMasked"] == f"{phone[:3]}****{phone[-4:]}"
    assert datetime.fromisoformat(resent["expiresAt"]) == expires_at
    assert (await PendingOperation.get(id=operation_id)).expires_at == expires_at
    *earlier, new = await _texts(phone)
    assert earlier == sent
    assert _wording(new) == _wording(sent[-1])
    assert _code_in(new) != _code_in(sent[-1])
    return sent[-1], new


async def test_a_lost_bid_code_is_replaced_and_only_the_new_one_places_the_bid(client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    lender, phone = await ready_lender(500_000)
    token = await token_for(phone)
    placed = await gql(
        client,
        PLACE,
        {"input": {"loanId": str(loan.id), "amount": "1000.00", "idempotencyKey": _key("bid")}},
        token=token,
    )
    operation_id = placed["data"]["placeBid"]["operationId"]

    old, new = await _replaced(client, token, phone, operation_id)

    assert f"confirms bidding 1000.00 on loan {loan.id}" in new
    refused = await _confirm(client, token, operation_id, _code_in(old))
    assert refused == {"__typename": "ConfirmOperationError", "code": "CODE_INVALID"}
    assert await _account(client, token) == (500_000, 0)
    confirmed = await _confirm(client, token, operation_id, _code_in(new))
    assert confirmed["bid"] == {"status": "ACCEPTED", "amount": "1000.00"}
    assert await _account(client, token) == (400_000, 100_000)
    again = await _confirm(client, token, operation_id, _code_in(new))
    assert again == {"__typename": "ConfirmOperationError", "code": "OPERATION_CLOSED"}
    closed = await _resend(client, token, operation_id)
    assert closed["code"] == "OPERATION_CLOSED"
    assert (await _texts(phone))[-1] == new
    assert await Bid.filter(loan_id=loan.id).values_list("lender_id", "amount_fen") == [
        (lender.id, 100_000)
    ]
    assert (await Loan.get(id=loan.id)).funded_fen == 100_000
    assert await _account(client, token) == (400_000, 100_000)


async def test_a_lost_repayment_code_is_replaced_and_the_installment_paid_once(
    app, client, scripted
):
    repaying = await repaying_loan(scripted, app.state.sandbox.sandbox)
    phone = repaying.borrower_phone
    token = await token_for(phone)
    available, _frozen = await _account(client, token)
    asked = await gql(
        client, REPAY, {"loan": str(repaying.loan.id), "key": _key("repay")}, token=token
    )
    requested = asked["data"]["repay"]
    operation_id, amount = requested["operationId"], requested["repayment"]["amount"]

    old, new = await _replaced(client, token, phone, operation_id)

    assert f"confirms repaying {amount} of loan {repaying.loan.id}" in new
    refused = await _confirm(client, token, operation_id, _code_in(old))
    assert refused == {"__typename": "ConfirmOperationError", "code": "CODE_INVALID"}
    assert await _account(client, token) == (available, 0)
    confirmed = await _confirm(client, token, operation_id, _code_in(new))
    assert confirmed["repayment"] == {"status": "DONE", "amount": amount}
    assert await _account(client, token) == (available - _fen(amount), 0)
    again = await _confirm(client, token, operation_id, _code_in(new))
    assert again["code"] == "OPERATION_CLOSED"
    assert await _account(client, token) == (available - _fen(amount), 0)
    done = Repayment.filter(loan_id=repaying.loan.id, status=RepaymentStatus.DONE)
    assert await done.values_list("id", flat=True) == [int(requested["repayment"]["id"])]
    paid = LoanInstallment.filter(loan_id=repaying.loan.id, status=InstallmentStatus.PAID)
    assert await paid.values_list("number", flat=True) == [1]
    check = await ledger.check()
    assert check.ok, check


async def test_a_code_spent_by_a_request_that_died_is_replaced(client, app):
    user, phone, card_id = await create_funded_member(10_000)
    token = await token_for(phone)
    asked = await gql(client, WITHDRAW, {"card": str(card_id), "key": _key("wd")}, token=token)
    started = asked["data"]["withdraw"]
    operation_id = started["operationId"]
    first = (await _texts(phone))[-1]
    operation = await PendingOperation.get(id=operation_id)
    # The confirming request checked (spent) the code, then died before the withdrawal.
    await sms_codes.verify(
        phone=phone,
        purpose=SmsPurpose.CONFIRM_OPERATION,
        code=_code_in(first),
        binding=confirmation.operation_binding(operation),
    )
    spent = await _confirm(client, token, operation_id, _code_in(first))
    assert spent == {"__typename": "ConfirmOperationError", "code": "CODE_INVALID"}

    old, new = await _replaced(client, token, phone, operation_id)

    assert old == first
    assert "confirms withdrawing ¥10.00 (fee ¥1.00) to card 3446" in new
    confirmed = await _confirm(client, token, operation_id, _code_in(new))
    assert confirmed["withdrawal"]["amount"] == "10.00"
    assert confirmed["withdrawal"]["status"] in ("PROCESSING", "SUCCEEDED")
    assert await _account(client, token) == (10_000 - 1_000 - 100, 0)
    assert await Withdrawal.filter(user_id=user.id).count() == 1
    expires = datetime.fromisoformat(started["expiresAt"])
    assert (await PendingOperation.get(id=operation_id)).expires_at == expires


async def test_another_members_operation_is_not_found_like_an_unknown_one(client, app):
    _owner, owner_phone, card_id = await create_funded_member(10_000)
    owner_token = await token_for(owner_phone)
    asked = await gql(
        client, WITHDRAW, {"card": str(card_id), "key": _key("wd")}, token=owner_token
    )
    operation_id = asked["data"]["withdraw"]["operationId"]
    sent = await _texts(owner_phone)
    await _a_minute_passes()
    _other, other_phone = await create_member()
    other_token = await token_for(other_phone)

    theirs = await _resend(client, other_token, operation_id)
    unknown = await _resend(client, other_token, str(uuid.uuid4()))
    garbage = await _resend(client, other_token, "not-an-operation")

    assert theirs == unknown == garbage
    assert (theirs["code"], theirs["field"]) == ("NOT_FOUND", "operationId")
    assert await _texts(owner_phone) == sent
    assert await _texts(other_phone) == []
    assert (await PendingOperation.get(id=operation_id)).status == "AWAITING_CODE"
    confirmed = await _confirm(client, owner_token, operation_id, _code_in(sent[-1]))
    assert confirmed["withdrawal"]["amount"] == "10.00"


async def test_an_expired_operation_is_cancelled_and_gets_no_code(client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
    _lender, phone = await ready_lender(500_000)
    token = await token_for(phone)
    placed = await gql(
        client,
        PLACE,
        {"input": {"loanId": str(loan.id), "amount": "500.00", "idempotencyKey": _key("bid")}},
        token=token,
    )
    operation_id = placed["data"]["placeBid"]["operationId"]
    sent = await _texts(phone)
    await _a_minute_passes()
    await PendingOperation.filter(id=operation_id).update(
        expires_at=system_now() - timedelta(seconds=1)
    )

    expired = await _resend(client, token, operation_id)

    assert expired["code"] == "OPERATION_EXPIRED"
    assert await _texts(phone) == sent
    assert (await PendingOperation.get(id=operation_id)).status == "EXPIRED"
    assert (await Bid.get(operation_id=operation_id)).status == BidStatus.CANCELLED
    assert (await _resend(client, token, operation_id))["code"] == "OPERATION_CLOSED"
    assert await _account(client, token) == (500_000, 0)


async def test_a_new_code_does_not_renew_the_five_attempts(client, app):
    user, phone, card_id = await create_funded_member(10_000)
    token = await token_for(phone)
    asked = await gql(client, WITHDRAW, {"card": str(card_id), "key": _key("wd")}, token=token)
    operation_id = asked["data"]["withdraw"]["operationId"]
    wrong = "000000" if _code_in((await _texts(phone))[-1]) != "000000" else "111111"
    for _attempt in range(4):
        assert (await _confirm(client, token, operation_id, wrong))["code"] == "CODE_INVALID"
    await _a_minute_passes()
    resent = await _resend(client, token, operation_id)
    assert resent["__typename"] == "OperationCodeResent"
    new = _code_in((await _texts(phone))[-1])

    fifth = await _confirm(client, token, operation_id, "000000" if new != "000000" else "111111")

    assert fifth["code"] == "OPERATION_CANCELLED"
    assert (await _confirm(client, token, operation_id, new))["code"] == "OPERATION_CLOSED"
    assert await Withdrawal.filter(user_id=user.id).values_list("status", flat=True) == [
        "CANCELLED"
    ]
    assert await _account(client, token) == (10_000, 0)


async def test_two_resends_at_once_send_one_code(client, app):
    _user, phone, card_id = await create_funded_member(10_000)
    token = await token_for(phone)
    asked = await gql(client, WITHDRAW, {"card": str(card_id), "key": _key("wd")}, token=token)
    operation_id = asked["data"]["withdraw"]["operationId"]
    sent = await _texts(phone)
    await _a_minute_passes()

    answers = await asyncio.gather(*(_resend(client, token, operation_id) for _ in range(2)))

    assert sorted(answer["__typename"] for answer in answers) == [
        "OperationCodeResent",
        "ResendOperationCodeError",
    ]
    assert [answer.get("code") for answer in answers].count("TOO_SOON") == 1
    *earlier, new = await _texts(phone)
    assert earlier == sent
    confirmed = await _confirm(client, token, operation_id, _code_in(new))
    assert confirmed["withdrawal"]["amount"] == "10.00"


async def test_the_opt_in_and_the_consent_are_resent_in_their_own_words(client, app):
    user, phone = await ready_lender(100_000)
    token = await token_for(phone)
    saved = (await gql(client, SET_RULE, {"input": RULE}, token=token))["data"]["setAutoBidRule"]
    opt_in = saved["operationId"]
    consent = await adjustments.request_member_consent(
        actor=Actor(user_id=None, kind="staff"),
        member_id=user.id,
        amount=250,
        reason="Fee charged twice by mistake",
    )
    first_opt_in, first_consent = (await _texts(phone))[-2:]
    await _a_minute_passes()

    for operation_id in (opt_in, str(consent.id)):
        resent = await _resend(client, token, operation_id)
        assert resent["__typename"] == "OperationCodeResent", resent
    new_opt_in, new_consent = (await _texts(phone))[-2:]

    assert "turns on automatic bidding of up to 250.00 per loan" in new_opt_in
    assert "may take ¥2.50 from your account" in new_consent
    assert _wording(new_opt_in) == _wording(first_opt_in)
    assert _wording(new_consent) == _wording(first_consent)
    opted_in = await _confirm(client, token, opt_in, _code_in(new_opt_in))
    assert opted_in["autoBidRule"] == {"enabled": True}
    agreed = await _confirm(client, token, str(consent.id), _code_in(new_consent))
    assert agreed["__typename"] == "OperationConfirmed"
