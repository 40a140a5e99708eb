"""Issue 20: the market's events (`transferMarketEvents`), published after each commit.

A listing's whole life as the SPA and the dashboards see it: LISTED with what is for
sale, REPRICED when an installment paid while it is open lowers the holding's
outstanding principal (what it offers falls to the fen), SOLD with the principal bought
and what is left, CANCELLED by the seller; another ENDED when its loan is repaid early
in full. Then the same through a real WebSocket, anonymous: public figures only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.repayments import Receipt
from services.kit.broker import get_broker
from services.platform import clock, outbox
from services.repayments.due import RepayMode
from services.transfers import ending, events, market
from tests.api.test_subscriptions import (
    TIMEOUT,
    _open,
    _receive,
    _send,
    _server,
    _wait_for_channel,
)
from tests.lending import (
    deposit_by_card,
    member_actor,
    move_clock_to,
    ready_lender,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)
from tests.transfers.test_market import SHARES, _buy, _key, _list, _pay_on_due, _rows

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

FIELDS = ("kind", "listing_id", "status", "for_sale_fen", "sold_fen", "principal_fen", "version")


async def _collect(messages: Any, count: int) -> list[dict[str, Any]]:
    """The next `count` market events, published by the outbox."""
    await outbox.dispatch_once()
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        async for message in messages:
            found.append({name: message[name] for name in (*FIELDS, "reason")})
            if len(found) == count:
                return found
    return found


async def _outstanding(claim: Claim) -> int:
    had = await Receipt.filter(claim_id=claim.id).values_list("principal_fen", flat=True)
    return claim.principal_fen - sum(had)


async def test_a_listing_life_is_told_as_it_happens(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), (b, _), _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    b_claim = await Claim.get(loan_id=made.loan.id, holder_id=b.id)
    await _pay_on_due(made, sandbox)
    following = next(row for row in await _rows(made.loan.id) if row.status != "PAID")
    await move_clock_to(following.due_date - timedelta(days=3))
    everything = await _outstanding(a_claim)
    buyer = await ready_lender(2_000_000, name="Buyer")
    async with get_broker().subscribe(events.MARKET_CHANNEL) as messages:
        listing = await _list(a, a_claim.id, everything)
        other = await _list(b, b_claim.id, 50_000)
        told = await _collect(messages, 2)
        assert [tuple(e[name] for name in FIELDS) for e in told] == [
            ("LISTED", listing.id, "OPEN", everything, 0, None, 1),
            ("LISTED", other.id, "OPEN", 50_000, 0, None, 1),
        ]

        await _pay_on_due(made, sandbox)  # A's outstanding falls under what is listed
        left = await _outstanding(a_claim)
        assert left < everything
        told = await _collect(messages, 2)
        assert sorted((e["kind"], e["listing_id"], e["for_sale_fen"]) for e in told) == sorted(
            [("REPRICED", listing.id, left), ("REPRICED", other.id, 50_000)]
        )

        done = await _buy(buyer, listing.id, 20_000)
        assert done.principal_fen == 20_000
        (sold,) = await _collect(messages, 1)
        assert tuple(sold[name] for name in FIELDS) == (
            "SOLD",
            listing.id,
            "OPEN",
            left - 20_000,  # the listing follows the holding down, then the sale
            20_000,
            20_000,
            1,  # a purchase does not change the terms: other buyers' versions still hold
        )
        assert await market.for_sale(await type(listing).get(id=listing.id)) == left - 20_000

        await market.cancel_listing(actor=member_actor(a.id), listing_id=listing.id)
        (cancelled,) = await _collect(messages, 1)
        assert tuple(cancelled[name] for name in FIELDS) == (
            "CANCELLED",
            listing.id,
            "CANCELLED",
            0,
            20_000,
            None,
            2,
        )

        await deposit_by_card(made.borrower.id, 1_500_000)
        await repay_confirmed(
            made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.EARLY_FULL
        )
        await settle_everything(sandbox)
        assert await ending.end_listings() == 1
        told = await _collect(messages, 2)  # repriced by the early repayment, then ended
        assert [(e["kind"], e["listing_id"]) for e in told] == [
            ("REPRICED", other.id),
            ("ENDED", other.id),
        ]
        assert told[0]["for_sale_fen"] == 0  # B's claim was repaid in full
        assert (told[1]["status"], told[1]["reason"], told[1]["version"]) == (
            "ENDED",
            "LOAN_NOT_REPAYING",
            2,
        )


async def test_anyone_watches_the_market_over_websocket_without_identities(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made = await repaying_loan(scripted, sandbox, shares=SHARES)
    (a, _), _b, _c = made.lenders
    a_claim = await Claim.get(loan_id=made.loan.id, holder_id=a.id)
    await move_clock_to(await clock.today() + timedelta(days=31))
    query = (
        "subscription { transferMarketEvents { kind listingId loanId status forSale listed "
        "sold rate version principal reason } }"
    )
    async with _server() as url:
        ws = await _open(url, "graphql-transport-ws", None)  # no login
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            await _wait_for_channel(events.MARKET_CHANNEL, 1)
            listing = await market.list_claim(
                actor=member_actor(a.id),
                claim_id=a_claim.id,
                principal_fen=123_456,
                rate=Decimal("-0.0150"),
                idempotency_key=_key(),
            )
            message = await _receive(ws)
    assert message["payload"]["data"]["transferMarketEvents"] == {
        "kind": "LISTED",
        "listingId": str(listing.id),
        "loanId": str(made.loan.id),
        "status": "OPEN",
        "forSale": "1234.56",
        "listed": "1234.56",
        "sold": "0.00",
        "rate": "-0.0150",
        "version": 1,
        "principal": None,
        "reason": None,
    }
