"""The daily batch: one business day against the provider's statement and balances."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from typing import cast

from models.finance import ReconciliationRun, RunStatus
from services.errors import InvalidInputError
from services.identity.permissions import Actor
from services.payments.gateway import get_provider
from services.payments.provider import ProviderRejectedError, ProviderUnavailableError
from services.platform import clock
from services.platform.clock import system_now
from services.reconciliation.balances import check_balances
from services.reconciliation.breaks import Tally
from services.reconciliation.statement import check_platform_side, match_statement

logger = logging.getLogger(__name__)

CATCH_UP_DAYS = 7  # how far back the daily job fills in days it missed
# One catch-up at a time in a process (the job loop and a test or CLI call may overlap).
_catching_up = asyncio.Lock()


async def run_daily(*, day: date, actor: Actor | None = None) -> ReconciliationRun:
    """Reconcile business day `day` (the rules: services/reconciliation/__init__.py).

    Returns the run: COMPLETED, or FAILED with `error` when the provider could not be
    reached or refused (breaks recorded before that stay, and a re-run continues).
    Raises InvalidInputError for a day after today.
    """
    if day > await clock.today():
        raise InvalidInputError("The day has not ended yet", field="day")
    run = await ReconciliationRun.create(day=day, triggered_by_id=actor.user_id if actor else None)
    tally = Tally()
    provider = get_provider()
    try:
        lines = await provider.statement(day=day)
        tally.statement_lines = len(lines)
        seen = await match_statement(run, day, lines, provider, tally)
        await check_platform_side(run, day, seen, provider, tally)
        await check_balances(run, day, provider, tally)
        run.status = RunStatus.COMPLETED
    except (ProviderUnavailableError, ProviderRejectedError) as error:
        logger.error("reconciliation of %s failed: %s", day, error)
        run.status = RunStatus.FAILED
        run.error = f"provider: {error}"[:255]
    except Exception:
        # A bug: the run must not stay RUNNING. Recorded, then raised (and logged).
        await ReconciliationRun.filter(id=run.id).update(
            status=RunStatus.FAILED,
            error="unexpected error (see the logs)",
            finished_at=system_now(),
        )
        raise
    run.statement_lines = tally.statement_lines
    run.matched = tally.matched
    run.in_flight = tally.in_flight
    run.accounts_checked = tally.accounts_checked
    run.breaks_found = tally.found
    run.breaks_known = tally.known
    run.finished_at = system_now()
    await run.save()
    return run


async def catch_up(*, max_days: int = CATCH_UP_DAYS) -> list[ReconciliationRun]:
    """Reconcile every day up to yesterday that has no COMPLETED run yet, oldest first,
    at most `max_days` back (what the daily job calls). Weekends are included: the
    provider settles transfers and real-time movements on every day."""
    async with _catching_up:
        return await _catch_up(max_days)


async def _catch_up(max_days: int) -> list[ReconciliationRun]:
    yesterday = await clock.today() - timedelta(days=1)
    done = set(
        cast(
            list[date],
            await ReconciliationRun.filter(
                status=RunStatus.COMPLETED,
                day__gt=yesterday - timedelta(days=max_days),
                day__lte=yesterday,
            ).values_list("day", flat=True),
        )
    )
    last = max(done) if done else None
    first = last + timedelta(days=1) if last else yesterday
    runs = []
    day = max(first, yesterday - timedelta(days=max_days - 1))
    while day <= yesterday:
        if day not in done:
            runs.append(await run_daily(day=day))
        day += timedelta(days=1)
    return runs
