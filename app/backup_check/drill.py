"""The drill's steps (see app/backup_check/__init__.py): seed a scratch platform and back
it up, destroy it, restore it into new stores and check them, timing each step."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.backup_check.movements import move_money
from simulation import scratch

if TYPE_CHECKING:  # the platform's modules load when the drill runs, not for --help
    from services.backup.checks import Snapshot, Verdict
    from services.backup.dumps import Copy


@dataclass
class Drill:
    """One drill's places and what it measured."""

    run: scratch.Run
    say: Callable[[str], None]
    template: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def postgres(self) -> bool:
        return self.run.database_name is not None

    @property
    def backups(self) -> Path:
        return self.run.scratch / "backup"

    @property
    def restored(self) -> Path:
        return self.run.scratch / "restored"

    def restored_name(self, point: str = "restored") -> str:
        """The new database a backup is restored into (PostgreSQL)."""
        return f"{self.run.database_name}_{point}"

    def restored_path(self, point: str = "restored") -> Path:
        """The new database file a backup is restored into (SQLite)."""
        return self.restored / f"platform-{point}.sqlite3"

    def restored_url(self, point: str = "restored") -> str:
        if self.postgres:
            return self.run.database_url.rsplit("/", 1)[0] + f"/{self.restored_name(point)}"
        return f"sqlite://{self.restored_path(point)}?synchronous=NORMAL"

    async def restore_database(self, backup: str, point: str = "restored") -> Copy:
        """The platform's backup `backup` (a name in the backup directory, without its
        suffix) restored into a new database for `point`."""
        from services.backup import dumps

        if self.postgres:
            await scratch.admin(self.run, f'CREATE DATABASE "{self.restored_name(point)}"')
            return await dumps.restore_postgres(
                self.restored_url(point), self.backups / f"{backup}.dump"
            )
        return await dumps.restore_sqlite(
            self.backups / f"{backup}.sqlite3", self.restored_path(point)
        )

    async def back_up_database(self, backup: str) -> Copy:
        """The platform's database, online, into `backup` in the backup directory."""
        from services.backup import dumps

        if self.postgres:
            return await dumps.dump_postgres(self.run.database_url, self.backups / f"{backup}.dump")
        return await dumps.backup_sqlite(
            scratch.sqlite_path(self.run), self.backups / f"{backup}.sqlite3"
        )


def point_at(database_url: str, books: Path, storage: Path) -> None:
    """This process's settings name these stores from now on."""
    from services.kit.settings import get_settings

    os.environ.update(
        DATABASE_URL=database_url, SANDBOX_DATABASE=str(books), STORAGE_DIR=str(storage)
    )
    get_settings.cache_clear()


@contextlib.asynccontextmanager
async def platform_on(database_url: str) -> AsyncIterator[Any]:
    """Tortoise on `database_url`, the in-process broker and the app's lifespan (the
    embedded sandbox provider on SANDBOX_DATABASE) with nothing on a timer."""
    from tortoise import Tortoise

    from services.identity import permissions
    from services.kit.broker import make_broker, set_broker
    from services.kit.db import tortoise_config
    from services.kit.settings import get_settings
    from services.platform import clock, parameters

    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    broker = make_broker(get_settings())
    await broker.start()
    set_broker(broker)
    clock.reset_cache()
    parameters.reset_cache()
    permissions.reset_cache()
    try:
        async with scratch.embedded_app(background=False) as app:
            yield app
    finally:
        await broker.stop()
        set_broker(None)
        await Tortoise.close_connections()


def books_path() -> Path:
    from services.kit.settings import get_settings

    return Path(get_settings().sandbox_database)


def storage_path() -> Path:
    from services.kit.settings import get_settings

    return Path(get_settings().storage_dir)


def checks_line(verdict: Verdict) -> str:
    chain, books = verdict.operation_log, verdict.reconciliation
    ledger = "ledger balanced" if verdict.ledger["ok"] else f"LEDGER BROKEN {verdict.ledger}"
    log = (
        f"operation log {chain['entries']} entries chained"
        if chain["valid"]
        else f"OPERATION LOG BROKEN at seq {chain['first_bad_seq']}: {chain['problem']}"
    )
    recon = (
        f"reconciliation of {books['day']} clean ({books['statement_lines']} statement lines,"
        f" {books['accounts_checked']} accounts)"
        if books["clean"]
        else f"RECONCILIATION: {books['status']} {books['error']} open breaks"
        f" {books['open_breaks']} on {books['accounts']}"
    )
    return f"{ledger}; {log}; {recon}"


