"""Waking a background dispatcher, in this process or in a worker process.

A dispatcher (the outbox, the payment instructions, the operation-log sealer) runs a pass
at once when woken, otherwise every poll (services/kit/loops.py). A service wakes it
after its commit with `wake(name)`. When the dispatchers run in the API process (the
embedded default), that sets an event in the process and nothing more. When they run in
workers (`DISPATCH_IN_API=false`), the API process also runs `run_forwarder`: the names
woken go out on the broker's `wakeups` channel, at once after a quiet spell and then at
most once per short window, one message per name however often it was woken; each
worker's `run_listener` sets its own events from them. A lost message costs at most
one poll interval: the polls go on regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.kit.broker import Gap, get_broker

logger = logging.getLogger(__name__)

CHANNEL = "wakeups"
OUTBOX = "outbox"
INSTRUCTIONS = "instructions"
OPLOG = "oplog"
NAMES = (OUTBOX, INSTRUCTIONS, OPLOG)
# A wake-up after a quiet spell goes at once; the forwarder then waits this long and sends
# every name woken meanwhile together: under load each worker's dispatchers run a pass per
# window, not one per mutation of every API process (each worker hears every wake-up).
FORWARD_WINDOW_SECONDS = 0.05

_events = {name: asyncio.Event() for name in NAMES}
_forwarding = False
_pending: set[str] = set()
_forward = asyncio.Event()


def event(name: str) -> asyncio.Event:
    """The event the dispatcher `name` of this process waits on."""
    return _events[name]


def wake(name: str) -> None:
    """Wake the dispatcher `name`: in this process, and in the workers when this process
    forwards (it runs `run_forwarder`)."""
    _events[name].set()
    if _forwarding:
        _pending.add(name)
        _forward.set()


async def run_forwarder(stop: asyncio.Event) -> None:
    """Send the wake-ups of this process to the workers until `stop` is set. A failed
    publish is logged and dropped (the workers' polls pick the work up)."""
    global _forwarding
    _forwarding = True
    try:
        while not stop.is_set():
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(_forward.wait())
            await asyncio.wait({stopping, woken}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            woken.cancel()
            _forward.clear()
            names = sorted(_pending)
            _pending.clear()
            if not names:
                continue
            try:
                await get_broker().publish_many([(CHANNEL, {"name": name}) for name in names])
            except Exception:
                logger.warning("wake-ups %s not forwarded", names, exc_info=True)
            if not stop.is_set():  # what is woken meanwhile goes together, in one message
                await asyncio.sleep(FORWARD_WINDOW_SECONDS)
    finally:
        _forwarding = False
        _pending.clear()


async def run_listener(stop: asyncio.Event, listening: asyncio.Event | None = None) -> None:
    """Set this process's events from the wake-ups other processes forward, until
    `stop` is set (or the broker stops); `listening` is set once the broker has the
    subscription. A gap (the broker reconnected) wakes every dispatcher once."""

    async def listen() -> None:
        async with get_broker().subscribe(CHANNEL) as messages:
            if listening is not None:
                listening.set()
            async for message in messages:
                if isinstance(message, Gap):
                    for name in NAMES:
                        _events[name].set()
                elif message.get("name") in _events:
                    _events[message["name"]].set()

    listener = asyncio.ensure_future(listen())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({listener, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
