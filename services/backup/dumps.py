"""Copies of the platform's stores and their restoration.

PostgreSQL through its own tools (`pg_dump`, `pg_restore`, `pg_basebackup`: they must be
on PATH, of the server's major version or newer), SQLite files through SQLite's online
backup API (a consistent copy while the file is in use, WAL included), files as a tar
archive. Every function measures its own duration (elapsed seconds, not the business
clock) and raises BackupError with a stable code when a tool is missing or fails.
Connection settings go to the tools through the libpq environment (PGHOST, PGPASSWORD,
...), never on their command line, where `ps` would show a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.errors import DomainError


class BackupError(DomainError):
    """A copy or a restore could not be made; `code` says which step and why."""

    code = "BACKUP_FAILED"


@dataclass(frozen=True)
class Copy:
    """One copy made or restored: where it is, its size and how long it took."""

    path: Path
    size_bytes: int
    seconds: float


@dataclass(frozen=True)
class BaseBackup:
    """A `pg_basebackup` attempt: measured, or why it could not run."""

    ran: bool
    seconds: float = 0.0
    size_bytes: int = 0
    reason: str = ""


def postgres_environment(url: str) -> dict[str, str]:
    """The libpq environment naming the server and database of a DATABASE_URL
    (`postgres://user:password@host:port/name?maxsize=5`; the pool options dropped)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "asyncpg"):
        raise BackupError(f"not a PostgreSQL URL: {parts.scheme}://", code="NOT_POSTGRES")
    env = {
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or "postgres"),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or "postgres",
        "PGCONNECT_TIMEOUT": "10",
    }
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    return env


def require_tools(*names: str) -> None:
    """BackupError TOOL_MISSING unless every named program is on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise BackupError(
            f"not found on PATH: {', '.join(missing)} (install the PostgreSQL client tools)",
            code="TOOL_MISSING",
        )


async def _run(program: str, arguments: list[str], env: dict[str, str], code: str) -> None:
    process = await asyncio.create_subprocess_exec(
        program,
        *arguments,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{program} failed: {' / '.join(tail)}", code=code)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size if path.exists() else 0


async def dump_postgres(url: str, target: Path) -> Copy:
    """`pg_dump --format=custom` of the database of `url` into `target`: one consistent
    snapshot (a repeatable-read transaction), taken while the platform runs, with no
    owner or privilege statements so it restores under any role."""
    require_tools("pg_dump")
    started = time.perf_counter()
    arguments = ["--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    await _run("pg_dump", arguments, postgres_environment(url), "DUMP_FAILED")
    return Copy(target, _size(target), time.perf_counter() - started)


async def restore_postgres(url: str, source: Path) -> Copy:
    """`pg_restore` of a custom-format dump into the (new, empty) database of `url`, in
    one transaction: either the whole database is there or nothing is."""
    require_tools("pg_restore")
    env = postgres_environment(url)
    started = time.perf_counter()
    arguments = [
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={env['PGDATABASE']}",
        str(source),
    ]
    await _run("pg_restore", arguments, env, "RESTORE_FAILED")
    return Copy(source, _size(source), time.perf_counter() - started)


async def base_backup(server_url: str, target: Path) -> BaseBackup:
    """Try `pg_basebackup` (tar, compressed, with the WAL it needs, fast checkpoint) of
    the whole cluster of `server_url` into the directory `target`. It only reads (and
    asks the server for a checkpoint), so it is safe on a shared server; it needs a
    role with REPLICATION and a `replication` line in pg_hba.conf. Never raises: a
    refusal comes back as `reason`."""
    if shutil.which("pg_basebackup") is None:
        return BaseBackup(False, reason="pg_basebackup is not on PATH")
    env = postgres_environment(server_url)
    started = time.perf_counter()
    arguments = [f"--pgdata={target}", "--format=tar", "--gzip", "--wal-method=stream"]
    arguments += ["--checkpoint=fast", "--no-sync"]
    try:
        await _run("pg_basebackup", arguments, env, "BASE_BACKUP_FAILED")
    except BackupError as error:
        shutil.rmtree(target, ignore_errors=True)
        return BaseBackup(False, reason=error.message)
    return BaseBackup(True, time.perf_counter() - started, _size(target))


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy of `source` (its WAL included)
    while other connections go on reading and writing it."""
    if not source.exists():
        raise BackupError(f"no database file at {source}", code="SOURCE_MISSING")
    if target.exists():
        raise BackupError(f"{target} exists already", code="TARGET_EXISTS")
    with (
        contextlib.closing(sqlite3.connect(source)) as reading,
        contextlib.closing(sqlite3.connect(target)) as writing,
    ):
        reading.backup(writing)
        # A file that stands alone: no -wal beside it to lose.
        writing.execute("PRAGMA journal_mode = DELETE")


async def backup_sqlite(source: Path, target: Path) -> Copy:
    """An online copy of the SQLite database `source` into `target` (a new file)."""
    started = time.perf_counter()
    await asyncio.to_thread(_sqlite_copy, source, target)
    return Copy(target, _size(target), time.perf_counter() - started)


async def restore_sqlite(source: Path, target: Path) -> Copy:
    """The backup `source` restored as the new database file `target`, which must not
    exist (a restore never writes over a database), and its integrity checked."""
    copied = await backup_sqlite(source, target)
    verdict = await asyncio.to_thread(integrity_check, target)
    if verdict != "ok":
        raise BackupError(f"{target}: integrity check: {verdict}", code="RESTORE_FAILED")
    return copied


def integrity_check(path: Path) -> str:
    """SQLite's `PRAGMA integrity_check` of a file: "ok", or what is wrong."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows)


async def archive_files(directory: Path, target: Path) -> Copy:
    """Every file under `directory` (uploads, contract PDFs) into the tar archive
    `target`. The files are never changed once written (storage.py), so no snapshot is
    needed: a file written during the copy is in the next one."""
    started = time.perf_counter()

    def write() -> None:
        with tarfile.open(target, "w") as archive:
            if directory.exists():
                archive.add(directory, arcname=".")

    await asyncio.to_thread(write)
    return Copy(target, _size(target), time.perf_counter() - started)


async def restore_files(archive: Path, directory: Path) -> Copy:
    """The archive unpacked into `directory`, which must be absent or empty; names that
    would land outside it (`..`, absolute paths, links) are refused."""
    started = time.perf_counter()

    def unpack() -> None:
        if directory.exists() and any(directory.iterdir()):
            raise BackupError(f"{directory} is not empty", code="TARGET_EXISTS")
        directory.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as source:
            source.extractall(directory, filter="data")

    try:
        await asyncio.to_thread(unpack)
    except (tarfile.TarError, OSError) as error:
        raise BackupError(f"{archive}: {error}", code="RESTORE_FAILED") from error
    return Copy(directory, _size(directory), time.perf_counter() - started)


def files_manifest(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under `directory`, by its path relative to it."""
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