async def _seed_and_back_up(drill: Drill, *, tamper: bool) -> Snapshot:
    """Seed, check and snapshot the source, back it up; returns the snapshot."""
    import cli
    from services.backup import checks, dumps
    from services.demo import seed_demo_data
    from services.platform import oplog

    run = drill.run
    started = time.perf_counter()
    if drill.postgres:
        await scratch.admin(run, f'CREATE DATABASE "{run.database_name}"')
    if drill.template is None:
        with contextlib.redirect_stdout(None):
            await cli.migrate(run.database_url)
    elif drill.postgres:
        copied = await dumps.dump_postgres(drill.template, drill.backups / "template.dump")
        await dumps.restore_postgres(run.database_url, copied.path)
        await asyncio.to_thread(copied.path.unlink)
    else:
        await dumps.backup_sqlite(sqlite_file(drill.template), scratch.sqlite_path(run))
    drill.seconds["migrate"] = time.perf_counter() - started
    started = time.perf_counter()
    async with platform_on(run.database_url) as app:
        await seed_demo_data(app.state.sandbox.sandbox)
        if tamper:  # both sides at an earlier point, for the inconsistent restores
            await drill.back_up_database("platform-earlier")
            await dumps.backup_sqlite(
                books_path(), drill.backups / "provider-books-earlier.sqlite3"
            )
        await move_money(app)
        await oplog.seal_all()
        verdict = await checks.verify_platform()
        before = await checks.snapshot(provider_books=books_path(), storage=storage_path())
        drill.seconds["seed"] = time.perf_counter() - started
        totals = before.totals()
        drill.say(
            f"seeded   {totals['platform_rows']} rows in {totals['platform_tables']} tables,"
            f" {totals['provider_rows']} rows in the provider's books,"
            f" {totals['ledger_accounts']} ledger accounts, {totals['files']} files"
            f" ({'migrated' if drill.template is None else 'template copied'}"
            f" {drill.seconds['migrate']:.2f} s, seeded {drill.seconds['seed']:.2f} s)"
        )
        drill.say(f"source   {checks_line(verdict)}")
        if not verdict.ok:
            raise RuntimeError("the seeded platform fails its own checks before any backup")
        # Online: the platform is up (idle, so the three copies are of one point).
        started = time.perf_counter()
        database = await drill.back_up_database("platform")
        how = "pg_dump --format=custom" if drill.postgres else "SQLite online backup API"
        books = await dumps.backup_sqlite(books_path(), drill.backups / "provider-books.sqlite3")
        files = await dumps.archive_files(storage_path(), drill.backups / "files.tar")
        drill.seconds["backup"] = time.perf_counter() - started
    for name, copy, kind in (
        ("database", database, how),
        ("provider_books", books, "SQLite online backup API"),
        ("files", files, "tar"),
    ):
        drill.seconds[f"backup_{name}"] = copy.seconds
        drill.sizes[name] = copy.size_bytes
        drill.say(
            f"backup   {name:<15} {kind:<26} {copy.size_bytes:>10,} bytes {copy.seconds:7.3f} s"
        )
    drill.say(f"backup   total {drill.seconds['backup']:.3f} s")
    return before


async def _base_backup(drill: Drill) -> None:
    from services.backup import dumps

    server = drill.run.database_url.rsplit("/", 1)[0]
    found = await dumps.base_backup(server, drill.backups / "base")
    if found.ran:
        drill.seconds["base_backup"] = found.seconds
        drill.sizes["base_backup"] = found.size_bytes
        drill.say(
            f"base     pg_basebackup of the whole cluster (tar, gzip, WAL streamed)"
            f" {found.size_bytes:,} bytes {found.seconds:.3f} s (not restored: a cluster)"
        )
        shutil.rmtree(drill.backups / "base", ignore_errors=True)
    else:
        drill.say(f"base     pg_basebackup not measured: {found.reason}")
    drill.summary["base_backup"] = {"ran": found.ran, "reason": found.reason or None}


def sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite://").split("?")[0])


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _delete_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _destroy(drill: Drill) -> None:
    from services.kit.settings import get_settings

    run = drill.run
    started = time.perf_counter()
    if drill.postgres:
        await scratch.admin(run, f'DROP DATABASE "{run.database_name}" WITH (FORCE)')
        gone = f"dropped database {run.database_name}"
    else:
        _delete_sqlite(scratch.sqlite_path(run))
        gone = f"deleted the database file {scratch.sqlite_path(run).name}"
    _delete_sqlite(Path(get_settings().sandbox_database))
    shutil.rmtree(get_settings().storage_dir, ignore_errors=True)
    drill.seconds["destroy"] = time.perf_counter() - started
    drill.say(
        f"destroy  {gone}, the provider's books, the files ({drill.seconds['destroy']:.3f} s)"
    )


