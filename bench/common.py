"""What the benchmarks share: where a run lives (its own database, Redis prefix and
scratch directory), the settings it runs with, its database made, migrated and dropped,
the app's lifespan in this process, the line naming the machine and percentiles (the SQL
a block of code sends is counted by tests/statements.py)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from simulation import scratch

ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Api:
    base: str
    pid: int


@contextlib.asynccontextmanager
async def api_process(
    run: Run,
    env: dict[str, str],
    *,
    workers: int | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> AsyncIterator[Api]:
    """`python -m app serve` on a free port (`--workers 1`: uvicorn serves in that very
    process, so its pid is the server's); yields its base URL and pid once /readyz
    answers, and stops it afterwards."""
    import httpx

    port = free_port()
    log = (run.scratch / "api.log").open("wb")
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
        preexec_fn=preexec_fn,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(300):
                if process.returncode is not None:
                    tail = (run.scratch / "api.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the API process ended:\n{tail}")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the API process did not become ready in 30 s")
        yield Api(base, process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
