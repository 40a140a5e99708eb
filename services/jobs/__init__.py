"""Periodic jobs, on any number of processes.

The same job functions run in the embedded loop (the API process, the default) or in
job worker processes (`python -m app worker`, API processes then with
JOBS_EMBEDDED=false); as many workers as wanted, and any of them may die.

The schedule lives in the database (`scheduled_jobs`, one row per job): when the job is
next due, and a lease. Each process looks every tick; one that finds a job due and
nobody holding it (or the holder's lease run out) takes the lease by a compare-and-set
UPDATE on what it read, so of several processes one wins. It runs the job renewing the
lease every third of its length (`JOB_LEASE_SECONDS`, 60 s), then sets the next due time
(started + the job's period) and lets go. If the process dies while it runs (kill -9,
power cut), the lease is no longer renewed and, once it has run out, the next process
to look takes the job over (`taken_over` counts it) and runs it from the start. The
jobs are idempotent (each one's module says how), so a job cut off half-way and run
again does what is left, once. A failing job is logged and tried again after its
period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from models.system import ScheduledJob
from services.jobs.registry import Job, _jobs
from services.kit.settings import get_settings
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

# This process, as the holder of a lease.
HOLDER = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def registered() -> dict[str, Job]:
    from services.jobs import (  # noqa: F401  (register jobs)
        analytics,
        cases,
        contracts,
        credit,
        disclosure,
        housekeeping,
        loans,
        reconciliation,
        repayments,
        retention,
        transfers,
    )

    return _jobs


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().job_lease_seconds)


async def _ensure_schedule(jobs: dict[str, Job], now: datetime) -> None:
    """A row for every registered job, due at once when new (several processes may add
    one at the same moment: one insert wins)."""
    known = set(await ScheduledJob.all().values_list("name", flat=True))
    for name in jobs.keys() - known:
        with contextlib.suppress(IntegrityError):
            await ScheduledJob.create(name=name, next_due_at=now)


async def _take(name: str, now: datetime, *, ahead: timedelta = timedelta(0)) -> bool:
    """Take the job's lease if it is due and free (or its holder's lease ran out).
    `ahead`: take it that much before it is due (the dev clock's day run, for which a
    day passes at once: `services.jobs.days`)."""
    row = await ScheduledJob.get_or_none(name=name)
    if row is None or row.next_due_at > now + ahead:
        return False
    if row.holder is not None and row.lease_until is not None and row.lease_until >= now:
        return False
    # Compare-and-set on what was read: of several processes, one changes the row.
    taken = await ScheduledJob.filter(
        name=name,
        next_due_at=row.next_due_at,
        holder=row.holder,
        lease_until=row.lease_until,
    ).update(
        holder=HOLDER,
        lease_until=now + _lease(),
        started_at=now,
        taken_over=F("taken_over") + (1 if row.holder is not None else 0),
    )
    if taken and row.holder is not None:
        logger.warning("job %s taken over from %s, whose lease ran out", name, row.holder)
    return bool(taken)


async def _renew(name: str) -> None:
    """Keep the lease while the job runs."""
    lease = _lease()
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        kept = await ScheduledJob.filter(name=name, holder=HOLDER).update(
            lease_until=system_now() + lease
        )
        if not kept:
            logger.error("job %s: lease lost while running (another process took it)", name)
            return


async def _finish(job: Job, started: datetime, error: str | None) -> None:
    changes: dict[str, object] = {
        "holder": None,
        "lease_until": None,
        "finished_at": system_now(),
        "next_due_at": started + timedelta(seconds=job.every_seconds),
        "runs": F("runs") + 1,
    }
    if error is not None:
        changes["failures"] = F("failures") + 1
        changes["last_error"] = error[:255]
    if not await ScheduledJob.filter(name=job.name, holder=HOLDER).update(**changes):
        logger.error("job %s finished after its lease was taken over", job.name)


async def run_due(now: datetime | None = None) -> list[str]:
    """Run every job that is due and that no other process is running; the names run.
    `now` (default: the wall clock) is when this tick looks."""
    now = now or system_now()
    jobs = registered()
    await _ensure_schedule(jobs, now)
    ran = []
    for job in jobs.values():
        if not await _take(job.name, now):
            continue
        _result, failure = await _run_leased(job, now)
        if failure is None:
            ran.append(job.name)
    return ran


async def _run_leased(job: Job, started: datetime) -> tuple[object, Exception | None]:
    """Run `job`, whose lease this process has just taken, renewing the lease while it
    runs, then set its next due time (`started` + its period) and let go. Returns what
    the job returned, or the exception it raised (logged, counted in `failures`)."""
    renewal = asyncio.create_task(_renew(job.name), name=f"job-lease-{job.name}")
    result: object = None
    failure: Exception | None = None
    try:
        result = await job.run()
    except Exception as error:
        logger.exception("job %s failed", job.name)
        failure = error
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
    await _finish(job, started, None if failure is None else describe_failure(failure))
    return result, failure


def describe_failure(failure: Exception) -> str:
    """How a failed run is recorded (`scheduled_jobs.last_error`)."""
    return f"{type(failure).__name__}: {failure}"


async def run_loop(stop: asyncio.Event, tick_seconds: float = 30.0) -> None:
    while not stop.is_set():
        try:
            await run_due()
        except Exception:  # the database away for a moment: look again next tick
            logger.exception("looking for due jobs failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick_seconds)
        except TimeoutError:
            pass
