"""The `dashboardFigures` subscription over a real WebSocket (M12.4): staff receive the
current figures at once, then the change a bid placed through the API makes; all the
subscribers of a process share one reading a tick; members are refused FORBIDDEN and
anonymous callers UNAUTHENTICATED, and neither starts the feed.

One app serves it all (uvicorn in the test's event loop, as tests/api/test_subscriptions
runs it): the WebSocket, the lenders' placeBid and confirmOperation over HTTP, and the
sandbox provider that holds their deposits and the bids' freezes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from models.bids import Bid
from services.analytics import dashboard
from services.analytics.dashboard_feed import FEED
from services.kit.settings import get_settings
from services.platform import clock
from tests.api.test_subscriptions import TIMEOUT, _open, _receive, _send, _server
from tests.factories import create_member, create_staff, gql, token_for
from tests.lending import code_for, listed_loan, ready_lender, repaying_loan, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SUBSCRIPTION = """subscription { dashboardFigures { businessTime today volumeToday
  loansDisbursedToday bidsLastMinute bidAmountLastMinute
  hotLoans { loanId amount funded remaining progress bidsLastHour }
  overdue { bucket loanCount amount principal }
  vintages { cohort loanCount principal points }
  complaints { open breaching openedToday averageFirstAnswerMinutes } } }"""
PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { status amount } }
    ... on ConfirmOperationError { code message } } }"""
NO_OVERDUE = [
    {"bucket": bucket, "loanCount": 0, "amount": "0.00", "principal": "0.00"}
    for bucket in ("M1", "M2", "M3_PLUS", "OVER_90")
]

NO_COMPLAINTS = {"open": 0, "breaching": 0, "openedToday": 0, "averageFirstAnswerMinutes": None}

_keys = iter(range(1, 10**9))


@dataclass
class Platform:
    url: str  # the WebSocket's
    http: httpx.AsyncClient
    app: Starlette


@contextlib.asynccontextmanager
async def _platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """The app served on a free port (with its lifespan: the sandbox provider in its own
    file, no job loop, as the `app` fixture), and an HTTP client to it."""
    settings = get_settings().model_copy(
        update={"sandbox_database": str(tmp_path / "sandbox.sqlite3"), "jobs_embedded": False}
    )
    application = create_app(settings, own_services=False)
    async with _server(app=application) as url:
        base = url.replace("ws://", "http://").removesuffix("/graphql")
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http:
            yield Platform(url=url, http=http, app=application)


async def _bid(client: Any, phone: str, loan_id: int, amount: str) -> None:
    """placeBid, then confirmOperation with the SMS code: the lender's own API calls."""
    token = await token_for(phone)
    key = f"dash-bid-{next(_keys):06d}"
    placed = await gql(
        client,
        PLACE,
        {"input": {"loanId": str(loan_id), "amount": amount, "idempotencyKey": key}},
        token=token,
    )
    operation = placed["data"]["placeBid"]
    assert operation["__typename"] == "BidPlaced", operation
    confirmed = await gql(
        client,
        CONFIRM,
        {"id": operation["operationId"], "code": await code_for(phone)},
        token=token,
    )
    assert confirmed["data"]["confirmOperation"]["bid"] == {"status": "ACCEPTED", "amount": amount}


