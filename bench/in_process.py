"""The platform in the bench's own process, for the benches that send requests through
the ASGI stack without HTTP (graphql_requests, persisted): a temporary SQLite file and
the in-process broker, or DATABASE_URL / REDIS_URL with BENCH_USE_ENV=1; migrated, the
ORM and the broker started."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.kit.settings import Settings


async def start_platform() -> Settings:
    """Set the environment, migrate, start the ORM and the broker; the settings."""
    if os.environ.get("BENCH_USE_ENV") != "1":
        os.environ["DATABASE_URL"] = f"sqlite://{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
        os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("APP_ENV", "test")

    from tortoise import Tortoise

    import cli
    from services.kit.broker import make_broker, set_broker
    from services.kit.db import tortoise_config
    from services.kit.settings import get_settings

    settings = get_settings()
    await cli.migrate(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    broker = make_broker(settings)
    await broker.start()
    set_broker(broker)
    return settings


async def stop_platform() -> None:
    """Stop the broker and close the ORM's connections."""
    from tortoise import Tortoise

    from services.kit.broker import get_broker

    await get_broker().stop()
    await Tortoise.close_connections()
