"""What the operators' commands (`partners`, `analytics`) share: Tortoise started on
DATABASE_URL (and the broker, for those that need it) around the work, its text printed,
a DomainError printed on stderr as `<command> <action>: <message>` with exit status 2."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from services.errors import DomainError
from services.kit.settings import get_settings


async def _around(work: Callable[[], Awaitable[str]], broker: bool) -> str:
    from tortoise import Tortoise

    from services.kit.broker import make_broker, set_broker
    from services.kit.db import tortoise_config

    settings = get_settings()
    await Tortoise.init(config=tortoise_config(settings.database_url))
    started = make_broker(settings) if broker else None
    if started is not None:
        await started.start()
        set_broker(started)
    try:
        return await work()
    finally:
        if started is not None:
            await started.stop()
            set_broker(None)
        await Tortoise.close_connections()


def run(label: str, work: Callable[[], Awaitable[str]], *, broker: bool = False) -> int:
    """Run `work` and print what it says; the exit status."""
    try:
        done = asyncio.run(_around(work, broker))
    except DomainError as error:
        sys.stderr.write(f"{label}: {error.message}\n")
        return 2
    sys.stdout.write(done + "\n")
    return 0
