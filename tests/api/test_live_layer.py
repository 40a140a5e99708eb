"""The live layer under pressure, over real WebSockets on a real uvicorn server: limits
per address and connection that an anonymous crowd cannot get past, the protocol's close
codes for bad input, and Redis going away while members work (app/live.py, kit/broker)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app import create_app, frames
from app.shared_streams import SharedStreams
from models.loans import Loan
from services.credit import external
from services.identity import auth, permissions
from services.identity.permissions import ANONYMOUS
from services.kit.broker import RedisBroker, get_broker, set_broker
from services.kit.settings import get_settings
from services.loans import bidding
from services.platform import outbox
from services.repayments.events import OVERDUE_EVENTS_CHANNEL
from tests.api.test_subscriptions import (
    TIMEOUT,
    _open,
    _receive,
    _send,
    _server,
    _wait_for_channel,
)
from tests.factories import (
    ScriptedSources,
    create_member,
    create_staff,
    new_id_number,
    token_for,
)
from tests.kit.redis_server import private_redis
from tests.lending import listed_loan, verified_borrower

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROTOCOL = "graphql-transport-ws"
ME = "{ me { user { id } roles } }"
OVERDUE = "subscription { overdueEvents { kind } }"
NOTICES = "subscription { notifications { title } }"
OPEN = """mutation ($id: String!) { openAccount(input: {realName: "Test Name", idNumber: $id})
  { __typename } }"""


async def _loan_id() -> int:
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    try:
        borrower, _phone = await verified_borrower(adapter.scripted, custody=False)
        loan = await listed_loan(borrower.id, 500_000, min_bid_fen=10_000)
    finally:
        external.set_adapter(None)
    return loan.id


def _app() -> tuple[Starlette, SharedStreams]:
    """The app and the shared executions of its GraphQL view (to count viewers)."""
    app = create_app(get_settings(), own_services=False)
    graphql = next(route.endpoint for route in app.routes if route.path == "/graphql")
    return app, graphql.shared_streams


async def _wait_for_viewers(streams: SharedStreams, count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            if streams.viewers == count:
                return
            await asyncio.sleep(0.01)


def _global_id(user_id: int) -> str:
    return base64.b64encode(f"User:{user_id}".encode()).decode()


def _progress(loan_id: int) -> dict[str, Any]:
    query = f'subscription {{ bidProgress(loanId: "{loan_id}") {{ kind funded }} }}'
    return {"type": "subscribe", "payload": {"query": query}}


async def _closed_with(ws: Any) -> int | None:
    """Wait until the server closes `ws`; its close code."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def _http(url: str, query: str, token: str, variables: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url.replace("ws://", "http://"),
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_anonymous_crowd_is_refused_past_its_limit_while_a_member_works():
    settings = get_settings()
    loan_id = await _loan_id()
    member, phone = await create_member()
    token = await token_for(phone)
    accepted: list[Any] = []
    codes: list[int | None] = []
    app, streams = _app()
    async with _server(app=app) as url:
        for _ in range(500):
            ws = await connect(url, subprotocols=[PROTOCOL], open_timeout=TIMEOUT)
            await _send(ws, {"type": "connection_init", "payload": {}})
            try:
                reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            except ConnectionClosed as closed:
                codes.append(closed.rcvd.code if closed.rcvd else None)
                continue
            assert reply["type"] == "connection_ack"
            await _send(ws, {"id": "1", **_progress(loan_id)})
            accepted.append(ws)
        try:
            assert len(accepted) == settings.ws_anonymous_per_address
            assert codes == [4429] * (500 - settings.ws_anonymous_per_address)
            await _wait_for_viewers(streams, len(accepted))
            # 20 viewers of one shape: one execution, one broker subscription.
            assert streams.groups == 1
            assert get_broker().subscribers(bidding.progress_channel(loan_id)) == 1
            # The member, from the same address, is not held up: HTTP queries and
            # mutations, and a subscription of their own.
            body = await _http(url, ME, token)
            assert body["data"]["me"]["user"]["id"] == _global_id(member.id)
            body = await _http(url, OPEN, token, {"id": new_id_number()})
            assert body["data"]["openAccount"]["__typename"] == "AccountOpened"
            mine = await _open(url, PROTOCOL, token)
            async with mine:
                await _send(mine, {"id": "m", **_progress(loan_id)})
                await _wait_for_viewers(streams, len(accepted) + 1)
        finally:
            for ws in accepted:
                await ws.close()


