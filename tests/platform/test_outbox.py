"""The transactional outbox: a failing handler leaves nothing behind, a failed event is
tried again only after its backoff, and is given up after MAX_ATTEMPTS. No app here, so
no dispatcher of the app's races the test's `dispatch_once`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from models.messaging import OutboxEvent
from services.kit.broker import get_broker
from services.platform import outbox
from services.platform.clock import system_now

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOPIC = "test.flaky"


class Flaky:
    """A handler that writes an event of its own, then fails `failures` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, payload: dict[str, Any]) -> None:
        self.calls += 1
        await outbox.enqueue("test.side-effect", {"call": self.calls})
        if self.calls <= self.failures:
            raise RuntimeError("gateway unavailable")


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    handler = Flaky(failures=2)
    outbox.register_handler(TOPIC, handler)
    yield handler
    outbox._handlers.pop(TOPIC, None)


async def _due_now(event_id: int) -> None:
    await OutboxEvent.filter(id=event_id).update(next_attempt_at=system_now())


async def test_the_backoff_doubles_from_five_seconds_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in range(1, 12)] == [
        5,
        10,
        20,
        40,
        80,
        160,
        320,
        640,
        1280,
        2560,
        3600,
    ]
    assert outbox.backoff(outbox.MAX_ATTEMPTS) == timedelta(hours=1)


async def test_a_failing_handler_writes_nothing_and_waits_for_its_backoff(flaky):
    event = await outbox.enqueue(TOPIC, {"n": 1})
    before = system_now()
    await outbox.dispatch_once()
    row = await OutboxEvent.get(id=event.id)
    assert (row.attempts, row.published_at) == (1, None)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= before + timedelta(seconds=5)
    # The handler's own write was rolled back with its savepoint.
    assert not await OutboxEvent.filter(topic="test.side-effect").exists()

    await outbox.dispatch_once()  # still within the backoff: not called
    assert flaky.calls == 1

    await _due_now(event.id)
    await outbox.dispatch_once()
    row = await OutboxEvent.get(id=event.id)
    assert (flaky.calls, row.attempts) == (2, 2)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= system_now() + timedelta(seconds=9)

    await _due_now(event.id)
    await outbox.dispatch_once()
    row = await OutboxEvent.get(id=event.id)
    assert row.published_at is not None
    assert flaky.calls == 3
    # Only the successful call's write was kept.
    kept = await OutboxEvent.filter(topic="test.side-effect").values_list("payload", flat=True)
    assert kept == [{"call": 3}]


async def test_an_event_is_given_up_after_max_attempts(caplog):
    handler = Flaky(failures=10_000)
    outbox.register_handler(TOPIC, handler)
    try:
        event = await outbox.enqueue(TOPIC, {"n": 2})
        with caplog.at_level(logging.ERROR, logger="services.platform.outbox"):
            for _ in range(outbox.MAX_ATTEMPTS + 3):
                await _due_now(event.id)
                await outbox.dispatch_once()
    finally:
        outbox._handlers.pop(TOPIC, None)
    row = await OutboxEvent.get(id=event.id)
    assert (row.attempts, row.published_at) == (outbox.MAX_ATTEMPTS, None)
    assert handler.calls == outbox.MAX_ATTEMPTS
    assert any("given up" in record.getMessage() for record in caplog.records)


async def test_broker_events_go_out_in_order_around_handlers_and_a_failed_run_waits(
    monkeypatch: pytest.MonkeyPatch,
):
    seen: list[tuple[str, int]] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(("handler", payload["n"]))

    async def publish_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
        seen.extend(("broker", message["n"]) for _channel, message in messages)

    async def broken(messages: list[tuple[str, dict[str, Any]]]) -> None:
        raise ConnectionError("redis away")

    broker = get_broker()
    outbox.register_handler("test.handled", handler)
    try:
        monkeypatch.setattr(broker, "publish_many", publish_many)
        topics = ["test.a", "test.b", "test.handled", "test.c"]
        for n, topic in enumerate(topics):
            await outbox.enqueue(topic, {"n": n})
        assert await outbox.dispatch_once() == 4
        # The handler's event in its place: the runs before and after it go out apart.
        assert seen == [("broker", 0), ("broker", 1), ("handler", 2), ("broker", 3)]
        assert not await OutboxEvent.filter(published_at__isnull=True).exists()

        monkeypatch.setattr(broker, "publish_many", broken)
        failed = await outbox.enqueue("test.a", {"n": 9})
        assert await outbox.dispatch_once() == 0
        row = await OutboxEvent.get(id=failed.id)
        assert (row.attempts, row.published_at) == (1, None)
        assert row.next_attempt_at is not None
    finally:
        outbox._handlers.pop("test.handled", None)


async def test_a_fanout_row_publishes_its_messages_in_their_order_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
):
    """A settlement's events for a loan's holders are one row (`enqueue_fanout`): the
    broker gets each message on its own channel, in order, between the events written
    before and after it; one message alone is an ordinary event."""
    published: list[tuple[str, dict[str, Any]]] = []

    async def publish_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
        published.extend(messages)

    monkeypatch.setattr(get_broker(), "publish_many", publish_many)
    await outbox.enqueue("member.1.repayments", {"n": 0})
    await outbox.enqueue_fanout(
        [
            ("member.2.repayments", {"n": 1}),
            ("member.3.repayments", {"n": 2}),
            ("member.2.repayments", {"n": 3}),
        ]
    )
    await outbox.enqueue_fanout([("member.4.repayments", {"n": 4})])
    assert [row.topic for row in await OutboxEvent.all().order_by("id")] == [
        "member.1.repayments",
        outbox.FANOUT,
        "member.4.repayments",
    ]
    assert await outbox.dispatch_once() == 3
    assert published == [
        ("member.1.repayments", {"n": 0}),
        ("member.2.repayments", {"n": 1}),
        ("member.3.repayments", {"n": 2}),
        ("member.2.repayments", {"n": 3}),
        ("member.4.repayments", {"n": 4}),
    ]
    assert not await OutboxEvent.filter(published_at__isnull=True).exists()
