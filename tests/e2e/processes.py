"""Real platform processes for the end-to-end tests: an API process (uvicorn, as in
production) on the test database, started with a crashpoint armed or not, watched die
or stopped; the embedded sandbox provider's books, read while no process runs; and the
member's GraphQL requests to a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from app import create_app
from models.messaging import OutboxEvent
from models.system import ScheduledJob
from services import jobs
from services.kit import crashpoints
from services.kit.settings import get_settings
from services.payments.sandbox import Sandbox
from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parents[2]
# The marks of a test that runs several platform processes on one database: PostgreSQL
# only (the embedded SQLite default is one process by design).
SEVERAL_PROCESSES = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted"),
    pytest.mark.skipif(BACKEND != "postgres", reason="several processes: PostgreSQL"),
]
STARTUP_SECONDS = 20.0
# A restarted dispatcher retries after the claim's backoff (1 s); the provider's
# redelivery loop sends held callbacks every 5 s.
RECOVERY_SECONDS = 20.0


# --- a platform process -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Process:
    """A platform process started by a test, and its combined output."""

    what = "the process"
    dying_seconds = 10.0

    def __init__(self, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        self.process = process
        self._log = log

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-6000:]

    async def expect_sigkill(self, crashpoint: str) -> None:
        """The process killed itself at `crashpoint`."""
        try:
            await asyncio.wait_for(self.process.wait(), timeout=self.dying_seconds)
        except TimeoutError:
            pytest.fail(f"{self.what} did not die at {crashpoint}:\n{self.output()}")
        assert self.process.returncode == -signal.SIGKILL, self.output()
        assert f"crashpoint {crashpoint} hit" in self.output(), self.output()

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class Platform(_Process):
    """One API process (uvicorn) and its combined output."""

    what = "the API process"

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: IO[bytes]) -> None:
        super().__init__(process, log)
        self.base_url = f"http://127.0.0.1:{port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=15.0)

    async def wait_healthy(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while True:
                if self.process.returncode is not None:
                    pytest.fail(f"the API process exited early:\n{self.output()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        return
                if loop.time() > deadline:
                    pytest.fail(f"the API process did not start:\n{self.output()}")
                await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def platform_process(
    sandbox_file: Path, crashpoint: str | None, *, environment: dict[str, str] | None = None
) -> AsyncIterator[Platform]:
    """An API process on the test database and Redis (the environment tests/conftest.py
    set, with `environment` over it), with the embedded sandbox provider keeping its books
    in `sandbox_file`, and `crashpoint` armed if given. Stopped (or killed) on exit."""
    port = _free_port()
    env = dict(os.environ, SANDBOX_DATABASE=str(sandbox_file), **(environment or {}))
    env.pop("PROVIDER_URL", None)
    env.pop(crashpoints.ENV_VAR, None)
    if crashpoint:
        env[crashpoints.ENV_VAR] = crashpoint
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "uvicorn",
            "--factory",
            "app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        platform = Platform(process, port, log)
        try:
            await platform.wait_healthy()
            yield platform
        finally:
            await platform.stop()


class Worker(_Process):
    """One job worker process (`python -m app worker`) and its combined output."""

    what = "the worker"
    dying_seconds = STARTUP_SECONDS


@contextlib.asynccontextmanager
async def worker_process(
    crashpoint: str | None, *, environment: dict[str, str] | None = None
) -> AsyncIterator[Worker]:
    """A job worker on the test database and Redis, `crashpoint` armed if given."""
    env = dict(os.environ, **(environment or {}))
    env.pop("PROVIDER_URL", None)
    env.pop(crashpoints.ENV_VAR, None)
    if crashpoint:
        env[crashpoints.ENV_VAR] = crashpoint
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "app",
            "worker",
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        worker = Worker(process, log)
        try:
            yield worker
        finally:
            await worker.stop()


# --- the provider's books, read with the sandbox's own classes -----------------------------


async def refuse_delivery(body: bytes, headers: dict[str, str]) -> None:
    raise RuntimeError("the test only reads the provider's books")


@contextlib.asynccontextmanager
async def provider_books(sandbox_file: Path) -> AsyncIterator[Sandbox]:
    """The sandbox provider on `sandbox_file`, opened while no platform process runs."""
    sandbox = Sandbox(database=str(sandbox_file), webhook_secret="unused", deliver=refuse_delivery)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.aclose()


# --- the member, through the API ----------------------------------------------------------


async def gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> dict[str, Any]:
    """A GraphQL request as the member with `token` (none: anonymous); its data."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def dies(request: Awaitable[httpx.Response]) -> None:
    """The request never gets an answer: the process died while handling it."""
    try:
        response = await request
    except httpx.TransportError:
        return
    pytest.fail(f"the request was answered: {response.status_code} {response.text}")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, platform: Platform) -> None:
    """Wait until `check` holds, while `platform` keeps running (RECOVERY_SECONDS)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_SECONDS
    while not await check():
        if platform.process.returncode is not None:
            pytest.fail(f"the restarted API process exited:\n{platform.output()}")
        if loop.time() > deadline:
            pytest.fail(f"not within {RECOVERY_SECONDS:.0f} s: {what}\n{platform.output()}")
        await asyncio.sleep(0.1)


async def outbox_drained() -> bool:
    """Every outbox event is published."""
    return not await OutboxEvent.filter(published_at__isnull=True).exists()


async def until(
    check: Callable[[], Awaitable[bool]], what: str, *watched: Any, seconds: float = 60.0
) -> None:
    """Wait until `check` holds (at most `seconds`: a job's takeover waits for a lease to
    run out); failing, show the processes' output."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            logs = "\n---\n".join(process.output() for process in watched)
            pytest.fail(f"not within {seconds:.0f} s: {what}\n{logs}")
        await asyncio.sleep(0.1)


# Job workers that take a dead one's job over within seconds, and API processes that
# leave the jobs and the outbox to them, as deployed (README): only the payment
# instructions stay, with the sandbox provider that lives in the API process.
QUICK_WORKERS = {"JOB_LEASE_SECONDS": "2", "JOB_TICK_SECONDS": "0.3"}
API_ONLY = {"JOBS_EMBEDDED": "false", "DISPATCH_IN_API": "false"}
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


async def only_job_due(job: str) -> None:
    """The schedule with `job` due now and every other job never."""
    await ScheduledJob.all().delete()
    for name in jobs.registered():
        await ScheduledJob.create(name=name, next_due_at=LONG_AGO if name == job else NEVER)


@contextlib.asynccontextmanager
async def embedded_platform(sandbox_file: Path) -> AsyncIterator[Any]:
    """The platform in this process (as the `app` fixture runs it), its provider's books in
    `sandbox_file`; its dispatchers and provider stop on exit, before platform processes
    take over on the same books. Yields the sandbox."""
    settings = get_settings().model_copy(update={"sandbox_database": str(sandbox_file)})
    application = create_app(settings, own_services=False)
    async with application.router.lifespan_context(application):
        yield application.state.sandbox.sandbox
