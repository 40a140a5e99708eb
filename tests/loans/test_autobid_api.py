"""M1.7: automatic bidding. The member's side through GraphQL (the rule, the one-time SMS
opt-in, disabling), the system's side through the services (the fair queue served when a
loan is listed, the automatic share, the skip rules, once per listing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.bids import AutoBidRule, Bid, BidSource, BidStatus, Claim
from models.loans import Loan
from models.messaging import Notice, OutgoingMessage
from models.payments import PendingOperation
from services.kit.security import lookup_hash
from services.loans import autobid, bidding
from services.loans.schedule import RepaymentMethod
from services.money import ledger
from services.platform import outbox
from tests.factories import (
    approve_verifications,
    create_funded_member,
    gql,
    lending_kinds,
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

SET = """mutation ($input: AutoBidRuleInput!) { setAutoBidRule(input: $input) { __typename
  ... on AutoBidRuleSaved { operationId rule { id enabled optedInAt minRate maxRate minTerm
        maxTerm grades methods amountPerLoan keepBalance queuePlace } }
  ... on SetAutoBidRuleError { code field message } } }"""
DISABLE = """mutation { disableAutoBidRule { __typename
  ... on AutoBidRuleDisabled { rule { enabled queuePlace amountPerLoan } }
  ... on DisableAutoBidRuleError { code message } } }"""
MINE = "{ myAutoBidRule { id enabled optedInAt amountPerLoan queuePlace } }"
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { autoBidRule { enabled queuePlace } }
    ... on ConfirmOperationError { code field } } }"""
PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code } } }"""
MY_BIDS = "{ myBids { edges { node { loanId amount source autoRuleId status } } } }"

_keys = iter(range(1, 10**9))


def _rule(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "minRate": "0.0800",
        "maxRate": "0.2000",
        "minTerm": 3,
        "maxTerm": 24,
        "grades": ["AA", "A", "B", "C"],
        "methods": ["EQUAL_INSTALLMENT", "EQUAL_PRINCIPAL"],
        "amountPerLoan": "1000.00",
        "keepBalance": "0.00",
    }
    rule.update(overrides)
    return rule


async def _set(client, token: str, **overrides: Any) -> dict[str, Any]:
    body = await gql(client, SET, {"input": _rule(**overrides)}, token=token)
    return dict(body["data"]["setAutoBidRule"])


async def _opt_in(client, phone: str, **overrides: Any) -> int:
    """Save a rule through GraphQL and confirm the opt-in with the SMS code; the rule id."""
    token = await token_for(phone)
    saved = await _set(client, token, **overrides)
    assert saved["__typename"] == "AutoBidRuleSaved", saved
    assert saved["operationId"] is not None
    confirmed = await gql(
        client, CONFIRM, {"id": saved["operationId"], "code": await code_for(phone)}, token=token
    )
    assert confirmed["data"]["confirmOperation"]["autoBidRule"]["enabled"] is True, confirmed
    return int(saved["rule"]["id"])


async def _auto_lender(client, fen: int, name: str, **overrides: Any) -> tuple[int, int]:
    """A lender ready to bid, opted in: (user id, rule id)."""
    user, phone = await ready_lender(fen, name=name)
    return user.id, await _opt_in(client, phone, **overrides)


async def _listed(borrower_id: int, amount_fen: int, **options: Any) -> Loan:
    """`listed_loan`, then until its `loan.listed` event was handled (here or by the app's
    own dispatcher, which may claim it first on PostgreSQL) and committed."""
    loan = await listed_loan(borrower_id, amount_fen, **options)
    for _ in range(100):
        if await Loan.filter(id=loan.id, auto_bid_done_at__isnull=False).exists():
            return await Loan.get(id=loan.id)
        await outbox.dispatch_once()
        await asyncio.sleep(0.05)
    raise AssertionError("the loan.listed event was not handled")


async def _auto_bids(loan_id: int) -> list[tuple[int, int, int | None]]:
    """(lender, amount, rule) of the loan's automatic bids, in the order placed."""
    rows = await Bid.filter(loan_id=loan_id, source=BidSource.AUTO).order_by("id")
    return [(row.lender_id, row.amount_fen, row.auto_rule_id) for row in rows]


async def _positions() -> dict[int, int | None]:
    return dict(await AutoBidRule.all().values_list("id", "queue_position"))


async def _sms_count(phone: str) -> int:
    return await OutgoingMessage.filter(recipient_lookup=lookup_hash(phone)).count()


