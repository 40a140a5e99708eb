"""The simulated runs here drive the platform themselves (`settle_until_quiet`): their
app runs no dispatcher or sandbox redelivery on a wall-clock timer, like
`python -m app simulate`, so a (seed, start) pair does the same work in the same order
on every machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from app import create_app
from services.kit.settings import get_settings


@pytest_asyncio.fixture(loop_scope="session")
async def app(database: str, tmp_path: Path) -> AsyncIterator[object]:
    settings = get_settings().model_copy(
        update={"sandbox_database": str(tmp_path / "sandbox-provider.sqlite3")}
    )
    application = create_app(settings, own_services=False, background=False)
    async with application.router.lifespan_context(application):
        yield application
