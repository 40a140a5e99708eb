"""A new SQLite database as a copy of one migrated before on this machine.

Applying the migrations to an empty database takes tortoise several seconds (it builds
the models' state again for each migration), and the test suite and the simulate
command make dozens of new databases. The first new SQLite database migrated with a
given set of migrations is kept in the user's cache (`USER_CACHE/migrated`, named by a
hash of every file in migrations/ and tortoise's version); later new databases are copies
of it. A database that is not new is migrated as always.

On PostgreSQL the test run migrates one template database at its start and names it in
`TEMPLATE_ENV`; the test databases and the scratch databases of the simulate runs it
starts are made from it (`CREATE DATABASE ... TEMPLATE`) instead of migrated, and the
run drops it at its end. Nothing here is for prod: only scratch and test databases are
made this way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import tortoise

import cli
from services.kit.settings import USER_CACHE

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def _key() -> str:
    digest = hashlib.sha256(tortoise.__version__.encode())
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:24]


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite DATABASE_URL (None for any other database)."""
    if not database_url.startswith("sqlite://"):
        return None
    return Path(database_url.removeprefix("sqlite://").split("?")[0])


def _is_new(path: Path) -> bool:
    return not path.exists() or path.stat().st_size == 0


def _checkpoint(path: Path) -> None:
    """Everything in the main file (the copy takes that file alone)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def migrate(database_url: str) -> None:
    """`cli.migrate(database_url)`, for a new SQLite file by copying the cached one."""
    path = sqlite_file(database_url)
    if path is None or not _is_new(path):
        with contextlib.redirect_stdout(None):
            await cli.migrate(database_url)
        return
    cached = USER_CACHE / "migrated" / f"{_key()}.sqlite3"
    if cached.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(cached, path)
        return
    with contextlib.redirect_stdout(None):
        await cli.migrate(database_url)
    _checkpoint(path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=cached.parent, suffix=".part")
    os.close(handle)
    shutil.copyfile(path, temporary)
    os.replace(temporary, cached)  # whole or not at all, whoever else writes it too


#: The migrated PostgreSQL database new scratch and test databases are copies of, when
#: a test run made one (tests/conftest.py).
TEMPLATE_ENV = "LENDBRIDGE_PG_TEMPLATE"


def postgres_template() -> str | None:
    return os.environ.get(TEMPLATE_ENV) or None
