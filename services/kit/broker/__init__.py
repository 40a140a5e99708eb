"""Publish/subscribe and shared counters: in-process by default, Redis when REDIS_URL is set.

Channels carry JSON objects. A subscription reads them in order, or a `Gap` where some
may have been missed (it fell behind, or the broker reconnected): then the subscriber
reads the current state again. Every process receives each event once and fans it out
to its own subscribers (`fanout`). Counters (`version`/`bump`) let every process see that
a cache it holds is stale on its very next request, with one cheap read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from services.kit.broker.fanout import RECONNECTED, SLOW_CONSUMER, Gap, Message
from services.kit.broker.memory import InProcessBroker
from services.kit.broker.redis import RedisBroker
from services.kit.settings import Settings

__all__ = [
    "RECONNECTED",
    "SLOW_CONSUMER",
    "Broker",
    "Gap",
    "InProcessBroker",
    "Message",
    "RedisBroker",
    "get_broker",
    "make_broker",
    "set_broker",
]


class Broker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> bool: ...
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Publish (channel, message) pairs in their order, in one round trip."""
        ...

    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]: ...
    def subscribers(self, channel: str) -> int: ...
    async def version(self, name: str) -> int: ...
    async def bump(self, name: str) -> int: ...
    async def hit(self, name: str, ttl_seconds: int) -> int:
        """Add one to a counter that disappears `ttl_seconds` after its first hit; the
        new value (rate limits and quotas shared by every process)."""
        ...


_broker: Broker | None = None


def make_broker(settings: Settings) -> Broker:
    queue_limit = settings.subscription_queue_limit
    if settings.redis_url:
        return RedisBroker(
            settings.redis_url,
            settings.redis_prefix,
            queue_limit=queue_limit,
            max_connections=settings.redis_max_connections,
        )
    return InProcessBroker(queue_limit=queue_limit)


def set_broker(broker: Broker | None) -> None:
    global _broker
    _broker = broker


def get_broker() -> Broker:
    """The process's broker; an in-process one until the app or CLI installs another."""
    global _broker
    if _broker is None:
        _broker = InProcessBroker()
    return _broker
