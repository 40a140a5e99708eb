"""The broker: one subscription connection per process, bounded queues per subscriber,
gaps told to the subscriber, counters that survive Redis going away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.kit.broker import (
    RECONNECTED,
    SLOW_CONSUMER,
    Gap,
    InProcessBroker,
    Message,
    RedisBroker,
)
from services.kit.broker import redis as broker_redis
from services.kit.broker.fanout import DELIVERY_BATCH, Fanout
from tests.kit.redis_server import private_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")
TIMEOUT = 10


async def _next(messages: AsyncIterator[Message]) -> Message:
    return await asyncio.wait_for(anext(messages), TIMEOUT)


async def test_a_slow_subscriber_loses_its_oldest_events_and_reads_a_gap_first():
    broker = InProcessBroker(queue_limit=3)
    async with broker.subscribe("c") as messages:
        for number in range(5):
            await broker.publish("c", {"n": number})
        assert await _next(messages) is SLOW_CONSUMER
        assert [await _next(messages) for _ in range(3)] == [{"n": 2}, {"n": 3}, {"n": 4}]
        await broker.publish("c", {"n": 5})
        assert await _next(messages) == {"n": 5}


async def test_every_subscriber_gets_the_same_decoded_message_once():
    broker = InProcessBroker()
    async with broker.subscribe("c") as first, broker.subscribe("c") as second:
        async with broker.subscribe("other") as other:
            await broker.publish("c", {"n": 1})
            one, two = await _next(first), await _next(second)
            assert one == {"n": 1}
            assert one is two  # one object for every subscriber: nothing copied per head
            assert broker.subscribers("c") == 2
            assert broker.subscribers("other") == 1
            await broker.publish("other", {"n": 2})
            assert await _next(other) == {"n": 2}
    assert broker.subscribers("c") == 0
    assert list(broker.fanout.channels()) == []  # nothing left behind for a channel


async def test_a_fanout_forgets_a_channel_with_its_last_subscriber():
    fanout = Fanout(queue_limit=10)
    first, is_first = fanout.add("x")
    second, again = fanout.add("x")
    assert (is_first, again) == (True, False)
    assert fanout.remove(first) is False
    assert fanout.remove(second) is True
    assert fanout.subscribers == 0
    assert await fanout.deliver("x", {"n": 1}) == 0


async def test_an_event_for_thousands_hands_the_loop_back_between_batches():
    """A hot channel's event does not hold the event loop (and every HTTP request the
    process serves) for the whole fan-out: other tasks run between batches."""
    fanout = Fanout(queue_limit=10)
    subscribers = [fanout.add("hot")[0] for _ in range(1_000)]
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    before = turns
    assert await fanout.deliver("hot", {"n": 1}) == 1_000
    ran_meanwhile = turns - before
    other.cancel()
    assert ran_meanwhile >= 1_000 // DELIVERY_BATCH - 1
    assert [s.waiting for s in subscribers] == [1] * 1_000


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def test_one_redis_connection_carries_every_subscription_of_a_process():
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = [
                    await stack.enter_async_context(broker.subscribe("hot")) for _ in range(200)
                ]
                streams += [
                    await stack.enter_async_context(broker.subscribe(f"u{n}")) for n in range(50)
                ]
                clients = await broker._redis.client_list()
                subscribed = [c for c in clients if int(c.get("sub", 0)) > 0]
                assert len(subscribed) == 1  # one pub/sub connection for 250 subscriptions
                assert int(subscribed[0]["sub"]) == 51  # each channel subscribed once
                assert broker.subscribers("hot") == 200
                await broker.publish("hot", {"bid": 1})
                received = [await _next(stream) for stream in streams[:200]]
                assert received == [{"bid": 1}] * 200
        finally:
            await broker.stop()


async def test_concurrent_subscriptions_after_every_channel_went_idle_are_all_confirmed(
    monkeypatch: pytest.MonkeyPatch,
):
    # CI lost a member's notices once: after the idle sweep had unsubscribed every
    # channel, two subscriptions at the same moment broke the pub/sub connection (each
    # sent a health-check PING and read its reply beside the reader) and the reader
    # never noticed, so no channel was ever confirmed again.
    monkeypatch.setattr(broker_redis, "_IDLE_SWEEP_SECONDS", 0.1)
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        try:
            for round_ in range(3):
                channels = [f"r{round_}.{n}" for n in range(5)]
                async with contextlib.AsyncExitStack() as stack:
                    streams = await asyncio.gather(
                        *(stack.enter_async_context(broker.subscribe(c)) for c in channels)
                    )
                    assert [broker.subscribers(c) for c in channels] == [1] * 5
                    await broker.publish(channels[-1], {"round": round_})
                    assert await _next(streams[-1]) == {"round": round_}
                # Gone idle: the sweep unsubscribes every channel before the next round.
                await _until(lambda: not broker._requested)
        finally:
            await broker.stop()


async def test_a_subscription_redis_did_not_take_is_sent_again_after_a_reconnect(
    monkeypatch: pytest.MonkeyPatch,
):
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        try:
            await _until(lambda: broker.listening)
            assert broker._pubsub is not None
            failing = broker._pubsub

            async def refuse(*_channels: str) -> None:
                raise ConnectionError("connection reset while sending SUBSCRIBE")

            monkeypatch.setattr(failing, "subscribe", refuse)
            async with broker.subscribe("loan.7.progress") as messages:
                # The reader reconnects on a new connection and subscribes the channel;
                # the subscriber is told events may have been missed meanwhile.
                await _until(lambda: broker.subscribers("loan.7.progress") == 1)
                assert broker._pubsub is not failing
                assert await _next(messages) == RECONNECTED
                await broker.publish("loan.7.progress", {"bid": 1})
                assert await _next(messages) == {"bid": 1}
        finally:
            await broker.stop()


async def test_a_subscription_whose_sending_never_returns_is_sent_again_after_a_reconnect(
    monkeypatch: pytest.MonkeyPatch,
):
    # CI saw a SUBSCRIBE that never returned (after the idle sweep had unsubscribed every
    # channel): the subscriber waited forever. Past _SEND_SECONDS the connection is
    # dropped and the reader subscribes every wanted channel on a new one.
    monkeypatch.setattr(broker_redis, "_SEND_SECONDS", 0.2)
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        try:
            await _until(lambda: broker.listening)
            assert broker._pubsub is not None
            stuck = broker._pubsub

            async def never_returns(*_channels: str) -> None:
                await asyncio.Event().wait()

            monkeypatch.setattr(stuck, "subscribe", never_returns)
            async with asyncio.timeout(TIMEOUT), broker.subscribe("loan.8.progress") as messages:
                await _until(lambda: broker.subscribers("loan.8.progress") == 1)
                assert broker._pubsub is not stuck
                assert await _next(messages) == RECONNECTED
                await broker.publish("loan.8.progress", {"bid": 2})
                assert await _next(messages) == {"bid": 2}
        finally:
            await broker.stop()


async def test_stop_ends_the_reader_even_when_a_read_swallows_its_cancellation(
    monkeypatch: pytest.MonkeyPatch,
):
    # CI saw stop() wait forever: the reader was cancelled inside a read whose timeout
    # expired at the same moment, the cancellation was lost, and the reader read on.
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        await _until(lambda: broker.listening)
        pubsub = broker._pubsub
        assert pubsub is not None
        original = pubsub.get_message
        swallowed: list[bool] = []

        async def losing_the_cancellation(*args: Any, **kwargs: Any) -> Any:
            try:
                return await original(*args, **kwargs)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()
                swallowed.append(True)
                return None

        monkeypatch.setattr(pubsub, "get_message", losing_the_cancellation)
        await asyncio.sleep(1.2)  # the reader's next read is the patched one
        async with asyncio.timeout(TIMEOUT):
            await broker.stop()
        assert swallowed == [True]


async def test_redis_going_away_keeps_counters_answering_and_subscribers_get_a_gap():
    async with private_redis() as server:
        broker = RedisBroker(server.url, "t:")
        await broker.start()
        try:
            await broker.bump("roles")
            assert await broker.version("roles") == 1
            async with broker.subscribe("loan.1.progress") as messages:
                await server.stop()
                # Counters answer at once with a version no cache holds: caches read the
                # database until Redis is back. A bump made meanwhile is not lost.
                outage = {await broker.version("roles") for _ in range(3)}
                assert len(outage) == 3
                assert all(value < 0 for value in outage)
                await broker.bump("roles")
                await server.start()
                await _until(lambda: broker.listening)
                assert await _next(messages) == RECONNECTED
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        if await broker.version("roles") >= 0:
                            break
                        await asyncio.sleep(0.05)
                # A fresh Redis: the bump made during the outage was sent again.
                assert await broker.version("roles") == 1
                await broker.publish("loan.1.progress", {"after": True})
                assert await _next(messages) == {"after": True}
        finally:
            await broker.stop()


async def test_a_gap_says_why():
    assert isinstance(RECONNECTED, Gap)
    assert "reconnected" in RECONNECTED.reason
    assert "slow" in SLOW_CONSUMER.reason
