"""The one loop shape of the process's background dispatchers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def run_until_stopped(
    *,
    name: str,
    step: Callable[[], Awaitable[object]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    poll_seconds: float,
) -> None:
    """Run `step` until `stop` is set: again at once when `wake` is set, otherwise every
    `poll_seconds`. A failing pass is logged and the loop goes on."""
    while not stop.is_set():
        try:
            await step()
        except Exception:
            logger.exception("%s pass failed", name)
        wake.clear()
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
        _done, pending = await asyncio.wait(
            waiters, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