async def test_one_connection_cannot_hold_more_subscriptions_than_its_limit():
    limit = get_settings().ws_subscriptions_anonymous
    loan_id = await _loan_id()
    app, streams = _app()
    async with _server(app=app) as url:
        ws = await _open(url, PROTOCOL, None)
        async with ws:
            for number in range(limit + 3):
                await _send(ws, {"id": str(number), **_progress(loan_id)})
            errors = [await _receive(ws) for _ in range(3)]
            assert [(e["id"], e["type"]) for e in errors] == [
                (str(limit), "error"),
                (str(limit + 1), "error"),
                (str(limit + 2), "error"),
            ]
            assert {e["payload"][0]["extensions"]["code"] for e in errors} == {
                "TOO_MANY_SUBSCRIPTIONS"
            }
            await _wait_for_viewers(streams, limit)
            # Who keeps trying is closed: as many refusals as the limit.
            for number in range(limit):
                await _send(ws, {"id": f"x{number}", **_progress(loan_id)})
            assert await _closed_with(ws) == 4429
        await _wait_for_viewers(streams, 0)


async def test_bad_protocol_input_gets_the_protocols_close_codes():
    settings = get_settings().model_copy(update={"ws_init_timeout_seconds": 0.5})
    async with _server(settings) as url:
        # Subscribing before connection_init.
        async with connect(url, subprotocols=[PROTOCOL]) as ws:
            await _send(ws, {"id": "1", **_progress(1)})
            assert await _closed_with(ws) == 4401
        # Not JSON; an unknown message type.
        async with connect(url, subprotocols=[PROTOCOL]) as ws:
            await ws.send("{not json")
            assert await _closed_with(ws) == 4400
        ws = await _open(url, PROTOCOL, None)
        async with ws:
            await _send(ws, {"type": "surprise"})
            assert await _closed_with(ws) == 4400
        # No connection_init in time.
        async with connect(url, subprotocols=[PROTOCOL]) as ws:
            assert await _closed_with(ws) == 4408
        # A 10 MB frame: closed as too big, before anything reads it.
        async with connect(url, subprotocols=[PROTOCOL], max_size=None) as ws:
            code: int | None
            try:
                await ws.send("x" * 10_000_000)
            except ConnectionClosed as closed:  # closed while the frame was still going out
                code = closed.rcvd.code if closed.rcvd else None
            else:
                code = await _closed_with(ws)
            assert code == 1009
        # Completing an id nobody subscribed is harmless; the connection goes on.
        ws = await _open(url, PROTOCOL, None)
        async with ws:
            await _send(ws, {"id": "nobody", "type": "complete"})
            await _send(ws, {"type": "ping"})
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == {"type": "pong"}


async def test_redis_away_http_keeps_answering_and_subscribers_resync():
    loan_id = await _loan_id()
    member, phone = await create_member()
    token = await token_for(phone)
    channel = bidding.progress_channel(loan_id)
    session_broker = get_broker()
    async with private_redis() as redis:
        broker = RedisBroker(redis.url, "live:")
        await broker.start()
        set_broker(broker)
        try:
            async with _server() as url:
                ws = await _open(url, PROTOCOL, None)
                async with ws:
                    await _send(ws, {"id": "1", **_progress(loan_id)})
                    await _wait_for_channel(channel, 1)
                    await redis.stop()
                    for _ in range(3):
                        body = await _http(url, ME, token)
                        assert body["data"] is not None, body
                        assert body["data"]["me"]["user"]["id"] == _global_id(member.id)
                    await redis.start()
                    message = await _receive(ws)
                    assert message["type"] == "next"
                    assert message["payload"]["data"] is None
                    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == [
                        "RESYNC"
                    ]
                    loan = await Loan.get(id=loan_id)
                    async with in_transaction():
                        loan.funded_fen, loan.bidder_count = 120_000, 1
                        await bidding._progress(loan, "BID", bid_amount_fen=120_000, source="AUTO")
                    outbox.wake()
                    message = await _receive(ws)
                    assert message["payload"]["data"]["bidProgress"] == {
                        "kind": "BID",
                        "funded": "1200.00",
                    }
        finally:
            set_broker(session_broker)
            await broker.stop()


async def test_a_members_connection_closes_when_their_access_changes_or_ends():
    settings = get_settings().model_copy(update={"ws_recheck_seconds": 0.1})
    staff, staff_phone = await create_staff("collector")
    _member, phone = await create_member()
    async with _server(settings) as url:
        # Roles changed: 4403, connect again to get the new permissions.
        ws = await _open(url, PROTOCOL, await token_for(staff_phone))
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": OVERDUE}})
            await _wait_for_channel(OVERDUE_EVENTS_CHANNEL, 1)
            await permissions.assign_roles(actor=ANONYMOUS, user_id=staff.id, roles=["cs"])
            assert await _closed_with(ws) == 4403
        await _wait_for_channel(OVERDUE_EVENTS_CHANNEL, 0)
        # Logged out (the token revoked): 4401.
        token = await token_for(phone)
        ws = await _open(url, PROTOCOL, token)
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": NOTICES}})
            actor = await auth.authenticate(token)
            assert actor is not None
            await auth.logout(actor=actor, access_token=token)
            assert await _closed_with(ws) == 4401
        # An anonymous dashboard is not watched and stays open.
        ws = await _open(url, PROTOCOL, None)
        async with ws:
            await permissions.access_changed()
            await asyncio.sleep(0.5)
            await _send(ws, {"type": "ping"})
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == {"type": "pong"}


