"""The Redis broker: pub/sub for events, INCR counters for cache versions.

One pub/sub connection per process carries every subscription of the process: a
reader task subscribes each channel once, decodes each event once and hands it to the
local fan-out. Requests use their own connection pool, so no number of subscribers can
take a connection a request needs.

Only the reader task reads the subscription connection; subscribing and unsubscribing
only write to it. That is why it has no client-side health check (a health check reads
its PONG in whichever task sends a command, racing the reader: two concurrent subscribes
then broke the connection without the reader noticing) and relies on TCP keepalive to
find a peer that went silent.

Redis going away never takes HTTP down: counters fall back to "changed" (caches read
the database on every request until Redis is back; a bump that failed is sent again
then), and the reader reconnects with backoff, subscribes again and tells every
subscriber of the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.kit.broker.fanout import RECONNECTED, Fanout, Message
from services.kit.broker.memory import ExpiringCounters

logger = logging.getLogger(__name__)

# How long a failed Redis call makes counters skip Redis before trying it again.
_OUTAGE_HOLD_SECONDS = 1.0
# How long a new subscription waits for Redis to confirm its channel.
_CONFIRM_SECONDS = 5.0
# How often channels no local subscriber wants any more are unsubscribed.
_IDLE_SWEEP_SECONDS = 30.0
_MAX_BACKOFF_SECONDS = 2.0
# The longest a SUBSCRIBE or UNSUBSCRIBE may take to be sent. CI once saw one never
# return (the pub/sub connection unsubscribed from everything, a subscription sent beside
# the reader's read): past this, the connection is dropped and the reader reconnects
# and subscribes every wanted channel again.
_SEND_SECONDS = 2.0
# The longest stop() waits for the reader to end (it reads for at most a second).
_STOP_SECONDS = 3.0


def _keepalive_options() -> dict[int, int]:
    """TCP keepalive that notices a silent peer in about 25 s (Linux names; elsewhere
    the system's defaults)."""
    wanted = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
    return {getattr(socket, k): v for k, v in wanted.items() if hasattr(socket, k)}


class _SubscribeFailed(RedisError):
    """A SUBSCRIBE could not be sent: the reader reconnects and subscribes again."""


class RedisBroker:
    def __init__(
        self, url: str, prefix: str, *, queue_limit: int = 100, max_connections: int = 64
    ) -> None:
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            max_connections=max_connections,
            socket_connect_timeout=2,
            socket_timeout=2,
        )
        # The subscription connection does not retry by itself: the reader does, and
        # knows then that events may have been missed.
        self._listen = Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=2,
            socket_keepalive=True,
            socket_keepalive_options=_keepalive_options(),
        )
        self._prefix = prefix
        self.fanout = Fanout(queue_limit)
        self._pubsub: PubSub | None = None
        self._requested: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._gap_pending: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._send_failed = False
        self._down_until = 0.0
        # Outage versions count down from far below anything a cache starts at (-1).
        self._outage_values = -(1 << 40)
        self._pending_bumps: set[str] = set()
        self._local_hits = ExpiringCounters()
        self._stopping = False

    # --- life --------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        await self._redis.ping()
        self._ensure_reader()

    async def stop(self) -> None:
        # The flag ends the reader at its next read (within a second) even if the
        # cancellation is lost: CI saw a reader cancelled during a read whose timeout
        # expired at the same moment go on reading, and stop() wait for it forever.
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(_STOP_SECONDS):
                    await self._reader
            self._reader = None
        await self._redis.aclose()
        await self._listen.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:  # readiness reports any failure as "not ready"
            return False

    @property
    def listening(self) -> bool:
        """Whether the subscription connection is up."""
        return self._pubsub is not None

    # --- events ------------------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message))

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """One pipeline (not a MULTI transaction): the messages in order, one round trip."""
        if not messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(self._prefix + channel, json.dumps(message))
            await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        self._ensure_reader()
        subscriber, _first = self.fanout.add(channel)
        try:
            confirmed = self._confirmed.setdefault(channel, asyncio.Event())
            if not confirmed.is_set():
                # Subscribed now, or by the reader as soon as it is connected. Redis
                # away: the stream starts unconfirmed and reads a gap once it is back.
                await self._request(channel)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_CONFIRM_SECONDS):
                        await confirmed.wait()
            yield subscriber
        finally:
            self.fanout.remove(subscriber)

    def subscribers(self, channel: str) -> int:
        """Local subscribers of `channel` in this process, once Redis confirmed it."""
        confirmed = self._confirmed.get(channel)
        return self.fanout.count(channel) if confirmed and confirmed.is_set() else 0

    async def _request(self, channel: str) -> None:
        pubsub = self._pubsub
        if pubsub is None or channel in self._requested:
            return  # the reader subscribes every channel when it (re)connects
        self._requested.add(channel)
        try:
            async with asyncio.timeout(_SEND_SECONDS):
                await pubsub.subscribe(self._prefix + channel)
        except Exception as error:  # TimeoutError included
            logger.warning("event broker could not subscribe %s: %s", channel, error)
            self._requested.discard(channel)
            self._send_failed = True  # the reader reconnects and subscribes everything

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="broker-reader")

    async def _read_forever(self) -> None:
        delay = 0.05
        lost = False
        while not self._stopping:
            pubsub = self._listen.pubsub()
            try:
                await pubsub.connect()  # type: ignore[no-untyped-call]
                self._requested.clear()
                self._send_failed = False
                for event in self._confirmed.values():
                    event.clear()
                self._pubsub = pubsub
                channels = list(self.fanout.channels())
                if lost:
                    self._gap_pending = set(channels)
                    logger.warning("event broker reconnected; %d channels", len(channels))
                lost = False
                if channels:
                    self._requested.update(channels)
                    async with asyncio.timeout(_SEND_SECONDS):
                        await pubsub.subscribe(*(self._prefix + c for c in channels))
                delay = 0.05
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # anything: the reader must never die silently
                if not lost:
                    unexpected = not isinstance(error, RedisError | OSError)
                    logger.warning("event broker connection lost: %s", error, exc_info=unexpected)
                lost = True
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_SECONDS)

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + _IDLE_SWEEP_SECONDS
        prefix = len(self._prefix)
        while not self._stopping:
            if self._send_failed:
                raise _SubscribeFailed("a subscription could not be sent")
            item = await pubsub.get_message(timeout=1.0)
            if item is not None:
                kind = item["type"]
                channel = item["channel"][prefix:]
                if kind == "message":
                    await self.fanout.deliver(channel, json.loads(item["data"]))
                elif kind == "subscribe":
                    self._confirmed.setdefault(channel, asyncio.Event()).set()
                    if channel in self._gap_pending:
                        self._gap_pending.discard(channel)
                        await self.fanout.deliver(channel, RECONNECTED)
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + _IDLE_SWEEP_SECONDS
                await self._unsubscribe_idle(pubsub)

    async def _unsubscribe_idle(self, pubsub: PubSub) -> None:
        idle = [c for c in self._requested if self.fanout.count(c) == 0]
        for channel in idle:
            self._requested.discard(channel)
            self._confirmed.pop(channel, None)
        if idle:
            try:
                async with asyncio.timeout(_SEND_SECONDS):
                    await pubsub.unsubscribe(*(self._prefix + c for c in idle))
            except TimeoutError:
                raise _SubscribeFailed("an unsubscription could not be sent") from None

    # --- counters ----------------------------------------------------------------------

    async def version(self, name: str) -> int:
        if self._down():
            return self._changed()
        try:
            value = await self._redis.get(f"{self._prefix}version:{name}")
            if self._pending_bumps:
                await self._send_pending_bumps()
        except (RedisError, OSError):
            self._went_down()
            return self._changed()
        return int(value or 0)

    async def bump(self, name: str) -> int:
        try:
            return int(await self._redis.incr(f"{self._prefix}version:{name}"))
        except (RedisError, OSError):
            # The change is committed; other processes learn of it when Redis is back.
            self._pending_bumps.add(name)
            self._went_down()
            return self._changed()

    async def hit(self, name: str, ttl_seconds: int) -> int:
        """INCR with the expiry set on the first hit, in one round trip. While Redis is
        down the count is this process's own (a limit per process rather than none)."""
        key = f"{self._prefix}hits:{name}"
        if not self._down():
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.set(key, 0, ex=ttl_seconds, nx=True)  # the expiry, on the first hit
                    pipe.incr(key)
                    _, count = await pipe.execute()
                return int(count)
            except (RedisError, OSError):
                self._went_down()
        return self._local_hits.hit(name, ttl_seconds)

    async def _send_pending_bumps(self) -> None:
        for name in sorted(self._pending_bumps):
            await self._redis.incr(f"{self._prefix}version:{name}")
            self._pending_bumps.discard(name)

    def _down(self) -> bool:
        return asyncio.get_running_loop().time() < self._down_until

    def _went_down(self) -> None:
        self._down_until = asyncio.get_running_loop().time() + _OUTAGE_HOLD_SECONDS

    def _changed(self) -> int:
        """A version no cache holds: while Redis is away every cache reads the database."""
        self._outage_values -= 1
        return self._outage_values

    async def delete_prefix(self) -> None:
        """Remove every key of this prefix (tests clean up after themselves)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*"):
            await self._redis.delete(key)
