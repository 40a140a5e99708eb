"""A scratch platform for one simulation or benchmark run: its own database (a temporary
SQLite file, or a new database on a PostgreSQL server), its own Redis key prefix and
scratch directory, made and migrated here and removed afterwards whatever happened; the
app's lifespan (the embedded sandbox provider) in this process.

`python -m app simulate` and the benchmarks in `bench/` both run on one. Nothing here is
for prod: the run's settings are APP_ENV=test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    """Where this run lives: its database, Redis prefix and scratch directory."""

    kind: str  # "sim", "bench": in the names of its database, prefix and directory
    run_id: str
    scratch: Path
    database_url: str
    admin_url: str | None  # the server's maintenance database (PostgreSQL only)
    database_name: str | None
    redis_url: str | None

    @property
    def redis_prefix(self) -> str:
        return f"lendbridge-{self.kind}-{self.run_id}:"


def postgres_server(url: str) -> str | None:
    """The server part of a PostgreSQL DATABASE_URL (None for anything else)."""
    if url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return url.split("?")[0].rsplit("/", 1)[0]
    return None


def plan(
    kind: str,
    *,
    postgres_server: str | None,
    redis_url: str | None,
    pool_size: int | None = None,
) -> Run:
    """A new run: a temporary SQLite file (and the in-process broker when `redis_url` is
    None), or `lendbridge_<kind>_<run id>` on `postgres_server`."""
    run_id = uuid.uuid4().hex[:10]
    scratch = Path(tempfile.mkdtemp(prefix=f"lendbridge-{kind}-"))
    if postgres_server is None:
        # A scratch database: no disk sync at each commit (WAL, synchronous=NORMAL).
        url = f"sqlite://{scratch / f'{kind}.sqlite3'}?synchronous=NORMAL"
        return Run(kind, run_id, scratch, url, None, None, redis_url)
    name = f"lendbridge_{kind}_{run_id}"
    url = f"{postgres_server}/{name}"
    if pool_size:
        url += f"?maxsize={pool_size}"
    admin = postgres_server.replace("postgres://", "postgresql://", 1).replace(
        "asyncpg://", "postgresql://"
    )
    return Run(kind, run_id, scratch, url, f"{admin}/postgres", name, redis_url)


def environment(run: Run, **extra: str) -> dict[str, str]:
    """The settings of a run, for this process and any process it starts."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": run.database_url,
        "REDIS_PREFIX": run.redis_prefix,
        "SANDBOX_DATABASE": str(run.scratch / "sandbox-provider.sqlite3"),
        "STORAGE_DIR": str(run.scratch / "storage"),
        "JOBS_EMBEDDED": "false",
        **extra,
    }
    if run.redis_url:
        env["REDIS_URL"] = run.redis_url
    return env


def use_environment(run: Run, **extra: str) -> dict[str, str]:
    """Put the run's settings (`environment`) into this process and return them."""
    from services.kit.settings import get_settings

    env = environment(run, **extra)
    os.environ.update(env)
    if not run.redis_url:
        os.environ.pop("REDIS_URL", None)
    get_settings.cache_clear()
    return env


async def admin(run: Run, sql: str) -> None:
    """Run `sql` on the PostgreSQL server's maintenance database (CREATE/DROP DATABASE)."""
    import asyncpg  # type: ignore[import-untyped]

    assert run.admin_url is not None
    connection = await asyncpg.connect(run.admin_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def sqlite_path(run: Run) -> Path:
    return Path(run.database_url.removeprefix("sqlite://").split("?")[0])


@contextlib.asynccontextmanager
async def template(run: Run) -> AsyncIterator[str]:
    """A migrated database that runs copy instead of migrating each their own (a sweep's
    hundreds of runs): yields what `database(template=...)` takes (a SQLite file's path,
    or a PostgreSQL database's name), removed afterwards."""
    import sqlite3

    import cli

    try:
        if run.database_name:
            await admin(run, f'CREATE DATABASE "{run.database_name}"')
        with contextlib.redirect_stdout(None):
            await cli.migrate(run.database_url)
        if run.database_name:
            yield run.database_name
        else:
            path = sqlite_path(run)
            with contextlib.closing(sqlite3.connect(path)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            yield str(path)
    finally:
        if run.database_name:
            await admin(run, f'DROP DATABASE IF EXISTS "{run.database_name}" WITH (FORCE)')
        shutil.rmtree(run.scratch, ignore_errors=True)


@contextlib.asynccontextmanager
async def database(run: Run, template: str | None = None) -> AsyncIterator[str]:
    """The run's database made (PostgreSQL) and migrated (or copied from `template`, a
    `template()`'s), Tortoise and the broker started, the roles and platform accounts
    seeded; yields the backend's name with its version. Afterwards the database, the
    Redis prefix and the scratch directory are removed, whatever happened. Call
    `use_environment` first."""
    from tortoise import Tortoise

    from services.identity import permissions
    from services.kit.broker import RedisBroker, make_broker, set_broker
    from services.kit.db import tortoise_config
    from services.kit.settings import get_settings
    from services.money import ledger
    from simulation import migrated

    backend = "PostgreSQL" if run.database_name else "SQLite"
    if run.database_name:
        template = template or migrated.postgres_template()
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin(run, f'CREATE DATABASE "{run.database_name}"{copy}')
    elif template:
        shutil.copyfile(template, sqlite_path(run))
    broker = None
    try:
        if not template:
            await migrated.migrate(run.database_url)
        await Tortoise.init(config=tortoise_config(run.database_url), _enable_global_fallback=True)
        if run.database_name:
            version = await Tortoise.get_connection("default").execute_query_dict(
                "SHOW server_version"
            )
            backend += f" {version[0]['server_version'].split()[0]}"
        broker = make_broker(get_settings())
        await broker.start()
        set_broker(broker)
        await permissions.seed_roles()
        await ledger.ensure_platform_accounts()
        yield backend
    finally:
        if broker is not None:
            if isinstance(broker, RedisBroker):
                await broker.delete_prefix()
            await broker.stop()
            set_broker(None)
        await Tortoise.close_connections()
        if run.database_name:
            await admin(run, f'DROP DATABASE IF EXISTS "{run.database_name}" WITH (FORCE)')
        shutil.rmtree(run.scratch, ignore_errors=True)


@contextlib.asynccontextmanager
async def embedded_app(*, background: bool = True) -> AsyncIterator[Any]:
    """The app's lifespan in this process (sandbox provider, dispatchers), no HTTP.
    `background=False`: no dispatcher or redelivery on a timer (see `create_app`)."""
    from app import create_app
    from services.kit.settings import get_settings

    app = create_app(get_settings(), own_services=False, background=background)
    async with app.router.lifespan_context(app):
        logging.getLogger().setLevel(logging.WARNING)
        yield app
        # The lifespan drops the provider before the sandbox's last callbacks are out:
        # deliver them first (they would only be redelivered later, as warnings now).
        if app.state.sandbox is not None:
            await app.state.sandbox.sandbox.drain()
