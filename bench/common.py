"""What the benchmarks share: where a run lives (its own database, Redis prefix and
scratch directory), the settings it runs with, its database made, migrated and dropped,
the app's lifespan in this process, the line naming the machine, percentiles, and
counting the SQL a block of code sends."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Run:
    """Where this run lives: its database, Redis prefix and scratch directory."""

    run_id: str
    scratch: Path
    database_url: str
    admin_url: str | None  # the server's maintenance database (PostgreSQL only)
    database_name: str | None
    redis_url: str | None


def plan_run(*, postgres: bool, pool_size: int | None = None) -> Run:
    """A new run: a temporary SQLite file, or `lendbridge_bench_<run id>` on the
    PostgreSQL server (BENCH_POSTGRES_URL; with BENCH_USE_ENV=1 the server of
    DATABASE_URL) with a Redis of BENCH_REDIS_URL (REDIS_URL with BENCH_USE_ENV=1)."""
    run_id = uuid.uuid4().hex[:10]
    scratch = Path(tempfile.mkdtemp(prefix="lendbridge-bench-"))
    if not postgres:
        return Run(run_id, scratch, f"sqlite://{scratch / 'bench.sqlite3'}", None, None, None)
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    if os.environ.get("BENCH_USE_ENV") == "1":
        env_url = os.environ.get("DATABASE_URL", "")
        if env_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
            server = env_url.split("?")[0].rsplit("/", 1)[0]
        redis_url = os.environ.get("REDIS_URL", redis_url)
    name = f"lendbridge_bench_{run_id}"
    url = f"{server}/{name}"
    if pool_size:
        url += f"?minsize=1&maxsize={pool_size}"
    admin = server.replace("postgres://", "postgresql://", 1).replace("asyncpg://", "postgresql://")
    return Run(run_id, scratch, url, f"{admin}/postgres", name, redis_url)


def environment(run: Run, **extra: str) -> dict[str, str]:
    """The settings of a run, for this process and any API process it starts."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": run.database_url,
        "REDIS_PREFIX": f"lendbridge-bench-{run.run_id}:",
        "SANDBOX_DATABASE": str(run.scratch / "sandbox-provider.sqlite3"),
        "STORAGE_DIR": str(run.scratch / "storage"),
        "JOBS_EMBEDDED": "false",
        "ACCESS_TOKEN_MINUTES": "120",
        **extra,
    }
    if run.redis_url:
        env["REDIS_URL"] = run.redis_url
    return env


def use_environment(run: Run, **extra: str) -> dict[str, str]:
    """Put the run's settings (`environment`) into this process and return them."""
    from services.settings import get_settings

    env = environment(run, **extra)
    os.environ.update(env)
    if not run.redis_url:
        os.environ.pop("REDIS_URL", None)
    get_settings.cache_clear()
    return env


@contextlib.asynccontextmanager
async def bench_database(run: Run) -> AsyncIterator[str]:
    """The run's database made (PostgreSQL) and migrated, Tortoise and the broker
    started, the roles and platform accounts seeded; yields the backend's name with its
    version. Afterwards the database, the Redis prefix and the scratch directory are
    removed, whatever happened. Call `use_environment` first."""
    from tortoise import Tortoise

    import cli
    from services import ledger, permissions
    from services.broker import RedisBroker, make_broker, set_broker
    from services.db import tortoise_config
    from services.settings import get_settings

    backend = "PostgreSQL" if run.database_name else "SQLite"
    if run.database_name:
        await admin(run, f'CREATE DATABASE "{run.database_name}"')
    broker = None
    try:
        await cli.migrate(run.database_url)
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
async def embedded_app() -> AsyncIterator[Any]:
    """The app's lifespan in this process (sandbox provider, dispatchers), no HTTP."""
    from app import create_app
    from services.settings import get_settings

    app = create_app(get_settings(), own_services=False)
    async with app.router.lifespan_context(app):
        logging.getLogger().setLevel(logging.WARNING)
        yield app
        # The lifespan drops the provider before the sandbox's last callbacks are out:
        # deliver them first (they would only be redelivered later, as warnings now).
        if app.state.sandbox is not None:
            await app.state.sandbox.sandbox.drain()


def machine_line(backend: str, run: Run, extra: str = "") -> str:
    """The date, the database and broker, and the machine a result was measured on."""
    broker = ", Redis" if run.redis_url else ", in-process broker"
    return (
        f"{datetime.now(UTC).date().isoformat()}, {backend}{broker}{extra},"
        f" {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    )


async def admin(run: Run, sql: str) -> None:
    """Run `sql` on the PostgreSQL server's maintenance database (CREATE/DROP DATABASE)."""
    import asyncpg  # type: ignore[import-untyped]

    assert run.admin_url is not None
    connection = await asyncpg.connect(run.admin_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of durations in seconds, in milliseconds."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] * 1000


# --- counting queries ----------------------------------------------------------------------

_EXECUTE_METHODS = ("execute_query", "execute_query_dict", "execute_insert")
_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "counting_queries", default=None
)


def _counted(original: Callable[..., Any]) -> Callable[..., Any]:
    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        seen = _counting.get()
        if seen is not None:
            seen.append(query)
        return await original(self, query, *args, **kwargs)

    return execute


@contextlib.contextmanager
def counting_queries() -> Iterator[list[str]]:
    """The SQL statements sent to the database from inside the `with` block, in order
    (the yielded list fills as they run): every query and single insert (bulk inserts
    are not counted). It wraps the execute methods of the default connection's client
    class, which its transaction clients inherit, and counts only in this context and
    the tasks started from it (a request through the ASGI app included): the app's
    dispatchers and jobs, started before, are left out."""
    from tortoise import connections

    assert _counting.get() is None, "counting_queries does not nest"
    client_class = type(connections.get("default"))
    own = {name: client_class.__dict__.get(name) for name in _EXECUTE_METHODS}
    for name in _EXECUTE_METHODS:
        setattr(client_class, name, _counted(getattr(client_class, name)))
    seen: list[str] = []
    token = _counting.set(seen)
    try:
        yield seen
    finally:
        _counting.reset(token)
        for name, method in own.items():
            if method is None:
                delattr(client_class, name)
            else:
                setattr(client_class, name, method)
