"""The embedded broker: one process, no services."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from services.kit.broker.fanout import Fanout, Message


class InProcessBroker:
    """Publishing hands the message to the local fan-out; counters live in a dict."""

    def __init__(self, *, queue_limit: int = 100) -> None:
        self.fanout = Fanout(queue_limit)
        self._versions: dict[str, int] = defaultdict(int)
        self._counters = ExpiringCounters()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.fanout.deliver(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for channel, message in messages:
            await self.fanout.deliver(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        subscriber, _first = self.fanout.add(channel)
        try:
            yield subscriber
        finally:
            self.fanout.remove(subscriber)

    def subscribers(self, channel: str) -> int:
        return self.fanout.count(channel)

    async def version(self, name: str) -> int:
        return self._versions[name]

    async def bump(self, name: str) -> int:
        self._versions[name] += 1
        return self._versions[name]

    async def hit(self, name: str, ttl_seconds: int) -> int:
        return self._counters.hit(name, ttl_seconds)


class ExpiringCounters:
    """Counters that vanish `ttl` seconds after their first hit (monotonic time)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._counts: dict[str, tuple[float, int]] = {}
        self._limit = limit

    def hit(self, name: str, ttl_seconds: int) -> int:
        now = time.monotonic()
        ends, count = self._counts.get(name, (0.0, 0))
        if ends <= now:
            if len(self._counts) >= self._limit:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            ends, count = now + ttl_seconds, 0
        self._counts[name] = (ends, count + 1)
        return count + 1
