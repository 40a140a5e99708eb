"""Publish/subscribe and shared counters: in-process by default, Redis when REDIS_URL is set.

Channels carry JSON objects. Counters (`version`/`bump`) let every process see that a
cache it holds is stale on its very next request, with one cheap read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from services.kit.settings import Settings


class Broker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> bool: ...
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...
    async def version(self, name: str) -> int: ...
    async def bump(self, name: str) -> int: ...


class InProcessBroker:
    """One process, no services: queues per subscriber, counters in a dict."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._versions: dict[str, int] = defaultdict(int)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers[channel].add(queue)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subscribers[channel].discard(queue)

    async def version(self, name: str) -> int:
        return self._versions[name]

    async def bump(self, name: str) -> int:
        self._versions[name] += 1
        return self._versions[name]


class RedisBroker:
    """Redis pub/sub and INCR counters through `redis.asyncio`; every key is prefixed."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    async def start(self) -> None:
        await self._redis.ping()

    async def stop(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:  # readiness reports any failure as "not ready"
            return False

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._prefix + channel)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    yield json.loads(item["data"])

        try:
            yield messages()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            # redis-py leaves PubSub.aclose unannotated: give the call its real signature.
            aclose: Callable[[], Awaitable[None]] = pubsub.aclose
            await aclose()

    async def version(self, name: str) -> int:
        value = await self._redis.get(f"{self._prefix}version:{name}")
        return int(value or 0)

    async def bump(self, name: str) -> int:
        return int(await self._redis.incr(f"{self._prefix}version:{name}"))

    async def delete_prefix(self) -> None:
        """Remove every key of this prefix (tests clean up after themselves)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*"):
            await self._redis.delete(key)


_broker: Broker | None = None


def make_broker(settings: Settings) -> Broker:
    if settings.redis_url:
        return RedisBroker(settings.redis_url, settings.redis_prefix)
    return InProcessBroker()


def set_broker(broker: Broker | None) -> None:
    global _broker
    _broker = broker


def get_broker() -> Broker:
    """The process's broker; an in-process one until the app or CLI installs another."""
    global _broker
    if _broker is None:
        _broker = InProcessBroker()
    return _broker
