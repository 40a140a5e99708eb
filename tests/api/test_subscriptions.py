"""The `notifications` subscription over a real WebSocket, served by a real uvicorn server
in the test's event loop; notices reach it through the outbox dispatcher of the app's
lifespan and the broker (in-process, or Redis on the postgres backend)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from tortoise.transactions import in_transaction
from websockets.asyncio.client import ClientConnection, connect

from app import create_app
from app.live import uvicorn_ws_options
from models.members import User
from services.credit import external
from services.kit.broker import get_broker
from services.kit.settings import Settings, get_settings
from services.loans import bidding
from services.platform import notifier, outbox
from tests.factories import ScriptedSources, create_member, token_for
from tests.lending import listed_loan, verified_borrower

pytestmark = pytest.mark.asyncio(loop_scope="session")

SUBSCRIPTION = "subscription { notifications { kind title body } }"
TIMEOUT = 10


@contextlib.asynccontextmanager
async def _server(
    settings: Settings | None = None, *, app: Starlette | None = None
) -> AsyncIterator[str]:
    """A uvicorn server on a free port with the app's lifespan; yields the WebSocket URL."""
    settings = settings or get_settings()
    config = uvicorn.Config(
        app=app or create_app(settings, own_services=False),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        log_config=None,  # leave the process's logging set-up alone
        **uvicorn_ws_options(settings),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # raises what made start-up fail
                    raise AssertionError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


async def _subscribers(user: User) -> int:
    """How many live broker subscriptions the user's notice channel has."""
    return get_broker().subscribers(notifier.notices_channel(user.id))


async def _wait_for_subscribers(user: User, count: int) -> None:
    # The protocols do not acknowledge a subscription: wait until the server has
    # subscribed to the broker, or a notice published before that would be missed.
    async with asyncio.timeout(TIMEOUT):
        while True:
            if await _subscribers(user) == count:
                return
            await asyncio.sleep(0.01)


async def _notify(user: User, *, title: str, body: str) -> None:
    async with in_transaction():
        await notifier.notify(user=user, kind="test", title=title, body=body)
    outbox.wake()


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    """The next protocol message, keep-alives skipped (pings answered)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == "ping":
            await _send(ws, {"type": "pong"})
        elif message["type"] not in ("ka", "pong"):
            return message


async def _open(url: str, protocol: str, token: str | None) -> ClientConnection:
    ws = await connect(url, subprotocols=[protocol], open_timeout=TIMEOUT)
    assert ws.subprotocol == protocol
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await _send(ws, {"type": "connection_init", "payload": payload})
    assert (await _receive(ws))["type"] == "connection_ack"
    return ws


async def _subscribe(url: str, token: str | None) -> ClientConnection:
    ws = await _open(url, "graphql-transport-ws", token)
    await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    return ws


async def test_a_member_receives_their_notice_over_graphql_transport_ws():
    member, phone = await create_member()
    token = await token_for(phone)
    async with _server() as url:
        ws = await _subscribe(url, token)
        async with ws:
            await _wait_for_subscribers(member, 1)

            await _notify(member, title="Repayment received", body="CNY 1,200.00 arrived.")

            message = await _receive(ws)
            assert message == {
                "id": "1",
                "type": "next",
                "payload": {
                    "data": {
                        "notifications": {
                            "kind": "test",
                            "title": "Repayment received",
                            "body": "CNY 1,200.00 arrived.",
                        }
                    }
                },
            }

            # Ending the subscription frees its broker subscription.
            await _send(ws, {"id": "1", "type": "complete"})
            await _wait_for_subscribers(member, 0)


async def test_the_legacy_graphql_ws_protocol_delivers_the_same_way():
    member, phone = await create_member()
    token = await token_for(phone)
    async with _server() as url:
        ws = await _open(url, "graphql-ws", token)
        async with ws:
            await _send(ws, {"id": "7", "type": "start", "payload": {"query": SUBSCRIPTION}})
            await _wait_for_subscribers(member, 1)

            await _notify(member, title="Loan funded", body="Your loan is fully funded.")

            message = await _receive(ws)
            assert message["type"] == "data"
            assert message["id"] == "7"
            assert message["payload"]["data"]["notifications"] == {
                "kind": "test",
                "title": "Loan funded",
                "body": "Your loan is fully funded.",
            }
            assert "errors" not in message["payload"]


async def test_a_member_never_receives_another_members_notice():
    first, first_phone = await create_member()
    second, second_phone = await create_member()
    async with _server() as url:
        first_ws = await _subscribe(url, await token_for(first_phone))
        second_ws = await _subscribe(url, await token_for(second_phone))
        async with first_ws, second_ws:
            await _wait_for_subscribers(first, 1)
            await _wait_for_subscribers(second, 1)

            await _notify(first, title="For the first", body="first only")
            received = await _receive(first_ws)
            assert received["payload"]["data"]["notifications"]["title"] == "For the first"

            # The first notice was published before this one: had it leaked to the second
            # member, it would arrive here before theirs.
            await _notify(second, title="For the second", body="second only")
            received = await _receive(second_ws)
            assert received["payload"]["data"]["notifications"]["title"] == "For the second"


async def test_an_anonymous_subscription_is_unauthenticated():
    member, _phone = await create_member()
    async with _server() as url:
        ws = await _subscribe(url, token=None)
        async with ws:
            message = await _receive(ws)

            assert (message["id"], message["type"]) == ("1", "error")
            assert [error["extensions"]["code"] for error in message["payload"]] == [
                "UNAUTHENTICATED"
            ]
            # Nothing was subscribed on anyone's behalf.
            assert await _subscribers(member) == 0


async def test_a_forged_token_is_unauthenticated():
    _member, _phone = await create_member()
    async with _server() as url:
        ws = await _subscribe(url, token="not-a-jwt")
        async with ws:
            message = await _receive(ws)

            assert (message["id"], message["type"]) == ("1", "error")
            assert [error["extensions"]["code"] for error in message["payload"]] == [
                "UNAUTHENTICATED"
            ]


async def test_bid_progress_reaches_an_anonymous_dashboard_over_websocket():
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    try:
        borrower, _phone = await verified_borrower(adapter.scripted, custody=False)
        loan = await listed_loan(borrower.id, 500_000, min_bid_fen=10_000)
    finally:
        external.set_adapter(None)
    channel = bidding.progress_channel(loan.id)
    query = (
        f'subscription {{ bidProgress(loanId: "{loan.id}") {{ kind status funded remaining '
        "bidders bidAmount source } }"
    )
    async with _server() as url:
        ws = await _open(url, "graphql-transport-ws", None)  # dashboards need no login
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
            await _wait_for_channel(channel, 1)
            async with in_transaction():
                loan.funded_fen, loan.bidder_count = 120_000, 1
                await bidding._progress(loan, "BID", bid_amount_fen=120_000, source="AUTO")
            outbox.wake()
            message = await _receive(ws)
            assert message["payload"]["data"]["bidProgress"] == {
                "kind": "BID",
                "status": "LISTED",
                "funded": "1200.00",
                "remaining": "3800.00",
                "bidders": 1,
                "bidAmount": "1200.00",
                "source": "AUTO",
            }


async def _wait_for_channel(channel: str, count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            if await _channel_subscribers(channel) == count:
                return
            await asyncio.sleep(0.01)


async def _channel_subscribers(channel: str) -> int:
    return get_broker().subscribers(channel)
