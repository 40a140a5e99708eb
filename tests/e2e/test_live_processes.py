"""Several API processes behind one Redis (issue 15): whichever process holds a viewer's
socket, the viewer receives each event exactly once and in order; each process holds one
Redis subscription for all its viewers of a channel.

On PostgreSQL the events take the production path: written to the outbox by the test,
published by the two processes' dispatchers racing for the rows (SKIP LOCKED). On SQLite
(one process in production: `serve --workers 2` refuses it) the test publishes them to
Redis itself, and the processes' fan-out is what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.loans import Loan
from services.kit.broker import RedisBroker
from services.loans import bidding
from tests.api.test_live_layer import _loan_id
from tests.api.test_subscriptions import TIMEOUT, _open, _receive, _send
from tests.conftest import BACKEND
from tests.e2e.processes import platform_process
from tests.kit.redis_server import private_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREFIX = "procs:"
VIEWERS_PER_PROCESS = 8  # half on the shared execution, half on their own
EVENTS = 12
STEP = 10_000  # each event funds 100.00 more


def _subscribe(loan_id: int, n: int) -> dict[str, Any]:
    if n % 2:  # a fragment: not a shareable shape, one execution per viewer
        query = (
            f'subscription {{ bidProgress(loanId: "{loan_id}") {{ ...P }} }}'
            " fragment P on BidProgressEvent { kind funded }"
        )
    else:
        query = f'subscription {{ bidProgress(loanId: "{loan_id}") {{ kind funded }} }}'
    return {"id": f"op{n}", "type": "subscribe", "payload": {"query": query}}


async def _event(loan_id: int, funded_fen: int, publisher: RedisBroker) -> None:
    loan = await Loan.get(id=loan_id)
    loan.funded_fen, loan.bidder_count = funded_fen, funded_fen // STEP
    if BACKEND == "postgres":
        async with in_transaction():
            await bidding._progress(loan, "BID", bid_amount_fen=STEP, source="AUTO")
        return
    await publisher.publish(
        bidding.progress_channel(loan_id),
        {
            "loan_id": loan.id,
            "event": "BID",
            "status": str(loan.status),
            "amount_fen": loan.amount_fen,
            "funded_fen": funded_fen,
            "bidder_count": loan.bidder_count,
            "at": "2026-12-04T10:00:00+00:00",
            "bid_amount_fen": STEP,
            "source": "AUTO",
        },
    )


async def _funded_seen(ws: Any, seen: list[str], until: str) -> None:
    """Read `ws` into `seen` (funded amounts) until `until` has been read."""
    while not seen or seen[-1] != until:
        message = await _receive(ws)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        seen.append(message["payload"]["data"]["bidProgress"]["funded"])


async def test_each_viewer_on_each_process_gets_each_event_exactly_once(tmp_path: Path):
    loan_id = await _loan_id()
    channel = PREFIX + bidding.progress_channel(loan_id)
    async with private_redis() as redis:
        environment = {"REDIS_URL": redis.url, "REDIS_PREFIX": PREFIX}
        publisher = RedisBroker(redis.url, PREFIX)
        await publisher.start()
        async with contextlib.AsyncExitStack() as stack:
            platforms = [
                await stack.enter_async_context(
                    platform_process(tmp_path / f"bank{n}.sqlite3", None, environment=environment)
                )
                for n in range(2)
            ]
            stack.push_async_callback(publisher.stop)
            viewers = []
            for platform in platforms:
                url = platform.base_url.replace("http://", "ws://") + "/graphql"
                for n in range(VIEWERS_PER_PROCESS):
                    ws = await stack.enter_async_context(
                        await _open(url, "graphql-transport-ws", None)
                    )
                    await _send(ws, _subscribe(loan_id, n))
                    viewers.append(ws)

            async with asyncio.timeout(TIMEOUT):
                while True:  # one subscription per process, not one per viewer
                    if (await publisher._redis.pubsub_numsub(channel))[0][1] == 2:
                        break
                    await asyncio.sleep(0.05)
            # Warm-up: funded 0.00 until every viewer has read one (each viewer's own
            # execution subscribes when it starts; none is timed or counted).
            warm: list[list[str]] = [[] for _ in viewers]
            async with asyncio.timeout(4 * TIMEOUT):
                while any(not seen for seen in warm):
                    await _event(loan_id, 0, publisher)
                    await asyncio.sleep(0.3)
                    for ws, seen in zip(viewers, warm, strict=True):
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.05):
                                await _funded_seen(ws, seen, "0.00")
            await _event(loan_id, 1, publisher)  # 0.01, a marker: all before is warm-up
            for ws in viewers:
                await _funded_seen(ws, [], "0.01")

            for k in range(1, EVENTS + 1):
                await _event(loan_id, k * STEP, publisher)
            expected = [f"{k * STEP // 100}.00" for k in range(1, EVENTS + 1)]
            for n, ws in enumerate(viewers):
                seen: list[str] = []
                await _funded_seen(ws, seen, expected[-1])
                assert seen == expected, (n, seen)
            # Nothing more arrives: no event was delivered twice by either process.
            await _event(loan_id, 999 * STEP, publisher)
            for ws in viewers:
                seen = []
                await _funded_seen(ws, seen, "99900.00")
                assert seen == ["99900.00"]
