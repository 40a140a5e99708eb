"""Test set-up: one database per run (SQLite file or a fresh PostgreSQL database), one
Redis key prefix per run, migrated from migrations/, emptied before each test.

Backend: LENDBRIDGE_TEST_BACKEND=sqlite (default) or postgres. For postgres the server
is TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432) and Redis is
TEST_REDIS_URL (default redis://127.0.0.1:6379/0).

The business clock of every test starts at 00:00 UTC of TEST_CLOCK_START (default
2026-12-03, the day main last went red on a date nobody had tried): no test depends on
the day the suite runs. Run with another date to show it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

BACKEND = os.environ.get("LENDBRIDGE_TEST_BACKEND", "sqlite")
RUN_ID = uuid.uuid4().hex[:10]
_tmp = Path(tempfile.mkdtemp(prefix="lendbridge-test-"))
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)  # the run's files go with it
POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
if BACKEND == "postgres":
    DATABASE_URL = f"{POSTGRES_SERVER}/lendbridge_test_{RUN_ID}"
    os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
else:
    # A throwaway database: no disk sync at each commit (WAL, synchronous=NORMAL).
    DATABASE_URL = f"sqlite://{_tmp / 'test.sqlite3'}?synchronous=NORMAL"
    os.environ.pop("REDIS_URL", None)
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["APP_ENV"] = "test"
TEST_CLOCK_START = os.environ.get("TEST_CLOCK_START", "2026-12-03")
os.environ["CLOCK_START"] = TEST_CLOCK_START
os.environ["REDIS_PREFIX"] = f"lendbridge-test-{RUN_ID}:"
os.environ["SMS_CODE_RESEND_SECONDS"] = "0"
# argon2id at a thirtieth of the OWASP cost (APP_ENV=test only): the suite signs people up
# and in thousands of times; tests/kit/test_security.py checks the OWASP hashes themselves.
os.environ.setdefault("PASSWORD_HASH_COST", "test")
os.environ["SANDBOX_DATABASE"] = str(_tmp / "sandbox-provider.sqlite3")
os.environ["STORAGE_DIR"] = str(_tmp / "storage")
os.environ["ACCESS_LOG_DIR"] = str(_tmp / "access-log")

import httpx  # noqa: E402
import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402
from tortoise import Tortoise, connections  # noqa: E402

from app import create_app  # noqa: E402
from services.credit import external  # noqa: E402
from services.identity import permissions, sms_codes  # noqa: E402
from services.kit.broker import RedisBroker, make_broker, set_broker  # noqa: E402
from services.kit.db import tortoise_config  # noqa: E402
from services.kit.settings import get_settings  # noqa: E402
from services.money import ledger  # noqa: E402
from services.partners import keys as partner_keys  # noqa: E402
from services.partners import usage as partner_usage  # noqa: E402
from services.platform import clock, parameters  # noqa: E402
from simulation import migrated  # noqa: E402
from tests import hang_watch  # noqa: E402
from tests.factories import ScriptedSources  # noqa: E402
from tests.hang_watch import pytest_runtest_call  # noqa: E402, F401  (a hook)

# The longest tests start first, so that pytest-xdist spreads them over the workers
# while the many short ones fill the gaps, instead of one worker finishing alone with a
# year of simulation (they are collected last, by name). Order within a group is kept.
_FIRST = (
    "tests/simulation/test_simulated_year.py",
    "tests/simulation/test_regressions.py",
    "tests/simulation/",
    "tests/e2e/",
)


def _start_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::")[0]
    return next((n for n, prefix in enumerate(_FIRST) if path.startswith(prefix)), len(_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_start_rank)


def pytest_configure(config: pytest.Config) -> None:
    """On PostgreSQL the run (the xdist controller, or the only process) migrates one
    template database first: each worker's test database and each simulate run's scratch
    database is a copy of it (simulation/migrated.py), not migrated again."""
    if BACKEND != "postgres" or hasattr(config, "workerinput"):
        return
    name = f"lendbridge_template_{RUN_ID}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    done = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={**os.environ, "DATABASE_URL": f"{POSTGRES_SERVER}/{name}"},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        raise pytest.UsageError(f"migrating the template database failed:\n{done.stderr}")
    os.environ[migrated.TEMPLATE_ENV] = name
    config.stash[_TEMPLATE] = name


def pytest_unconfigure(config: pytest.Config) -> None:
    name = config.stash.get(_TEMPLATE, None)
    if name:
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_TEMPLATE = pytest.StashKey[str]()


def pytest_report_header(config: pytest.Config) -> str:
    redis = os.environ.get("REDIS_URL") or "in-process broker"
    return (
        f"lendbridge backend: {BACKEND} ({DATABASE_URL.split('@')[-1]}), {redis}; "
        f"business clock starts {TEST_CLOCK_START}"
    )


async def _admin_execute(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        POSTGRES_SERVER.replace("postgres://", "postgresql://") + "/test"
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database() -> AsyncIterator[str]:
    hang_watch.remember_loop()
    get_settings.cache_clear()
    settings = get_settings()
    template = migrated.postgres_template() if BACKEND == "postgres" else None
    if BACKEND == "postgres":
        copy = f' TEMPLATE "{template}"' if template else ""
        await _admin_execute(f'CREATE DATABASE "lendbridge_test_{RUN_ID}"{copy}')
        # A commit here does not wait for its WAL to reach the disk (0.05 ms instead of
        # 0.6 ms on this kind of machine, and the suite commits hundreds of thousands of
        # times). What a commit makes visible to other sessions and processes is the same;
        # only a crash of the PostgreSQL server itself could lose the last commits, which
        # no test does. Benchmarks and the simulate command keep the server's setting.
        await _admin_execute(
            f'ALTER DATABASE "lendbridge_test_{RUN_ID}" SET synchronous_commit = off'
        )
    if template is None:  # a new SQLite file: a copy of one migrated before
        await migrated.migrate(DATABASE_URL)
    await Tortoise.init(config=tortoise_config(DATABASE_URL), _enable_global_fallback=True)
    broker = make_broker(settings)
    await broker.start()
    set_broker(broker)
    try:
        yield DATABASE_URL
    finally:
        if isinstance(broker, RedisBroker):
            await broker.delete_prefix()
        await broker.stop()
        set_broker(None)
        await Tortoise.close_connections()
        if BACKEND == "postgres":
            await _admin_execute(f'DROP DATABASE IF EXISTS "lendbridge_test_{RUN_ID}" WITH (FORCE)')


def _tables() -> list[str]:
    return sorted(model._meta.db_table for model in Tortoise.apps["models"].values())


# Emptying PostgreSQL between tests. TRUNCATE of every table makes new files for each
# table and index (0.3-0.4 s a test on this kind of machine, some five minutes of a run);
# a test writes a few tables, and deleting their rows is a fraction of a millisecond.
# So: one statement finds the tables with rows, one transaction deletes them with the
# foreign-key triggers off (`session_replication_role = replica`, the emptying order
# then does not matter; it needs a superuser, as the test server's postgres is: else
# TRUNCATE as before), and every sequence starts again at 1, as RESTART IDENTITY did.
_RESET_SEQUENCES = (
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
)
_fast_empty = True


def _non_empty() -> str:
    """One statement naming the tables that have rows."""
    return " UNION ALL ".join(
        f"SELECT '{table}' AS name WHERE EXISTS (SELECT 1 FROM \"{table}\")" for table in _tables()
    )


async def _empty_postgres(connection: Any) -> None:
    global _fast_empty
    tables = _tables()
    if _fast_empty:
        full = [row["name"] for row in await connection.execute_query_dict(_non_empty())]
        deletes = "".join(f'DELETE FROM "{table}"; ' for table in full)
        try:
            await connection.execute_script(
                "BEGIN; SET LOCAL session_replication_role = replica; "
                f"{deletes}COMMIT; {_RESET_SEQUENCES}"
            )
            return
        except Exception:  # not a superuser: empty them the slow way from now on
            _fast_empty = False
            await connection.execute_script("ROLLBACK")
    await connection.execute_script("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def clean_db(database: str) -> AsyncIterator[None]:
    """Every test starts from an empty database with the default roles seeded."""
    connection = connections.get("default")
    if BACKEND == "postgres":
        await _empty_postgres(connection)
    else:
        # Foreign keys off while emptying: tables are emptied in name order, and some
        # (RESTRICT) reference tables that sort before them. (Deleting only the tables
        # with rows, as on PostgreSQL, saves nothing measurable here.)
        await connection.execute_script("PRAGMA foreign_keys = OFF")
        try:
            for table in _tables():
                await connection.execute_script(f"DELETE FROM {table}")
        finally:
            await connection.execute_script("PRAGMA foreign_keys = ON")
    clock.reset_cache()
    parameters.reset_cache()
    permissions.reset_cache()
    partner_keys.forget_cached_keys()
    partner_usage.forget_pending()
    await permissions.seed_roles()
    await ledger.ensure_platform_accounts()
    yield


@contextlib.asynccontextmanager
async def running_app(tmp_path: Path, *, background: bool = True) -> AsyncIterator[object]:
    """The app's lifespan with a fresh sandbox provider (its own SQLite file) for every
    test, like the platform's database, which clean_db empties before each test."""
    settings = get_settings().model_copy(
        update={
            "sandbox_database": str(tmp_path / "sandbox-provider.sqlite3"),
            # Tests run jobs themselves (`jobs.run_due` or the job's function): the
            # schedule is emptied with every table before each test, so an embedded
            # loop would run every job at once, beside the test's own set-up.
            "jobs_embedded": False,
        }
    )
    application = create_app(settings, own_services=False, background=background)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def app(database: str, tmp_path: Path) -> AsyncIterator[object]:
    async with running_app(tmp_path) as application:
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def quiet_app(database: str, tmp_path: Path) -> AsyncIterator[object]:
    """The app with no dispatcher of its own: nothing is sent to the provider and no
    event published unless the test says so."""
    async with running_app(tmp_path, background=False) as application:
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def scripted() -> Iterator[dict[str, Any]]:
    """The outside credit sources answer from this table (id number -> reports, see
    `tests.factories.ScriptedSources`); a module that needs it in every test says
    `pytest.mark.usefixtures("scripted")`."""
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    yield adapter.scripted
    external.set_adapter(None)


@pytest.fixture
def resend_throttle(monkeypatch: pytest.MonkeyPatch) -> int:
    """The real resend throttle (the run turns it off with SMS_CODE_RESEND_SECONDS=0, so
    tests may ask for codes back to back): at most one code a minute per phone, purpose
    and binding. Returns the seconds; a test lets them pass by moving `SmsCode.created_at`
    back."""
    seconds = 60
    throttled = get_settings().model_copy(update={"sms_code_resend_seconds": seconds})
    monkeypatch.setattr(sms_codes, "get_settings", lambda: throttled)
    return seconds
