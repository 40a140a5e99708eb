"""The sandbox provider's own storage: one SQLite file, plain SQL through aiosqlite.

It is deliberately separate from the platform's database: reconciliation compares two
independent records, which proves nothing if both are the same rows.

One connection serves the whole app. Each logical transaction holds an asyncio lock
and runs between `BEGIN IMMEDIATE` and `COMMIT`, so coroutines never interleave their
statements and another process opening the same file waits instead of racing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    member_ref TEXT NOT NULL UNIQUE,
    real_name TEXT NOT NULL,
    available_fen INTEGER NOT NULL DEFAULT 0 CHECK (available_fen >= 0),
    frozen_fen INTEGER NOT NULL DEFAULT 0 CHECK (frozen_fen >= 0),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    card_masked TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    request_id TEXT PRIMARY KEY,
    provider_ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    amount_fen INTEGER NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
    account_id TEXT NOT NULL DEFAULT '',
    counter_account_id TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    accepted_day TEXT NOT NULL,
    due_day TEXT,
    created_at TEXT NOT NULL,
    settled_day TEXT,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS transactions_settled_day ON transactions (settled_day);
CREATE INDEX IF NOT EXISTS transactions_pending ON transactions (status, kind, due_day);
CREATE TABLE IF NOT EXISTS callbacks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL REFERENCES transactions (request_id),
    body BLOB NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
-- The bank's payment page of a GATEWAY/POS deposit: its unguessable token (the last
-- part of pay_url) names one transaction. Written with the transaction, in the same
-- SQLite transaction (hence the deferred reference).
CREATE TABLE IF NOT EXISTS bank_pages (
    token TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE
        REFERENCES transactions (request_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL
);
"""

Row = sqlite3.Row


class Tx:
    """Statements inside one open transaction."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        async with self._connection.execute(sql, tuple(params)) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._connection.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Execute a write; the number of rows it changed."""
        async with self._connection.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def run_many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Execute a write once per row of parameters, as one call."""
        await self._connection.executemany(sql, [tuple(row) for row in rows])


class SandboxStore:
    """Owns the aiosqlite connection. `open()` creates the tables if needed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._connection is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module must not open transactions on its
        # own; `transaction()` issues BEGIN IMMEDIATE / COMMIT / ROLLBACK itself.
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            connection.row_factory = sqlite3.Row
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA busy_timeout = 5000")
            await connection.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL still survives a crash of the process (a commit is in the
            # WAL before COMMIT returns); only a power cut may lose the last ones. FULL
            # would sync the disk at every commit: ~25x slower for a stand-in provider.
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.executescript(SCHEMA)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            async with self._lock:
                await connection.close()

    @property
    def is_open(self) -> bool:
        return self._connection is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One atomic unit: everything inside commits together or not at all."""
        async with self._lock:
            connection = self._connection
            if connection is None:
                raise RuntimeError("the sandbox store is not open")
            await connection.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(connection)
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
