"""Moving the business clock runs the days it passes (dev and test: `devAdvanceClock`).

`advance_clock(days=N)` moves business time one day at a time; after each day it runs
that day's periodic jobs, in `DAY_ORDER`, at that day's business time, through the
scheduler's own machinery (`services.jobs`): the job's row in `scheduled_jobs`, its
lease taken by the scheduler's compare-and-set, renewed while it runs, and its next due
time set when it is done. So a job is never run twice at once, whether the other runner
is a worker's scheduler loop, the API's embedded loop or another `devAdvanceClock`, and
the once-only keys the jobs keep (the overdue run per day, the auto-debit per
installment and day, reconciliation per day) make a second run change nothing.

Which jobs a day runs: a day of business time passes at once for the schedule too, so
each job due within a day of now runs: every job, as none has a period over a day. A
job with a longer period has its next due time brought a day nearer instead, and runs
on the day it falls due.

A job held by another process is waited for (up to one lease, `JOB_LEASE_SECONDS`),
then run for the new day; still held by then, it is reported BUSY. A job that fails is
reported FAILED with its error code, counted in its row like any failure, and the other
jobs and days run on: the clock always ends where asked. Two moves at once are taken in
turn (a lease on the row `ADVANCE_ROW`), so no day is passed without its jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise.exceptions import IntegrityError

from models.system import ScheduledJob
from services import jobs
from services.errors import DomainError
from services.jobs.registry import Job
from services.platform import clock
from services.platform.clock import system_now

DAY = timedelta(days=1)

# The order of a day's jobs. Loans first (listings whose window closed fail, full ones
# are paid out), then the auto-debit of the installments due today before the overdue
# run (which warns about installments due soon: not about one just paid), then the
# reconciliation of yesterday, credit, e-mails and housekeeping; last yesterday's figure
# snapshots, before the monthly disclosure that reads them. Jobs not named here
# run after these, in the order they registered.
DAY_ORDER = (
    "loans_fail_expired_listings",
    "loans_disburse_full",
    "repayments_auto_debit",
    "repayments_overdue_daily",
    "daily_reconciliation",
    "credit_temporary_limits",
    "credit_policy_reevaluation",
    "contract_emails",
    "purge_expired_credentials",
    "purge_published_outbox",
    "analytics_snapshots",
    "publish_disclosure",
)

# What the count (or list) a job returns is of, for the summary.
LABELS = {
    "loans_fail_expired_listings": "listings failed",
    "loans_disburse_full": "loans paid out",
    "repayments_auto_debit": "installments paid",
    "credit_temporary_limits": "temporary limits ended",
    "credit_policy_reevaluation": "profiles re-scored",
    "contract_emails": "contract e-mails sent",
    "purge_published_outbox": "outbox events deleted",
    "daily_reconciliation": "days reconciled",
    "transfers_end_listings": "listings ended",
}
# A date inside a dataclass's repr (the overdue run's report), shown as ISO.
_DATE_REPR = re.compile(r"datetime\.date\((\d+), (\d+), (\d+)\)")

# The row in `scheduled_jobs` whose lease a move of the clock holds (no job has it).
ADVANCE_ROW = "dev_advance_clock"
# How often a runner waiting for a lease looks again.
POLL_SECONDS = 0.05


class Outcome(enum.StrEnum):
    DONE = "DONE"
    FAILED = "FAILED"
    BUSY = "BUSY"


@dataclass(frozen=True)
class JobRun:
    day: date
    job: str
    outcome: Outcome
    summary: str
    error_code: str | None
    started_at: datetime  # business time


@dataclass(frozen=True)
class ClockAdvance:
    from_day: date
    now: datetime  # business time at the end
    runs: list[JobRun]


def ordered(registered: Mapping[str, Job]) -> list[Job]:
    """The registered jobs in the order a day runs them."""
    first = [registered[name] for name in DAY_ORDER if name in registered]
    return first + [job for name, job in registered.items() if name not in DAY_ORDER]


def summarize(job: str, result: object) -> str:
    """A line saying what a job did, from what it returned."""
    if result is None:
        return "done"
    if isinstance(result, bool):
        return "yes" if result else "no"
    if isinstance(result, int):
        return f"{LABELS.get(job, 'count')}: {result}"
    if isinstance(result, str):
        return _DATE_REPR.sub(lambda found: date(*map(int, found.groups())).isoformat(), result)
    if isinstance(result, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in result.items()) or "nothing"
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = dataclasses.asdict(result)
        return ", ".join(f"{key}: {value}" for key, value in fields.items())
    if isinstance(result, Sequence):
        listed = ", ".join(str(item) for item in result) or "none"
        return f"{LABELS[job]}: {listed}" if job in LABELS else listed
    return str(result)


def _held(row: ScheduledJob, now: datetime) -> bool:
    return row.holder is not None and row.lease_until is not None and row.lease_until >= now


async def _claim(job: Job) -> bool | None:
    """Take `job`'s lease for the day just passed: True when taken; False when it is not
    due within the day (its next due time is brought a day nearer); None when another
    runner still holds it after a lease's length of waiting."""
    deadline = system_now() + jobs._lease()
    while True:
        now = system_now()
        row = await ScheduledJob.get_or_none(name=job.name)
        if row is None:
            with contextlib.suppress(IntegrityError):
                await ScheduledJob.create(name=job.name, next_due_at=now)
            continue
        if _held(row, now):
            # Running elsewhere (maybe for the day before): wait, then run it for today.
            if now > deadline:
                return None
            await asyncio.sleep(POLL_SECONDS)
            continue
        if row.next_due_at - DAY > now:
            # Compare-and-set: a runner that took it meanwhile sets its own next time.
            if await ScheduledJob.filter(
                name=job.name, next_due_at=row.next_due_at, holder=None
            ).update(next_due_at=row.next_due_at - DAY):
                return False
            continue
        if await jobs._take(job.name, now, ahead=DAY):
            return True


