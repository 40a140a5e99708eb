"""Waking dispatchers that run in another process (services/kit/wakeups.py): with
DISPATCH_IN_API=false an API process forwards its wake-ups through the broker (Redis on
PostgreSQL runs, the in-process broker on SQLite) and a worker's listener wakes its own
dispatchers from them, so a bid's SMS or a repayment's events go out at once rather than
at the worker's next poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from services.kit import wakeups
from services.kit.broker import RECONNECTED, get_broker

pytestmark = pytest.mark.asyncio(loop_scope="session")


@contextlib.asynccontextmanager
async def _running(*loops: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    listening = asyncio.Event()
    tasks = []
    if "forwarder" in loops:
        tasks.append(asyncio.create_task(wakeups.run_forwarder(stop)))
    if "listener" in loops:
        tasks.append(asyncio.create_task(wakeups.run_listener(stop, listening)))
        await asyncio.wait_for(listening.wait(), 10)
        for _ in range(100):  # Redis confirmed the subscription (at once in-process)
            if get_broker().subscribers(wakeups.CHANNEL):
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(0)  # the forwarder started
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def test_a_wake_up_reaches_the_listener_through_the_broker(database):
    outbox = wakeups.event(wakeups.OUTBOX)
    instructions = wakeups.event(wakeups.INSTRUCTIONS)
    async with _running("forwarder", "listener"):
        for _ in range(3):  # a burst: forwarded as one message per name
            wakeups.wake(wakeups.OUTBOX)
        outbox.clear()  # what this process set itself: only the broker can set it again
        instructions.clear()
        assert await _set_within(outbox, 5)
        assert not instructions.is_set()  # only the name that was woken


async def test_without_a_forwarder_nothing_goes_to_the_broker(database):
    outbox = wakeups.event(wakeups.OUTBOX)
    async with _running("listener"):
        wakeups.wake(wakeups.OUTBOX)
        assert outbox.is_set()  # the dispatcher of this process is woken
        outbox.clear()
        assert not await _set_within(outbox, 0.5)


async def test_a_gap_in_the_broker_wakes_every_dispatcher(database):
    async with _running("listener"):
        for name in wakeups.NAMES:
            wakeups.event(name).clear()
        get_broker().fanout.gap_all(RECONNECTED)  # type: ignore[attr-defined]
        for name in wakeups.NAMES:
            assert await _set_within(wakeups.event(name), 5), name


async def test_an_api_process_that_does_not_dispatch_leaves_the_outbox_to_the_workers(
    database, tmp_path
):
    from app import create_app
    from models.messaging import OutboxEvent
    from services.kit.settings import get_settings
    from services.platform import outbox

    settings = get_settings().model_copy(
        update={
            "sandbox_database": str(tmp_path / "sandbox-provider.sqlite3"),
            "jobs_embedded": False,
            "dispatch_in_api": False,
            "outbox_poll_seconds": 0.05,  # a dispatcher here would pass ten times below
        }
    )
    application = create_app(settings, own_services=False)
    async with (
        get_broker().subscribe(wakeups.CHANNEL) as heard,
        application.router.lifespan_context(application),
    ):
        event = await outbox.enqueue("test.topic", {"n": 1})
        outbox.wake()
        message = await asyncio.wait_for(anext(aiter(heard)), 5)
        assert message == {"name": wakeups.OUTBOX}  # forwarded to the workers
        await asyncio.sleep(0.5)
        assert (await OutboxEvent.get(id=event.id)).published_at is None

    # The dispatcher of a worker publishes it.
    assert await outbox.dispatch_once() == 1
    assert (await OutboxEvent.get(id=event.id)).published_at is not None
