"""Periodic jobs. The same job functions run in the embedded loop (one process, the
default) or in a dedicated worker process (`python -m app worker`) when API processes
run with JOBS_EMBEDDED=false. Run exactly one job runner per deployment.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.jobs.registry import Job, _jobs

logger = logging.getLogger(__name__)


def registered() -> dict[str, Job]:
    from services.jobs import (  # noqa: F401  (register jobs)
        contracts,
        credit,
        housekeeping,
        loans,
        reconciliation,
        repayments,
    )

    return _jobs


async def run_due(now: float | None = None) -> list[str]:
    """Run every job whose time has come; a failing job is logged and retried next time."""
    now = time.monotonic() if now is None else now
    ran = []
    for job in registered().values():
        if job.next_due > now:
            continue
        job.next_due = now + job.every_seconds
        try:
            await job.run()
        except Exception:
            logger.exception("job %s failed", job.name)
            continue
        ran.append(job.name)
    return ran


async def run_loop(stop: asyncio.Event, tick_seconds: float = 30.0) -> None:
    while not stop.is_set():
        await run_due()
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick_seconds)
        except TimeoutError:
            pass
