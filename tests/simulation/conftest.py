"""The simulated runs here drive the platform themselves (`settle_until_quiet`): their
app runs no dispatcher or sandbox redelivery on a wall-clock timer, like
`python -m app simulate`, so a (seed, start) pair does the same work in the same order
on every machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.conftest import running_app


@pytest_asyncio.fixture(loop_scope="session")
async def app(database: str, tmp_path: Path) -> AsyncIterator[object]:
    async with running_app(tmp_path, background=False) as application:
        yield application