async def _restore(drill: Drill) -> None:
    from services.backup import dumps

    started = time.perf_counter()
    drill.restored.mkdir()
    url = drill.restored_url()
    database = await drill.restore_database("platform")
    target = drill.restored_name() if drill.postgres else drill.restored_path().name
    books = await dumps.restore_sqlite(
        drill.backups / "provider-books.sqlite3", drill.restored / "provider-books.sqlite3"
    )
    files = await dumps.restore_files(drill.backups / "files.tar", drill.restored / "storage")
    point_at(url, drill.restored / "provider-books.sqlite3", drill.restored / "storage")
    drill.seconds["restore"] = time.perf_counter() - started
    for name, copy in (("database", database), ("provider_books", books), ("files", files)):
        drill.seconds[f"restore_{name}"] = copy.seconds
        drill.say(f"restore  {name:<15} {copy.seconds:7.3f} s")
    drill.say(f"restore  total {drill.seconds['restore']:.3f} s (database into {target})")


async def _check_restored(drill: Drill, before: Snapshot) -> bool:
    from services.backup import checks

    started = time.perf_counter()
    async with platform_on(drill.restored_url()):
        after = await checks.snapshot(provider_books=books_path(), storage=storage_path())
        counted = time.perf_counter()
        changed = checks.differences(before, after)
        verdict = await checks.verify_platform()
    drill.seconds["checks"] = time.perf_counter() - started
    drill.seconds["checks_counts"] = counted - started
    totals = after.totals()
    drill.say(
        f"checks   counts: {totals['platform_rows']} rows in {totals['platform_tables']}"
        f" tables, {totals['provider_rows']} provider rows, {totals['ledger_accounts']}"
        f" balances, {totals['files']} files: "
        + ("all as before" if not changed else f"{len(changed)} DIFFER: {changed[:5]}")
    )
    drill.say(f"checks   {checks_line(verdict)} ({drill.seconds['checks']:.3f} s)")
    drill.summary["counts"] = {**totals, "differences": changed}
    drill.summary["checks"] = verdict.as_dict()
    return verdict.ok and not changed


async def run_drill(
    *,
    postgres_server: str | None,
    tamper: bool = False,
    base_backup: bool = True,
    template: str | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The whole drill (app/backup_check/__init__.py); returns the summary (`ok` and more).
    `template`: a migrated database of the same backend to copy instead of migrating."""
    from services.kit.settings import get_settings

    run = scratch.plan("backup", postgres_server=postgres_server, redis_url=None)
    scratch.use_environment(run)
    say = say or _say
    current = Drill(run, say, template)
    current.backups.mkdir()
    backend = "PostgreSQL" if current.postgres else "SQLite"
    where = (
        run.database_url.split("@")[-1].split("?")[0] if current.postgres else "a temporary file"
    )
    say(
        f"backup-check: {backend} ({where}), {datetime.now(UTC).date().isoformat()},"
        f" {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    )
    summary = current.summary
    summary.update(
        backend=backend,
        database=run.database_name or scratch.sqlite_path(run).name,
        scratch=str(run.scratch),
        ok=False,
    )
    try:
        before = await _seed_and_back_up(current, tamper=tamper)
        if current.postgres and base_backup:
            await _base_backup(current)
        await _destroy(current)
        await _restore(current)
        whole = await _check_restored(current, before)
        seconds = current.seconds
        seconds["recovery"] = seconds["restore"] + seconds["checks"]
        say(
            f"recovery time (restore + checks): {seconds['recovery']:.3f} s;"
            f" backup {seconds['backup']:.3f} s; "
            + ("RESTORE WHOLE" if whole else "RESTORE BROKEN")
        )
        summary["ok"] = whole
        if tamper:
            from app.backup_check.tamper import tampered  # it imports this module

            summary["ok"] = whole and await tampered(current)
    finally:
        if current.postgres:
            for name in (
                run.database_name,
                current.restored_name(),
                current.restored_name("earlier"),
            ):
                await scratch.admin(run, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(run.scratch, ignore_errors=True)
        get_settings.cache_clear()
    summary["seconds"] = {name: round(value, 3) for name, value in current.seconds.items()}
    summary["bytes"] = current.sizes
    return summary
