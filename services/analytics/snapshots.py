"""The daily figure snapshots (issue 19): each closed business day's platform figures,
risk figures and platform-wide returns, computed once the day after and stored
(`figure_snapshots`), so that a question about a closed day reads one row instead of
the book (over a 100,000-loan year: milliseconds instead of 1-4 s,
docs/analytics-bench.md).

The `analytics_snapshots` job (`services.jobs.analytics`) runs once a business day and
takes every closed day of the last `CATCH_UP_DAYS` that has none yet, oldest first, and
never a day before the platform's first. A day's figures are computed as the queries
compute them (the same functions, as of the end of that day), so the snapshot and a
live answer for the day are the same; they are final because every row they read is
dated on or before the day. Run twice for a day, the job stores nothing more: the day
is taken already, and (`day`, `figure`) is unique for a second worker racing it.

Today is never snapshotted: it is not over. Its figures are computed live, and so are
closed days older than the job has reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.analytics import figures, returns, risk, snapshot_store
from services.analytics.window import Window, first_day
from services.platform import clock

#: How many closed days back each run looks for days without a snapshot.
CATCH_UP_DAYS = 7

_FIGURES = (figures.SNAPSHOT, risk.SNAPSHOT, returns.SNAPSHOT)


@dataclass(frozen=True)
class Taken:
    days: list[date]

    @property
    def summary(self) -> str:
        if not self.days:
            return "no day to snapshot"
        return f"figures of {len(self.days)} day(s) stored: " + ", ".join(
            d.isoformat() for d in self.days
        )


async def take_day(day: date) -> bool:
    """Compute and store the three figures as of the end of `day` (a closed day); False
    when they were all there already."""
    first = await first_day(day)
    window = Window(as_of=day, since=max(day.replace(day=1), first), closed=True)
    now = await clock.now()
    wrote = False
    taken = {f for f in _FIGURES if await snapshot_store.stored_on(f, day)}
    if figures.SNAPSHOT not in taken:
        platform = await figures.compute(window)
        wrote |= await snapshot_store.store(figures.SNAPSHOT, day, platform, now)
    if risk.SNAPSHOT not in taken:
        wrote |= await snapshot_store.store(risk.SNAPSHOT, day, await risk.compute(window), now)
    if returns.SNAPSHOT not in taken:
        pooled = await returns.compute(None, day)
        wrote |= await snapshot_store.store(returns.SNAPSHOT, day, pooled, now)
    return wrote


async def take_missing() -> Taken:
    """Snapshot every closed day of the last `CATCH_UP_DAYS` that lacks one, oldest first
    (the job's run)."""
    today = await clock.today()
    first = await first_day(today)
    since = max(first, today - timedelta(days=CATCH_UP_DAYS))
    until = today - timedelta(days=1)
    if until < since:
        return Taken([])
    complete = None
    for figure in _FIGURES:
        days = await snapshot_store.days_taken(figure, since, until)
        complete = days if complete is None else complete & days
    done: list[date] = []
    day = since
    while day <= until:
        if day not in (complete or set()) and await take_day(day):
            done.append(day)
        day += timedelta(days=1)
    return Taken(done)
