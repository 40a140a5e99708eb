"""Transactional outbox: events are rows written with the business change, then
published to the broker (or handed to a handler) after commit, by a dispatcher.

Several processes may dispatch at once: on PostgreSQL each claims rows with
`FOR UPDATE SKIP LOCKED`, so an event is handled by one of them.

Each event is handled in a savepoint: a handler that fails leaves none of its writes
behind. A failed event is tried again after a backoff (`backoff`: 5 s, 10 s, 20 s, ...
at most an hour, in wall-clock time: an SMTP or SMS gateway outage is real time), at
most MAX_ATTEMPTS times in all (about 11 hours); then it stays unpublished and the last
failure is logged as an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.messaging import OutboxEvent
from services.kit import wakeups
from services.kit.broker import get_broker
from services.kit.db import insert_rows
from services.kit.loops import run_until_stopped
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
# Topics with a handler run it; every other topic is published to the broker channel
# of the same name.
_handlers: dict[str, Handler] = {}
_wake = wakeups.event(wakeups.OUTBOX)
MAX_ATTEMPTS = 20
FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 5 s doubling, at most an hour."""
    wait: timedelta = FIRST_BACKOFF * (2 ** min(max(attempts - 1, 0), 20))
    return min(wait, MAX_BACKOFF)


def register_handler(topic: str, handler: Handler) -> None:
    _handlers[topic] = handler


async def enqueue(topic: str, payload: dict[str, Any]) -> OutboxEvent:
    """Write an event in the caller's transaction. Call `wake()` after the commit."""
    return await OutboxEvent.create(topic=topic, payload=payload)


async def enqueue_many(events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Write several (topic, payload) events in one statement, in their order, in the
    caller's transaction. Call `wake()` after the commit."""
    if not events:
        return
    now = datetime.now(UTC)
    await insert_rows(
        OutboxEvent,
        [
            ("topic", "text"),
            ("payload", "jsonb"),
            ("created_at", "timestamptz"),
            ("attempts", "int"),
        ],
        [(topic, payload, now, 0) for topic, payload in events],
    )


# One row, many broker messages: a settlement's event for each of a loan's holders is
# one outbox row, published as the run of messages it holds.
FANOUT = "outbox.fanout"


async def enqueue_fanout(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Write several (channel, payload) broker messages as one event in the caller's
    transaction: the dispatcher publishes them in their order, in the event's place in
    the outbox (each member's stream keeps its order). One message: an event of its
    own. Call `wake()` after the commit."""
    if len(messages) == 1:
        await enqueue_many(messages)
    elif messages:
        await enqueue_many(
            [(FANOUT, {"messages": [[channel, payload] for channel, payload in messages]})]
        )


def messages(topic: str, payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The broker messages an event stands for: itself, or those of a fan-out row."""
    if topic == FANOUT:
        return [(str(channel), body) for channel, body in payload["messages"]]
    return [(topic, payload)]


def wake() -> None:
    """Tell the dispatcher that new events are committed (this process's, and the
    workers' when this process forwards its wake-ups: services/kit/wakeups.py)."""
    wakeups.wake(wakeups.OUTBOX)


async def dispatch_once(batch: int = 500) -> int:
    """Handle committed, unpublished events in id order. Returns how many were handled.

    Events published to the broker go out a run at a time (`publish_many`: one round
    trip to Redis for a run of consecutive ones) and write nothing here, so they need no
    savepoint; an event with a handler runs in its own savepoint, in its place in the
    order. Every event handled is marked published by one statement at the end."""
    now = system_now()
    async with in_transaction() as connection:
        events = (
            await OutboxEvent.filter(published_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .limit(batch)
            .select_for_update(skip_locked=True)
            .using_db(connection)
        )
        done: list[int] = []
        run: list[OutboxEvent] = []
        for event in events:
            if event.topic not in _handlers:
                run.append(event)
                continue
            done += await _publish(run, connection)
            run = []
            try:
                async with in_transaction():  # a savepoint: a failure writes nothing
                    await _handlers[event.topic](event.payload)
            except Exception as error:
                await _failed(event, connection, error)
                continue
            done.append(event.id)
        done += await _publish(run, connection)
        if done:
            await (
                OutboxEvent.filter(id__in=done)
                .using_db(connection)
                .update(published_at=system_now())
            )
    return len(done)


async def _publish(run: list[OutboxEvent], connection: Any) -> list[int]:
    """Publish a run of broker events together; the ids published (none if it failed:
    each is then tried again after its backoff)."""
    if not run:
        return []
    try:
        await get_broker().publish_many(
            [one for event in run for one in messages(event.topic, event.payload)]
        )
    except Exception as error:
        for event in run:
            await _failed(event, connection, error)
        return []
    return [event.id for event in run]


async def _failed(event: OutboxEvent, connection: Any, error: Exception) -> None:
    event.attempts += 1
    if event.attempts >= MAX_ATTEMPTS:
        logger.error(
            "outbox event %s (%s) failed %s times: given up",
            event.id,
            event.topic,
            event.attempts,
            exc_info=error,
        )
    else:
        logger.error("outbox event %s (%s) failed", event.id, event.topic, exc_info=error)
    event.next_attempt_at = system_now() + backoff(event.attempts)
    await event.save(using_db=connection, update_fields=["attempts", "next_attempt_at"])


async def _dispatch_all() -> None:
    while await dispatch_once():
        pass


async def run_dispatcher(stop: asyncio.Event, poll_seconds: float) -> None:
    """Dispatch until `stop` is set: at once when woken, otherwise every `poll_seconds`."""
    await run_until_stopped(
        name="outbox dispatcher",
        step=_dispatch_all,
        wake=_wake,
        stop=stop,
        poll_seconds=poll_seconds,
    )
