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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Api:
    base: str
    pid: int
    # The platform's other processes by role ("workers", "sandbox"), for CPU accounting.
    helpers: dict[str, list[int]] = field(default_factory=dict)

    def trees(self) -> dict[str, list[int]]:
        """The processes to account CPU to, by role (bench/cpu.py)."""
        return {"api": [self.pid], **self.helpers}


@contextlib.asynccontextmanager
async def _process(
    run: Run,
    name: str,
    arguments: list[str],
    env: dict[str, str],
    preexec_fn: Callable[[], None] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m app <arguments>`, its output in the run's `<name>.log`; stopped on exit
    (SIGTERM, then SIGKILL after 30 s)."""
    log = (run.scratch / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", *arguments),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
        preexec_fn=preexec_fn,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _ready(run: Run, name: str, process: asyncio.subprocess.Process, url: str) -> None:
    """Wait until `url` answers 200 (30 s at most)."""
    import httpx

    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            if process.returncode is not None:
                tail = (run.scratch / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the {name} process ended:\n{tail}")
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {name} process did not become ready in 30 s")


@contextlib.asynccontextmanager
async def api_process(
    run: Run,
    env: dict[str, str],
    *,
    workers: int | None = None,
    job_workers: int = 2,
    preexec_fn: Callable[[], None] | None = None,
) -> AsyncIterator[Api]:
    """The platform as README's deployment runs it, on this machine. PostgreSQL + Redis:
    the sandbox provider as its own process (`python -m app sandbox`), `python -m app
    serve --workers W` on a free port with JOBS_EMBEDDED=false and DISPATCH_IN_API=false,
    and `job_workers` x `python -m app worker` (the outbox, the payment instructions, the
    operation-log sealer and the jobs; with none, the API processes dispatch). SQLite
    (one process's database): the API process alone, its dispatchers and the sandbox in
    it. Yields once /readyz answers; every process is stopped afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serving = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        serving += ["--workers", str(workers)]
    async with contextlib.AsyncExitStack() as stack:
        helpers: dict[str, list[int]] = {}
        if run.redis_url:
            sandbox_port = free_port()
            provider = f"http://127.0.0.1:{sandbox_port}"
            env = {
                **env,
                "PROVIDER_URL": provider,
                "PLATFORM_CALLBACK_URL": f"{base}/webhooks/payments",
                # No job worker: the API processes dispatch (jobs stay off).
                "DISPATCH_IN_API": "false" if job_workers else "true",
            }
            arguments = ["sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port)]
            sandbox = await stack.enter_async_context(_process(run, "sandbox", arguments, env))
            await _ready(run, "sandbox", sandbox, f"{provider}/sandbox/faults")
            helpers["sandbox"] = [sandbox.pid]
            helpers["workers"] = []
            for number in range(1, job_workers + 1):
                worker = await stack.enter_async_context(
                    _process(run, f"worker-{number}", ["worker"], env)
                )
                helpers["workers"].append(worker.pid)
        api = await stack.enter_async_context(_process(run, "api", serving, env, preexec_fn))
        await _ready(run, "api", api, f"{base}/readyz")
        yield Api(base, api.pid, helpers)
