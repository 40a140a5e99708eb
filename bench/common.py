"""What the benchmarks share: where a run lives (its own database, Redis prefix and
scratch directory), the settings it runs with, its database made, migrated and dropped,
the app's lifespan in this process, the line naming the machine, percentiles, and
counting the SQL a block of code sends."""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import platform
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from simulation import scratch

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

# Where a run lives and how its database is made and removed: shared with the simulation.
Run = scratch.Run
admin = scratch.admin
bench_database = scratch.database
embedded_app = scratch.embedded_app


def plan_run(*, postgres: bool, pool_size: int | None = None) -> Run:
    """A new run: a temporary SQLite file, or `lendbridge_bench_<run id>` on the
    PostgreSQL server (BENCH_POSTGRES_URL; with BENCH_USE_ENV=1 the server of
    DATABASE_URL) with a Redis of BENCH_REDIS_URL (REDIS_URL with BENCH_USE_ENV=1)."""
    if not postgres:
        return scratch.plan("bench", postgres_server=None, redis_url=None)
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    if os.environ.get("BENCH_USE_ENV") == "1":
        server = scratch.postgres_server(os.environ.get("DATABASE_URL", "")) or server
        redis_url = os.environ.get("REDIS_URL", redis_url)
    return scratch.plan("bench", postgres_server=server, redis_url=redis_url, pool_size=pool_size)


def environment(run: Run, **extra: str) -> dict[str, str]:
    """The settings of a run, for this process and any API process it starts."""
    return scratch.environment(run, ACCESS_TOKEN_MINUTES="120", **extra)


def use_environment(run: Run, **extra: str) -> dict[str, str]:
    """Put the run's settings (`environment`) into this process and return them."""
    return scratch.use_environment(run, ACCESS_TOKEN_MINUTES="120", **extra)


def machine_line(backend: str, run: Run, extra: str = "") -> str:
    """The date, the database and broker, and the machine a result was measured on."""
    broker = ", Redis" if run.redis_url else ", in-process broker"
    return (
        f"{datetime.now(UTC).date().isoformat()}, {backend}{broker}{extra},"
        f" {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    )


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