async def test_viewers_of_one_shape_share_one_execution_and_each_gets_its_own_id():
    loan_id = await _loan_id()
    channel = bidding.progress_channel(loan_id)
    app, streams = _app()
    other = f'subscription {{ bidProgress(loanId: "{loan_id}") {{ kind bidders }} }}'
    async with _server(app=app) as url:
        viewers = [await _open(url, PROTOCOL, None) for _ in range(3)]
        try:
            for number, ws in enumerate(viewers):
                await _send(ws, {"id": f"v{number}", **_progress(loan_id)})
            await _send(
                viewers[0], {"id": "other", "type": "subscribe", "payload": {"query": other}}
            )
            # Two shapes: two executions, so two broker subscribers for four operations.
            await _wait_for_channel(channel, 2)
            assert streams.groups == 2
            loan = await Loan.get(id=loan_id)
            async with in_transaction():
                loan.funded_fen, loan.bidder_count = 120_000, 1
                await bidding._progress(loan, "BID", bid_amount_fen=120_000, source="AUTO")
            outbox.wake()
            got = {}
            for ws in viewers[1:]:
                message = await _receive(ws)
                got[message["id"]] = message["payload"]
            first = [await _receive(viewers[0]), await _receive(viewers[0])]
            got.update({message["id"]: message["payload"] for message in first})
            same = {"data": {"bidProgress": {"kind": "BID", "funded": "1200.00"}}}
            assert got == {
                "v0": same,
                "v1": same,
                "v2": same,
                "other": {"data": {"bidProgress": {"kind": "BID", "bidders": 1}}},
            }
            # A viewer that completes leaves; the others go on.
            await _send(viewers[1], {"id": "v1", "type": "complete"})
        finally:
            for ws in viewers:
                await ws.close()
        await _wait_for_channel(channel, 0)
        assert streams.groups == 0


async def test_a_shared_shape_with_a_bad_field_is_refused_to_each_viewer():
    async with _server() as url:
        ws = await _open(url, PROTOCOL, None)
        async with ws:
            query = 'subscription { bidProgress(loanId: "1") { nonsense } }'
            await _send(ws, {"id": "a", "type": "subscribe", "payload": {"query": query}})
            message = await _receive(ws)
            assert (message["id"], message["type"]) == ("a", "error")
            assert "nonsense" in message["payload"][0]["message"]


async def test_shared_events_go_out_as_frames_built_once_per_operation_id(monkeypatch):
    """Viewers of a shared shape are written ready-made frames, built once per event and
    operation id; a socket that cannot take one now (here: refused) gets the ordinary
    path, with the same message."""
    loan_id = await _loan_id()
    channel = bidding.progress_channel(loan_id)
    built: list[bytes] = []
    written: list[bool] = []
    real_frame, real_writer = frames.text_frame, frames.writer_for

    def counting_frame(text: str) -> bytes:
        built.append(text.encode())
        return real_frame(text)

    def refusing_second(scope: dict[str, Any]) -> Any:
        write = real_writer(scope)
        assert write is not None  # uvicorn's sansio protocol, as `serve` runs
        refuse = len(written_by) == 1
        written_by.append(refuse)

        def maybe(frame: bytes) -> bool:
            done = False if refuse else write(frame)
            written.append(done)
            return done

        return maybe

    written_by: list[bool] = []
    monkeypatch.setattr(frames, "text_frame", counting_frame)
    monkeypatch.setattr(frames, "writer_for", refusing_second)
    async with _server() as url:
        viewers = [await _open(url, PROTOCOL, None) for _ in range(4)]
        try:
            for number, ws in enumerate(viewers):
                await _send(ws, {"id": "same" if number < 3 else "own", **_progress(loan_id)})
                await _wait_for_channel(channel, 1)
            loan = await Loan.get(id=loan_id)
            async with in_transaction():
                loan.funded_fen, loan.bidder_count = 120_000, 1
                await bidding._progress(loan, "BID", bid_amount_fen=120_000, source="AUTO")
            outbox.wake()
            got = [await _receive(ws) for ws in viewers]
        finally:
            for ws in viewers:
                await ws.close()
    same = {"data": {"bidProgress": {"kind": "BID", "funded": "1200.00"}}}
    assert [(m["id"], m["type"], m["payload"]) for m in got] == [
        ("same", "next", same),
        ("same", "next", same),
        ("same", "next", same),
        ("own", "next", same),
    ]
    assert len(built) == 2  # "same" once for three viewers, "own" once
    assert sorted(written) == [False, True, True, True]