async def _manual_bid(client, phone: str, loan_id: int, amount: str) -> None:
    token = await token_for(phone)
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
    operation = placed["data"]["placeBid"]["operationId"]
    confirmed = await gql(
        client, CONFIRM, {"id": operation, "code": await code_for(phone)}, token=token
    )
    assert confirmed["data"]["confirmOperation"]["__typename"] == "OperationConfirmed"


async def test_opting_in_takes_the_sms_code_once(app, client):
    user, phone = await ready_lender(100_000)
    token = await token_for(phone)
    assert (await gql(client, MINE, token=token))["data"]["myAutoBidRule"] is None
    assert (await gql(client, DISABLE, token=token))["data"]["disableAutoBidRule"]["code"] == (
        "NOT_FOUND"
    )

    saved = await _set(client, token, grades=["c", "AA"], methods=["EQUAL_PRINCIPAL"])
    assert saved["rule"] == {
        "id": saved["rule"]["id"],
        "enabled": False,
        "optedInAt": None,
        "minRate": "0.0800",
        "maxRate": "0.2000",
        "minTerm": 3,
        "maxTerm": 24,
        "grades": ["AA", "C"],
        "methods": ["EQUAL_PRINCIPAL"],
        "amountPerLoan": "1000.00",
        "keepBalance": "0.00",
        "queuePlace": None,
    }
    operation = saved["operationId"]
    assert (await PendingOperation.get(id=operation)).kind == "AUTO_BID_OPT_IN"

    # A wrong code enables nothing.
    wrong = await gql(client, CONFIRM, {"id": operation, "code": "000000"}, token=token)
    assert wrong["data"]["confirmOperation"]["code"] == "CODE_INVALID"
    rule = await AutoBidRule.get(user_id=user.id)
    assert (rule.enabled, rule.opted_in_at, rule.queue_position) == (False, None, None)

    code = await code_for(phone)
    right = await gql(client, CONFIRM, {"id": operation, "code": code}, token=token)
    assert right["data"]["confirmOperation"]["autoBidRule"] == {"enabled": True, "queuePlace": 1}
    mine = (await gql(client, MINE, token=token))["data"]["myAutoBidRule"]
    assert mine["enabled"] is True
    assert mine["optedInAt"] is not None

    # Opted in: changes need no code and keep the place in the queue.
    _other, other_phone = await ready_lender(100_000, name="Second Lender")
    await _opt_in(client, other_phone)
    sent = await _sms_count(phone)
    changed = await _set(client, token, amountPerLoan="2500.00", keepBalance="100.00")
    assert changed["operationId"] is None
    assert (changed["rule"]["enabled"], changed["rule"]["queuePlace"]) == (True, 1)
    assert (changed["rule"]["amountPerLoan"], changed["rule"]["keepBalance"]) == (
        "2500.00",
        "100.00",
    )
    assert await _sms_count(phone) == sent

    # Disabled: out of the queue, settings kept; enabled again: no code, at the back.
    disabled = (await gql(client, DISABLE, token=token))["data"]["disableAutoBidRule"]
    assert disabled["rule"] == {"enabled": False, "queuePlace": None, "amountPerLoan": "2500.00"}
    other_token = await token_for(other_phone)
    assert (await gql(client, MINE, token=other_token))["data"]["myAutoBidRule"]["queuePlace"] == 1
    again = await _set(client, token, amountPerLoan="2500.00")
    assert again["operationId"] is None
    assert (again["rule"]["enabled"], again["rule"]["queuePlace"]) == (True, 2)
    assert await _sms_count(phone) == sent


async def test_rule_settings_are_checked(app, client):
    _user, phone = await ready_lender(0)
    token = await token_for(phone)
    cases = [
        ({"minRate": "0.2100"}, "minRate"),  # above the highest
        ({"maxRate": "0.3700"}, "maxRate"),
        ({"minTerm": 0}, "minTerm"),
        ({"maxTerm": 361}, "maxTerm"),
        ({"minTerm": 25}, "minTerm"),  # longer than the longest
        ({"grades": []}, "grades"),
        ({"grades": ["AA", "Z"]}, "grades"),
        ({"methods": []}, "methods"),
        ({"amountPerLoan": "0.00"}, "amountPerLoan"),
    ]
    for overrides, field in cases:
        answer = await _set(client, token, **overrides)
        assert (answer.get("code"), answer.get("field")) == ("INVALID", field), overrides
    assert await AutoBidRule.all().count() == 0
    assert await PendingOperation.all().count() == 0