async def _subscribe(url: str, phone: str) -> Any:
    ws = await _open(url, "graphql-transport-ws", await token_for(phone))
    await _send(ws, {"id": "d", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    return ws


async def _figures(ws: Any) -> dict[str, Any]:
    message = await _receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return dict(message["payload"]["data"]["dashboardFigures"])


async def _feed_stopped() -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            if not FEED.watchers and not FEED.running:
                return
            await asyncio.sleep(0.01)


async def test_staff_receive_the_figures_then_the_bid_placed_through_the_api(scripted, tmp_path):
    async with _platform(tmp_path) as platform:
        # A loan of 10,000.00 paid out today; its bids moved back two hours (out of the
        # last minute and the last hour), as if they had come in early this morning.
        made = await repaying_loan(scripted, platform.app.state.sandbox.sandbox)
        early = await clock.now() - timedelta(hours=2)
        await Bid.filter(loan_id=made.loan.id).update(created_at=early, decided_at=early)
        borrower, _phone = await verified_borrower(scripted, custody=False)
        listed = await listed_loan(borrower.id, 500_000, min_bid_fen=10_000)
        _lender, lender_phone = await ready_lender(300_000)
        _staff, staff_phone = await create_staff("finance")
        today = await clock.today()

        ws = await _subscribe(platform.url, staff_phone)
        async with ws:
            first = await _figures(ws)
            assert {k: v for k, v in first.items() if k != "businessTime"} == {
                "today": today.isoformat(),
                "volumeToday": "10000.00",
                "loansDisbursedToday": 1,
                "bidsLastMinute": 0,
                "bidAmountLastMinute": "0.00",
                "hotLoans": [],
                "overdue": NO_OVERDUE,
                "complaints": NO_COMPLAINTS,
                # Paid out this month: no month on book yet, so no point.
                "vintages": [
                    {
                        "cohort": today.strftime("%Y-%m"),
                        "loanCount": 1,
                        "principal": "10000.00",
                        "points": [],
                    }
                ],
            }

            await _bid(platform.http, lender_phone, listed.id, "1500.00")

            second = await _figures(ws)
            assert second == {
                **first,
                "businessTime": second["businessTime"],
                "bidsLastMinute": 1,
                "bidAmountLastMinute": "1500.00",
                "hotLoans": [
                    {
                        "loanId": str(listed.id),
                        "amount": "5000.00",
                        "funded": "1500.00",
                        "remaining": "3500.00",
                        "progress": "0.3000",
                        "bidsLastHour": 1,
                    }
                ],
            }
            assert second["businessTime"] > first["businessTime"]
    await _feed_stopped()


async def test_two_subscribers_share_one_reading_per_tick(scripted, tmp_path, monkeypatch):
    calls: list[Any] = []
    readings: list[dashboard.DashboardFigures] = []
    real = dashboard.compute

    async def counted(actor: Any, slow: Any = None) -> dashboard.DashboardFigures:
        calls.append(actor)
        figures = await real(actor, slow)
        readings.append(figures)
        return figures

    monkeypatch.setattr(dashboard, "compute", counted)
    async with _platform(tmp_path) as platform:
        borrower, _phone = await verified_borrower(scripted, custody=False)
        listed = await listed_loan(borrower.id, 500_000, min_bid_fen=10_000)
        _lender, lender_phone = await ready_lender(300_000)
        _finance, finance_phone = await create_staff("finance")
        _risk, risk_phone = await create_staff("risk_l1")
        assert not FEED.running
        rounds = FEED.rounds

        first_ws = await _subscribe(platform.url, finance_phone)
        second_ws = await _subscribe(platform.url, risk_phone)
        async with first_ws, second_ws:
            before = [await _figures(first_ws), await _figures(second_ws)]
            assert before[0]["bidsLastMinute"] == before[1]["bidsLastMinute"] == 0
            producers = [t for t in asyncio.all_tasks() if t.get_name() == "dashboard-feed"]
            assert (len(producers), FEED.watchers) == (1, 2)

            await _bid(platform.http, lender_phone, listed.id, "800.00")

            after = [await _figures(first_ws), await _figures(second_ws)]
            # Both pushed the same reading: the same moment, to the microsecond.
            assert after[0] == after[1]
            assert after[0]["bidsLastMinute"] == 1
            assert after[0]["hotLoans"][0]["funded"] == "800.00"
            # Every reading was the feed's own: one per tick, none per subscriber.
            assert len(calls) == FEED.rounds - rounds
            assert after[0]["businessTime"] in {
                figures.business_time.isoformat() for figures in readings
            }
    await _feed_stopped()


async def test_members_are_forbidden_and_anonymous_callers_unauthenticated():
    _member, member_phone = await create_member()
    async with _server() as url:
        for token, code in (
            (await token_for(member_phone), "FORBIDDEN"),
            (None, "UNAUTHENTICATED"),
        ):
            ws = await _open(url, "graphql-transport-ws", token)
            async with ws:
                await _send(
                    ws, {"id": "d", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
                )
                message = await _receive(ws)
                assert (message["id"], message["type"]) == ("d", "error"), message
                assert [e["extensions"]["code"] for e in message["payload"]] == [code]
                # Refused before the resolver ran: nothing reads the figures for them.
                assert (FEED.watchers, FEED.running) == (0, False)
