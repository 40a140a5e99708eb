"""The dashboard feed (services/analytics/dashboard_feed.py) with scripted readings in
place of the SQL: one producer for every watcher, a push only when a figure moved, the
newest reading (not a queue) for a watcher that fell behind, the risk part reused
between refreshes, a failing reading logged once, and nothing left running when the last
watcher goes. The tick is shortened to 10 ms; nothing here reads a clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.analytics import dashboard, dashboard_feed
from services.analytics.dashboard import DashboardFigures, SlowFigures
from services.analytics.dashboard_feed import DashboardFeed
from services.cases.figures import ComplaintFigures

pytestmark = pytest.mark.asyncio(loop_scope="session")

TODAY = date(2026, 12, 3)
TIMEOUT = 10


def _figures(bids: int, moment: int = 0) -> DashboardFigures:
    return DashboardFigures(
        business_time=datetime(2026, 12, 3, tzinfo=UTC) + timedelta(seconds=moment),
        today=TODAY,
        volume_today=0,
        loans_disbursed_today=0,
        bids_last_minute=bids,
        bid_amount_last_minute=bids * 10_000,
        hot_loans=(),
        overdue=(),
        vintages=(),
        complaints=ComplaintFigures(
            open=0, breaching=0, opened_today=0, average_first_answer_seconds=None
        ),
    )


class Script:
    """Stands in for `dashboard.compute`: reading n (from 1) is `figures_for(n)`."""

    def __init__(self, figures_for: Callable[[int], DashboardFigures]) -> None:
        self.figures_for = figures_for
        self.calls: list[SlowFigures | None] = []  # the `slow` each reading was given

    async def __call__(self, actor: Any, slow: SlowFigures | None = None) -> DashboardFigures:
        self.calls.append(slow)
        return self.figures_for(len(self.calls))


@pytest.fixture
def fast_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_feed, "TICK_SECONDS", 0.01)


def _script(monkeypatch: pytest.MonkeyPatch, figures_for: Callable[[int], Any]) -> Script:
    script = Script(figures_for)
    monkeypatch.setattr(dashboard, "compute", script)
    return script


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def _next(readings: AsyncIterator[DashboardFigures]) -> DashboardFigures:
    async with asyncio.timeout(TIMEOUT):
        return await anext(readings)


@pytest.mark.usefixtures("fast_tick")
async def test_every_watcher_reads_from_one_producer(monkeypatch):
    script = _script(monkeypatch, lambda n: _figures(bids=n, moment=n))
    feed = DashboardFeed()
    async with feed.join() as first, feed.join() as second:
        one, two = await _next(first), await _next(second)
        assert one is two  # the same reading, not one each
        await _until(lambda: len(script.calls) >= 5)
        assert feed.watchers == 2
        assert feed.rounds == len(script.calls)
        producers = [t for t in asyncio.all_tasks() if t.get_name() == "dashboard-feed"]
        assert len(producers) == 1


@pytest.mark.usefixtures("fast_tick")
async def test_a_reading_equal_to_the_last_is_not_pushed(monkeypatch):
    # Readings 1-5 equal (read at five moments), the sixth with one more bid.
    script = _script(monkeypatch, lambda n: _figures(bids=1 if n <= 5 else 2, moment=n))
    feed = DashboardFeed()
    async with feed.join() as readings:
        first = await _next(readings)
        second = await _next(readings)
        assert (first.bids_last_minute, second.bids_last_minute) == (1, 2)
        assert len(script.calls) >= 6
        # The first reading's moment: the four equal readings after it were not sent.
        assert first.business_time == datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC)
        assert feed.version == 2


@pytest.mark.usefixtures("fast_tick")
async def test_a_watcher_that_fell_behind_gets_the_newest_reading(monkeypatch):
    script = _script(monkeypatch, lambda n: _figures(bids=n))
    feed = DashboardFeed()
    async with feed.join() as readings:
        assert (await _next(readings)).bids_last_minute >= 1
        await _until(lambda: len(script.calls) >= 10)  # nine changes it did not read
        newest = feed.version
        reading = await _next(readings)
        # Not the next in line: the last one made, at once.
        assert reading.bids_last_minute == newest == len(script.calls)


@pytest.mark.usefixtures("fast_tick")
async def test_the_risk_part_is_reused_until_its_refresh(monkeypatch):
    script = _script(monkeypatch, lambda n: _figures(bids=n))
    feed = DashboardFeed()
    async with feed.join():
        await _until(lambda: len(script.calls) >= 3)
    assert script.calls[0] is None
    assert script.calls[1:3] == [SlowFigures(TODAY, (), ()), SlowFigures(TODAY, (), ())]

    monkeypatch.setattr(dashboard_feed, "SLOW_REFRESH_SECONDS", 0.0)
    again = _script(monkeypatch, lambda n: _figures(bids=n))
    async with feed.join():
        await _until(lambda: len(again.calls) >= 3)
    assert again.calls[:3] == [None, None, None]


@pytest.mark.usefixtures("fast_tick")
async def test_the_last_watcher_to_leave_stops_the_feed_and_its_figures(monkeypatch):
    _script(monkeypatch, lambda n: _figures(bids=n))
    feed = DashboardFeed()
    async with feed.join() as readings:
        async with feed.join():
            pass
        assert feed.running  # one is still watching
        before = await _next(readings)
    assert (feed.watchers, feed.running) == (0, False)

    async with feed.join() as readings:
        after = await _next(readings)
    # A fresh reading for the new watcher, not the one left from before.
    assert after.bids_last_minute > before.bids_last_minute
    assert not feed.running


@pytest.mark.usefixtures("fast_tick")
async def test_a_failing_reading_is_logged_once_and_the_feed_goes_on(monkeypatch, caplog):
    def figures_for(n: int) -> DashboardFigures:
        if n <= 3:
            raise RuntimeError("database away")
        return _figures(bids=7)

    _script(monkeypatch, figures_for)
    feed = DashboardFeed()
    with caplog.at_level(logging.ERROR, logger=dashboard_feed.__name__):
        async with feed.join() as readings:
            reading = await _next(readings)
    assert reading.bids_last_minute == 7
    failures = [r for r in caplog.records if r.name == dashboard_feed.__name__]
    assert [r.getMessage() for r in failures] == ["reading the dashboard figures failed"]
