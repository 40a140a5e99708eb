"""Local fan-out: one process's subscribers by channel, each with a bounded queue.

A broker receives each event once per process (one Redis connection, or the in-process
publisher) and hands the same decoded message to every local subscriber of its channel:
nothing is decoded or copied per subscriber, so messages are read-only to them.

A subscriber that falls behind by more than its queue holds loses its oldest events and
is told so: the next thing it reads is a `Gap`, then the newest events in order. A
broker that lost its connection tells every subscriber the same way once it is back.

A channel with thousands of subscribers is handed an event `DELIVERY_BATCH` subscribers
per turn of the event loop (`push_paced`): each turn wakes that many senders, then the
loop serves whatever else is waiting (HTTP requests above all) before the next batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Gap:
    """Events of this channel may have been missed here: read the current state again."""

    reason: str


SLOW_CONSUMER = Gap("slow consumer: the oldest events were dropped")
RECONNECTED = Gap("the event broker reconnected: events may have been missed")

Message = dict[str, Any] | Gap

# Subscribers woken per turn of the event loop when one event goes to many of them.
DELIVERY_BATCH = 50


class Subscriber:
    """One subscription's queue: at most `limit` messages wait; when full, the oldest
    goes and a `Gap` is read before what is left."""

    __slots__ = ("_gap_first", "_items", "_limit", "_wake", "channel")

    def __init__(self, channel: str, limit: int) -> None:
        self.channel = channel
        self._limit = max(1, limit)
        self._items: deque[Message] = deque()
        self._gap_first: Gap | None = None
        self._wake = asyncio.Event()

    def push(self, message: Message) -> None:
        if len(self._items) >= self._limit:
            self._items.popleft()
            self._gap_first = SLOW_CONSUMER
        self._items.append(message)
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._items)

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._gap_first is not None:
                gap, self._gap_first = self._gap_first, None
                return gap
            if self._items:
                return self._items.popleft()
            self._wake.clear()
            await self._wake.wait()


class Fanout:
    """Subscribers by channel. Channels without subscribers are forgotten at once."""

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self._channels: dict[str, set[Subscriber]] = {}

    def add(self, channel: str) -> tuple[Subscriber, bool]:
        """A new subscriber, and whether it is the channel's first here."""
        subscriber = Subscriber(channel, self.queue_limit)
        members = self._channels.get(channel)
        first = members is None
        if members is None:
            members = self._channels[channel] = set()
        members.add(subscriber)
        return subscriber, first

    def remove(self, subscriber: Subscriber) -> bool:
        """Forget a subscriber; True when its channel has none left here."""
        members = self._channels.get(subscriber.channel)
        if members is None:
            return True
        members.discard(subscriber)
        if not members:
            del self._channels[subscriber.channel]
            return True
        return False

    async def deliver(self, channel: str, message: Message) -> int:
        """Hand `message` to every subscriber of `channel`, a batch per turn of the
        event loop; how many there were."""
        members = self._channels.get(channel)
        if not members:
            return 0
        return await push_paced(list(members), message)

    def gap_all(self, gap: Gap) -> None:
        """Tell every subscriber that events may have been missed."""
        for members in self._channels.values():
            for subscriber in members:
                subscriber.push(gap)

    def count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def channels(self) -> Iterator[str]:
        return iter(list(self._channels))

    @property
    def subscribers(self) -> int:
        return sum(len(members) for members in self._channels.values())


async def push_paced(subscribers: Iterable[Subscriber], message: Message) -> int:
    """Push `message` to each of `subscribers`, handing the event loop back after every
    `DELIVERY_BATCH` of them (the woken senders run then, and other work between
    batches); how many there were. A subscriber gone meanwhile is pushed to harmlessly."""
    count = 0
    for subscriber in subscribers:
        subscriber.push(message)
        count += 1
        if count % DELIVERY_BATCH == 0:
            await asyncio.sleep(0)
    return count
