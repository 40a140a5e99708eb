"""The live dashboard's figures, read once per process however many staff watch them.

One producer task per process runs while at least one subscriber watches: every
`TICK_SECONDS` it reads the figures (`dashboard.compute`) and, when they differ from the
last reading (the moment of reading aside), makes them the newest value and wakes the
subscribers. A hundred staff dashboards cost one reading a second, not a hundred, and
the last one to leave stops the task. Readings start at least `TICK_SECONDS` apart, so
subscribers are pushed at most once a second; a slow reading delays the next one.

Nothing is queued per subscriber: each holds the version it last sent, and when it is
ready for more it takes the newest value, skipping any it was too slow to send (a
dashboard wants the present, not the history). The risk part of a reading (overdue by
bucket, vintage curves: the heavy SQL on a large book, and figures that move by the
day) is read again every `SLOW_REFRESH_SECONDS`, and at once when the business day
changes; the rest every tick.

Why a tick and not the broker's events: bids and disbursements are published per loan
(`loan.<id>.progress`), and "bids in the last minute" also changes as time passes with
no event at all. A reading is a few indexed aggregates, and none runs while nobody
watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator

from services.analytics import dashboard
from services.analytics.dashboard import DashboardFigures, SlowFigures
from services.identity.permissions import Actor, Permission

logger = logging.getLogger(__name__)

#: Least time between two readings (and so between two pushes), in seconds.
TICK_SECONDS = 1.0
#: How long the risk part of a reading is reused, in seconds.
SLOW_REFRESH_SECONDS = 10.0

# Whom the producer reads as: subscribers were checked for analytics:read when they
# subscribed (and their connection closes when they lose it: app/live.py).
READER = Actor(
    kind="staff", label="dashboard feed", permissions=frozenset({Permission.ANALYTICS_READ})
)


class DashboardFeed:
    """The producer and the newest reading of one process."""

    def __init__(self) -> None:
        self._latest: DashboardFigures | None = None
        self._version = 0
        self._changed: asyncio.Event | None = None
        self._watchers = 0
        self._task: asyncio.Task[None] | None = None
        self._slow: SlowFigures | None = None
        self._slow_read_at = -math.inf
        self.rounds = 0  # readings taken (computed) since the process started

    @property
    def watchers(self) -> int:
        """Subscribers watching now."""
        return self._watchers

    @property
    def version(self) -> int:
        """Readings published (each differing from the one before) since the process
        started."""
        return self._version

    @property
    def running(self) -> bool:
        """Whether a producer task is reading now."""
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def join(self) -> AsyncIterator[AsyncIterator[DashboardFigures]]:
        """Watch the figures: the newest reading at once (or as soon as there is one),
        then each newer one when it is ready to be sent."""
        self._watchers += 1
        if self._task is None:
            self._changed = asyncio.Event()
            self._task = asyncio.create_task(self._produce(), name="dashboard-feed")
        try:
            yield self._readings()
        finally:
            self._watchers -= 1
            if not self._watchers:
                self._stop()

    async def _readings(self) -> AsyncIterator[DashboardFigures]:
        seen = 0
        while True:
            changed = self._changed
            if self._latest is not None and self._version > seen:
                seen = self._version
                yield self._latest
            elif changed is None:  # stopped under us (the last watcher left)
                return
            else:
                await changed.wait()

    def _stop(self) -> None:
        """No one watches: stop reading and forget what was read (the next watcher
        starts from a fresh reading, not one of a minute ago)."""
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self._latest = None
        self._slow = None
        self._slow_read_at = -math.inf
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        failing = False
        while True:
            started = loop.time()
            try:
                figures = await self._read(started)
            except Exception:  # a bad reading must not stop the feed: try again next tick
                if not failing:
                    logger.exception("reading the dashboard figures failed")
                failing = True
            else:
                failing = False
                if self._task is me:
                    self._publish(figures)
            await asyncio.sleep(max(0.0, TICK_SECONDS - (loop.time() - started)))

    async def _read(self, started: float) -> DashboardFigures:
        fresh = started - self._slow_read_at < SLOW_REFRESH_SECONDS
        slow = self._slow if fresh else None
        self.rounds += 1
        figures = await dashboard.compute(READER, slow)
        if slow is None or figures.today != slow.today:
            self._slow_read_at = started
        self._slow = SlowFigures(figures.today, figures.overdue, figures.vintages)
        return figures

    def _publish(self, figures: DashboardFigures) -> None:
        if figures == self._latest:
            return
        self._latest = figures
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()


#: The process's feed (the `dashboardFigures` subscription reads it).
FEED = DashboardFeed()
