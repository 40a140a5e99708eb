"""Issue 20: automatic bidding rules buying on the secondary market.

A loan of 10,000.00 at 12 % over 12 months, one installment paid; lender A lists
2,000.00 of their claim at 3 % off. Five lenders have opted-in rules, in queue order:

- P buys on the market (premium at most 0, XIRR at least 10 %), 500.00 per loan: buys 500.00;
- Q buys only at 5 % off or deeper: skipped, keeps its place;
- R buys, 1,000.00 per loan, but keeps all its balance but what pays for about 300.00:
  buys exactly what its balance pays for (price + accrued interest), to the fen;
- S does not buy on the market (no opt-in): never buys, keeps its place;
- T wants an XIRR of 50 %: skipped.

Served rules go to the back of the one queue; the listing offers what is left; a second
delivery of the event buys nothing; every purchase's money is to the fen and the ledger
equals the provider. Then the opt-in's settings through the API and their bad input.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from models.bids import AutoBidRule, Claim
from models.transfers import ClaimTransfer, TransferListing, TransferStatus
from services.money import ledger
from services.platform import outbox
from services.transfers import autobuy, market
from tests.factories import gql, token_for
from tests.lending import (
    assert_ledger_matches_provider,
    code_for,
    member_actor,
    ready_lender,
    repaying_loan,
    settle_everything,
)
from tests.loans.test_autobid_api import CONFIRM, _rule
from tests.transfers.test_market import _expected_quote, _key, _pay_on_due

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SET = """mutation ($input: AutoBidRuleInput!) { setAutoBidRule(input: $input) { __typename
  ... on AutoBidRuleSaved { operationId rule { id secondaryMarket { maxPremium minBuyerXirr
        skipOverdue } } }
  ... on SetAutoBidRuleError { code field } } }"""


def _market(max_premium: str = "0.0000", min_xirr: str = "0.1000") -> dict[str, Any]:
    return {"maxPremium": max_premium, "minBuyerXirr": min_xirr, "skipOverdue": True}


async def _opted_in(client: Any, fen: int, name: str, **overrides: Any) -> tuple[Any, int]:
    user, phone = await ready_lender(fen, name=name)
    token = await token_for(phone)
    rule = _rule(minTerm=1, maxTerm=24, **overrides)
    saved = (await gql(client, SET, {"input": rule}, token=token))["data"]["setAutoBidRule"]
    assert saved["__typename"] == "AutoBidRuleSaved", saved
    confirmed = await gql(
        client,
        CONFIRM,
        {"id": saved["operationId"], "code": await code_for(phone)},
        token=token,
    )
    assert confirmed["data"]["confirmOperation"]["autoBidRule"]["enabled"] is True
    return user, int(saved["rule"]["id"])


async def _served(listing_id: int) -> None:
    """Until the listing's event was handled (here or by the app's own dispatcher)."""
    for _ in range(100):
        if await TransferListing.filter(id=listing_id, auto_buy_done_at__isnull=False).exists():
            return
        await outbox.dispatch_once()
        await asyncio.sleep(0.05)
    raise AssertionError("the transfers.listed event was not handled")


async def test_rules_buy_listings_in_queue_order_within_their_limits(app, client, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=(600_000, 400_000))
    await _pay_on_due(made, sandbox)
    (a, _), _b = made.lenders
    claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)

    p, p_rule = await _opted_in(
        client, 1_000_000, "Buyer P", amountPerLoan="500.00", secondaryMarket=_market()
    )
    _q, q_rule = await _opted_in(client, 1_000_000, "Buyer Q", secondaryMarket=_market("-0.0500"))
    # R keeps all but 310.00 of its 2,000.00: enough for about 300.00 at 3 % off + interest.
    r, r_rule = await _opted_in(
        client,
        200_000,
        "Buyer R",
        amountPerLoan="1000.00",
        keepBalance="1690.00",
        secondaryMarket=_market(),
    )
    _s, s_rule = await _opted_in(client, 1_000_000, "Buyer S")
    _t, t_rule = await _opted_in(
        client, 1_000_000, "Buyer T", secondaryMarket=_market(min_xirr="0.5000")
    )
    before = dict(await AutoBidRule.all().values_list("id", "queue_position"))
    balances = {user.id: (await ledger.member_balances(user.id))["available"] for user in (p, r)}

    listing = await market.list_claim(
        actor=member_actor(a.id),
        claim_id=claim.id,
        principal_fen=200_000,
        rate=Decimal("-0.0300"),
        idempotency_key=_key(),
    )
    await _served(listing.id)
    bought = await ClaimTransfer.filter(listing_id=listing.id).order_by("id")
    assert [(row.buyer_id, row.status) for row in bought] == [
        (p.id, TransferStatus.DONE),
        (r.id, TransferStatus.DONE),
    ]
    assert bought[0].principal_fen == 50_000
    # R: the most principal whose price + accrued interest its 310.00 pays for.
    budget = 31_000
    price, accrued, _fee = await _expected_quote(listing, bought[1].principal_fen)
    assert price + accrued <= budget
    more_price, more_accrued, _ = await _expected_quote(listing, bought[1].principal_fen + 1)
    assert more_price + more_accrued > budget
    for row, user in zip(bought, (p, r), strict=True):
        price, accrued, fee = await _expected_quote(listing, row.principal_fen)
        assert (row.price_fen, row.accrued_interest_fen, row.fee_fen) == (price, accrued, fee)
        after = (await ledger.member_balances(user.id))["available"]
        assert after == balances[user.id] - price - accrued

    listing = await TransferListing.get(id=listing.id)
    assert listing.principal_fen == 200_000 - 50_000 - bought[1].principal_fen
    assert listing.status == "OPEN"
    now = dict(await AutoBidRule.all().values_list("id", "queue_position"))
    for unchanged in (q_rule, s_rule, t_rule):
        assert now[unchanged] == before[unchanged]
    assert now[p_rule] > max(before.values())  # served: to the back, in turn
    assert now[r_rule] > now[p_rule]

    assert await autobuy.run_auto_buys(listing.id) == []  # served once
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [a.id, p.id, r.id])


async def test_the_market_settings_are_kept_and_checked(app, client):
    user, phone = await ready_lender(100_000)
    token = await token_for(phone)
    for bad, field in (
        (_market(max_premium="0.6000"), "maxPremium"),
        (_market(max_premium="-0.9500"), "maxPremium"),
        (_market(min_xirr="11.0000"), "minBuyerXirr"),
    ):
        refused = await gql(client, SET, {"input": _rule(secondaryMarket=bad)}, token=token)
        answer = refused["data"]["setAutoBidRule"]
        assert (answer["__typename"], answer["field"]) == ("SetAutoBidRuleError", field)
        assert not await AutoBidRule.filter(user_id=user.id).exists()
    saved = await gql(
        client, SET, {"input": _rule(secondaryMarket=_market("-0.0100", "0.0900"))}, token=token
    )
    shown = saved["data"]["setAutoBidRule"]["rule"]["secondaryMarket"]
    assert shown == {"maxPremium": "-0.0100", "minBuyerXirr": "0.0900", "skipOverdue": True}
    off = await gql(client, SET, {"input": _rule()}, token=token)
    assert off["data"]["setAutoBidRule"]["rule"]["secondaryMarket"] is None