async def test_rules_are_served_in_queue_order_and_served_ones_go_to_the_back(
    app, client, scripted
):
    borrower, _phone = await verified_borrower(scripted)
    lenders = [
        await _auto_lender(client, 500_000, f"Lender {n}", amountPerLoan="1500.00") for n in "ABC"
    ]
    (a, rule_a), (b, rule_b), (c, rule_c) = lenders
    # ¥4,000 loan: the automatic share is ¥2,000, so A bids 1,500 and B the 500 left.
    first = await _listed(borrower.id, 400_000)
    assert await _auto_bids(first.id) == [(a, 150_000, rule_a), (b, 50_000, rule_b)]
    positions = await _positions()
    assert positions[rule_c] < positions[rule_a] < positions[rule_b]
    assert (await Loan.get(id=first.id)).funded_fen == 200_000

    # The next listing serves C first (it did not bid), then A.
    second = await _listed(borrower.id, 400_000)
    assert await _auto_bids(second.id) == [(c, 150_000, rule_c), (a, 50_000, rule_a)]
    positions = await _positions()
    assert positions[rule_b] < positions[rule_c] < positions[rule_a]

    # Each automatic bid carries its rule, and its lender was told.
    for bid in await Bid.filter(source=BidSource.AUTO):
        rule = await AutoBidRule.get(id=bid.auto_rule_id)
        assert rule.user_id == bid.lender_id
        assert bid.status == BidStatus.ACCEPTED
    assert await Notice.filter(user_id=a, title="Automatic bid placed").count() == 2