async def _run_day(day: date, registered: Mapping[str, Job]) -> list[JobRun]:
    runs = []
    for job in ordered(registered):
        claimed = await _claim(job)
        if claimed is False:
            continue
        started_at = await clock.now()
        if claimed is None:
            runs.append(
                JobRun(
                    day=day,
                    job=job.name,
                    outcome=Outcome.BUSY,
                    summary="still held by another process after one lease: not run",
                    error_code="JOB_BUSY",
                    started_at=started_at,
                )
            )
            continue
        result, failure = await jobs._run_leased(job, system_now())
        if failure is None:
            runs.append(
                JobRun(
                    day=day,
                    job=job.name,
                    outcome=Outcome.DONE,
                    summary=summarize(job.name, result),
                    error_code=None,
                    started_at=started_at,
                )
            )
        else:
            runs.append(
                JobRun(
                    day=day,
                    job=job.name,
                    outcome=Outcome.FAILED,
                    summary=jobs.describe_failure(failure)[:255],
                    error_code=failure.code if isinstance(failure, DomainError) else "JOB_FAILED",
                    started_at=started_at,
                )
            )
    return runs


async def _hold_advance() -> None:
    """Take the lease of a move of the clock, waiting up to a lease for one under way;
    DomainError(BUSY) when it is still going then."""
    deadline = system_now() + jobs._lease()
    while True:
        now = system_now()
        if not await ScheduledJob.exists(name=ADVANCE_ROW):
            with contextlib.suppress(IntegrityError):
                await ScheduledJob.create(name=ADVANCE_ROW, next_due_at=now)
        if await jobs._take(ADVANCE_ROW, now):
            return
        if now > deadline:
            raise DomainError(
                "Another move of the clock is running its days' jobs; try again when it ends",
                code="BUSY",
            )
        await asyncio.sleep(POLL_SECONDS)


async def _let_go_advance() -> None:
    await ScheduledJob.filter(name=ADVANCE_ROW, holder=jobs.HOLDER).update(
        holder=None, lease_until=None, finished_at=system_now(), next_due_at=system_now()
    )


async def advance_clock(*, days: int) -> ClockAdvance:
    """Move business time forward by `days` whole days (dev and test only), running
    after each day every periodic job due in it, in `DAY_ORDER`, at that day's business
    time; returns what ran, day by day. A failing job is reported (FAILED, its error
    code) and the rest run on; if this runner itself fails (the database away), the
    clock is still moved the days left, their jobs left to the scheduler.

    Raises DomainError(FORBIDDEN) outside dev/test, DomainError(INVALID, field days) for
    days outside 1..3660 and DomainError(BUSY) when another move is still running after
    one lease; then nothing has moved."""
    clock.check_advance(days)
    await _hold_advance()
    renewal = asyncio.create_task(jobs._renew(ADVANCE_ROW), name="job-lease-advance-clock")
    try:
        from_day = await clock.today()
        registered = jobs.registered()
        runs: list[JobRun] = []
        moved = 0
        try:
            for _ in range(days):
                now = await clock.advance(days=1)
                moved += 1
                runs += await _run_day(now.date(), registered)
        finally:
            if moved < days:
                await clock.advance(days=days - moved)
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        await _let_go_advance()
    return ClockAdvance(from_day=from_day, now=await clock.now(), runs=runs)
