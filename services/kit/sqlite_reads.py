"""The embedded SQLite database with reads apart (a tortoise engine: `services.kit.db`
selects it for every `sqlite://` URL on a file).

tortoise's SQLite client has one connection and one lock: a transaction holds the lock
from BEGIN to COMMIT, and every other statement of the process waits for it. A page view
that only reads then queues behind every bid, dispatcher pass and job in flight (measured:
`loan(id)` p99 over 400 ms while bids run, against 175 ms on PostgreSQL). Here a plain
SELECT outside any transaction goes to a second, read-only connection on the same file
instead: in WAL mode a reader never waits for the writer and sees every transaction
committed before it starts (what READ COMMITTED gives on PostgreSQL). Statements inside a
transaction, and every write, stay on the writer's connection, under its lock, as before.
An in-memory database has no second connection: everything stays on the one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient, translate_exceptions


def _is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class ReadsApartSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self._reader: aiosqlite.Connection | None = None
        self._reader_lock = asyncio.Lock()
        self._reads_apart = ":memory:" not in file_path and "mode=memory" not in file_path

    async def _reading(self) -> aiosqlite.Connection:
        if self._reader is None:
            reader = await aiosqlite.connect(self.filename, isolation_level=None)
            reader._conn.row_factory = sqlite3.Row
            for pragma in ("query_only=ON", "foreign_keys=ON", "busy_timeout=5000"):
                await (await reader.execute(f"PRAGMA {pragma}")).close()
            self._reader = reader
        return self._reader

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            async with self._reader_lock:
                await reader.close()
        await super().close()

    @translate_exceptions
    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, Sequence[dict[str, Any]]]:
        if not (self._reads_apart and _is_read(query)):
            found: tuple[int, Sequence[dict[str, Any]]] = await super().execute_query(query, values)
            return found
        rows = await self._read(query, values)
        return len(rows), rows

    @translate_exceptions
    async def execute_query_dict(
        self, query: str, values: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        if not (self._reads_apart and _is_read(query)):
            rows: list[dict[str, Any]] = await super().execute_query_dict(query, values)
            return rows
        return list(map(dict, await self._read(query, values)))

    async def _read(self, query: str, values: list[Any] | None) -> list[Any]:
        query = query.replace("\x00", "'||CHAR(0)||'")  # as tortoise's client does
        async with self._reader_lock:
            reader = await self._reading()
            self.log.debug("%s: %s", query, values)
            return list(await reader.execute_fetchall(query, values))


client_class = ReadsApartSqliteClient