async def test_my_bids_show_the_rule(app, client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    user, phone = await ready_lender(300_000)
    rule_id = await _opt_in(client, phone)
    loan = await _listed(borrower.id, 200_000)
    edges = (await gql(client, MY_BIDS, token=await token_for(phone)))["data"]["myBids"]["edges"]
    assert [edge["node"] for edge in edges] == [
        {
            "loanId": str(loan.id),
            "amount": "1000.00",
            "source": "AUTO",
            "autoRuleId": str(rule_id),
            "status": "ACCEPTED",
        }
    ]
    assert user


async def test_the_auto_share_leaves_the_rest_to_manual_bidders(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    borrower, borrower_phone = await verified_borrower(scripted)
    a, rule_a = await _auto_lender(client, 500_000, "Lender A", amountPerLoan="3000.00")
    b, rule_b = await _auto_lender(client, 500_000, "Lender B", amountPerLoan="3000.00")
    c, rule_c = await _auto_lender(client, 500_000, "Lender C", amountPerLoan="3000.00")
    before = await _positions()
    loan = await _listed(borrower.id, 1_000_000, min_bid_fen=10_000)
    # 50 % of ¥10,000: A bids 3,000, B the 2,000 left of the share, C nothing.
    assert await _auto_bids(loan.id) == [(a, 300_000, rule_a), (b, 200_000, rule_b)]
    loan = await Loan.get(id=loan.id)
    assert (loan.status, loan.funded_fen) == ("LISTED", 500_000)
    after = await _positions()
    assert after[rule_c] == before[rule_c]  # C did not bid: it keeps its place
    assert after[rule_c] < after[rule_a] < after[rule_b]

    manual = [await ready_lender(300_000, name=f"Manual {n}") for n in "DE"]
    await _manual_bid(client, manual[0][1], loan.id, "2500.00")
    await _manual_bid(client, manual[1][1], loan.id, "2500.00")
    assert (await Loan.get(id=loan.id)).status == "FULL"  # waits for the borrower's signature
    await borrower_signs(loan.id, borrower.id, borrower_phone)
    # The disbursement runs from the outbox (maybe the app's own dispatcher): wait for it.
    for _ in range(100):
        if (await Loan.get(id=loan.id)).status == "REPAYING":
            break
        await outbox.dispatch_once()
        await asyncio.sleep(0.05)
    await settle_everything(sandbox)
    loan = await Loan.get(id=loan.id)
    assert loan.status == "REPAYING"
    claims = (
        await Claim.filter(loan_id=loan.id).order_by("id").values_list("holder_id", "principal_fen")
    )
    assert claims == [
        (a, 300_000),
        (b, 200_000),
        (manual[0][0].id, 250_000),
        (manual[1][0].id, 250_000),
    ]
    assert (await ledger.member_balances(a))["available"] == 200_000
    assert (await ledger.member_balances(c))["frozen"] == 0
    await assert_ledger_matches_provider(
        sandbox, [borrower.id, a, b, c, *(user.id for user, _ in manual)]
    )


async def test_skip_rules_and_a_refused_bid_does_not_stop_the_others(app, client, scripted):
    borrower, borrower_phone = await verified_borrower(scripted)  # grade C
    # First in the queue: a member with no R4 assessment (refused by bidding.accept).
    unassessed, unassessed_phone, _card = await create_funded_member(500_000, name="No R4")
    await approve_verifications(unassessed.id, lending_kinds())
    no_r4 = await _opt_in(client, unassessed_phone)
    _u, by_rate = await _auto_lender(client, 500_000, "Rate", maxRate="0.1000")
    _u, by_term = await _auto_lender(client, 500_000, "Term", maxTerm=6)
    _u, by_grade = await _auto_lender(client, 500_000, "Grade", grades=["AA", "A"])
    _u, by_method = await _auto_lender(client, 500_000, "Method", methods=["LUMP_SUM"])
    own = await _opt_in(client, borrower_phone)  # the borrower's own rule
    # 1,050.00 available, 1,000.00 kept: 50.00 is under the loan's minimum of 100.00.
    _u, too_little = await _auto_lender(client, 105_000, "Small", keepBalance="1000.00")
    # 3,000.00 available, 1,000.01 kept: it bids 1,999.99, to the fen.
    keeper, by_keeper = await _auto_lender(
        client, 300_000, "Keeper", amountPerLoan="5000.00", keepBalance="1000.01"
    )
    last, by_last = await _auto_lender(client, 300_000, "Last", amountPerLoan="500.00")
    before = await _positions()

    loan = await _listed(borrower.id, 1_000_000, min_bid_fen=10_000)
    assert await _auto_bids(loan.id) == [(keeper, 199_999, by_keeper), (last, 50_000, by_last)]
    assert (await ledger.member_balances(keeper))["available"] == 100_001
    assert await Bid.filter(lender_id=unassessed.id).count() == 0
    after = await _positions()
    for kept in (no_r4, by_rate, by_term, by_grade, by_method, own, too_little):
        assert after[kept] == before[kept]
    assert max(before.values()) < after[by_keeper] < after[by_last]  # type: ignore[operator]

    # A loan that fits the method rule only by its method: that rule bids now.
    method_loan = await _listed(
        borrower.id, 200_000, method=RepaymentMethod.LUMP_SUM, term=3, min_bid_fen=10_000
    )
    assert [rule for _lender, _amount, rule in await _auto_bids(method_loan.id)] == [by_method]


async def test_a_listing_is_auto_bid_once_and_a_disabled_rule_bids_no_more(app, client, scripted):
    borrower, _phone = await verified_borrower(scripted)
    lender, phone = await ready_lender(500_000)
    rule_id = await _opt_in(client, phone)
    loan = await _listed(borrower.id, 1_000_000)
    assert await _auto_bids(loan.id) == [(lender.id, 100_000, rule_id)]

    # The event again (a redelivery), and the handler called directly: nothing more.
    async with in_transaction():
        await outbox.enqueue(bidding.LISTED_TOPIC, {"loan_id": loan.id})
    await outbox.dispatch_once()
    assert await autobid.run_auto_bids(loan.id) == []
    assert await _auto_bids(loan.id) == [(lender.id, 100_000, rule_id)]
    assert (await Loan.get(id=loan.id)).funded_fen == 100_000

    token = await token_for(phone)
    await gql(client, DISABLE, token=token)
    other = await _listed(borrower.id, 1_000_000)
    assert await _auto_bids(other.id) == []


async def test_a_locked_members_rule_bids_nothing_until_the_account_is_active(
    app, client, scripted
):
    """Issue 22, M5.2: a locked account moves no money out, automatic bids included."""
    from models.members import UserStatus
    from services.customers import status
    from services.identity.permissions import load_actor
    from tests.factories import create_staff

    async def staff_actor(user_id: int) -> Any:
        return await load_actor(user_id, is_revoked=lambda _jti: asyncio.sleep(0, False))

    borrower, _phone = await verified_borrower(scripted)
    locked_id, _rule = await _auto_lender(client, 500_000, "Locked Lender")
    active_id, active_rule = await _auto_lender(client, 500_000, "Active Lender")
    maker = await staff_actor((await create_staff("cs"))[0].id)
    checker = await staff_actor((await create_staff("cs"))[0].id)
    await status.set_status(
        actor=maker, user_id=locked_id, status=UserStatus.LOCKED, reason="Fraud check"
    )
    loan = await _listed(borrower.id, 1_000_000)
    assert await _auto_bids(loan.id) == [(active_id, 100_000, active_rule)]

    change = await status.set_status(
        actor=maker, user_id=locked_id, status=UserStatus.ACTIVE, reason="Cleared"
    )
    await status.decide(actor=checker, change_id=change.id, approve=True)
    again = await _listed(borrower.id, 1_000_000)
    assert [lender for lender, _amount, _rule in await _auto_bids(again.id)] == [
        locked_id,
        active_id,
    ]
