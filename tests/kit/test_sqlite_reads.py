"""The embedded SQLite database reads apart from its transactions
(services/kit/sqlite_reads.py): a page view is not held up by a transaction in flight,
sees what was committed before it, and never what is not committed yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from services.kit.db import tortoise_config
from tests.conftest import BACKEND

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded SQLite engine"),
]


async def test_a_read_is_not_held_up_by_a_transaction_and_sees_only_committed_rows(
    tmp_path: Path,
):
    from services.kit.sqlite_reads import ReadsApartSqliteClient

    config = tortoise_config(f"sqlite://{tmp_path / 'reads.sqlite3'}")["connections"]["default"]
    client = ReadsApartSqliteClient(**config["credentials"], connection_name="reads-test")
    await client.create_connection(with_db=True)
    try:
        await client.execute_script("CREATE TABLE t (x INTEGER)")
        await client.execute_query("INSERT INTO t VALUES (1)")
        inside = asyncio.Event()
        release = asyncio.Event()

        async def writer() -> None:
            async with client._in_transaction() as tx:
                await tx.execute_query("INSERT INTO t VALUES (2)")
                inside.set()
                await release.wait()  # the transaction stays open meanwhile

        task = asyncio.create_task(writer())
        await inside.wait()
        # Answered while the writer holds its lock: the committed row only.
        _count, rows = await asyncio.wait_for(client.execute_query("SELECT x FROM t"), 2)
        assert [row["x"] for row in rows] == [1]
        release.set()
        await task
        rows_after = await client.execute_query_dict("SELECT x FROM t ORDER BY x")
        assert [row["x"] for row in rows_after] == [1, 2]
        # A write outside a transaction still goes to the writer.
        changed, _rows = await client.execute_query("UPDATE t SET x = x + 10")
        assert changed == 2
        assert [r["x"] for r in await client.execute_query_dict("SELECT x FROM t")] == [11, 12]
    finally:
        await client.close()


async def test_the_app_database_reads_apart_and_writes_on_one_connection():
    client = connections.get("default")
    assert type(client).__name__ == "ReadsApartSqliteClient"
    async with in_transaction() as tx:
        # Inside a transaction every statement is the transaction's: its own writes show.
        await tx.execute_script("CREATE TABLE IF NOT EXISTS reads_probe (x INTEGER)")
        await tx.execute_query("INSERT INTO reads_probe VALUES (7)")
        assert await tx.execute_query_dict("SELECT x FROM reads_probe") == [{"x": 7}]
    assert await client.execute_query_dict("SELECT x FROM reads_probe") == [{"x": 7}]
    await client.execute_script("DROP TABLE reads_probe")
    assert Tortoise._inited
