"""The physical limit of a hot loan, measured beside a bench: pgbench's one-row
transaction on the same PostgreSQL server, in the run's own database, with the same
number of clients (at most what the server's `max_connections` leaves free).

The transaction is what a bid must do at the least: move one row's funded amount under
a condition and record the bid.

    UPDATE bench_hot_loan SET funded = funded + :x WHERE id = 1 AND funded + :x <= amount;
    INSERT INTO bench_hot_bid (loan_id, amount, created_at) VALUES (1, :x, now());
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.common import Run

SCRIPT = """\\set x random(1, 100)
BEGIN;
UPDATE bench_hot_loan SET funded = funded + :x WHERE id = 1 AND funded + :x <= amount;
INSERT INTO bench_hot_bid (loan_id, amount, created_at) VALUES (1, :x, now());
END;
"""
TABLES = """
DROP TABLE IF EXISTS bench_hot_bid;
DROP TABLE IF EXISTS bench_hot_loan;
CREATE TABLE bench_hot_loan (id int PRIMARY KEY, amount bigint NOT NULL,
                             funded bigint NOT NULL CHECK (funded <= amount));
INSERT INTO bench_hot_loan VALUES (1, 1000000000000000, 0);
CREATE TABLE bench_hot_bid (id bigserial PRIMARY KEY, loan_id int NOT NULL,
                            amount bigint NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX ON bench_hot_bid (loan_id);
"""
# Connections kept free for the API process's pool and the bench's own.
_RESERVED_CONNECTIONS = 15


@dataclass(frozen=True)
class HotRow:
    clients: int  # pgbench clients actually run
    tps: float  # transactions per second, connection time excluded
    cpu: dict[str, float]  # CPU ms per transaction by process group (bench/cpu.py)


def _libpq_url(run: Run) -> str:
    return run.database_url.split("?")[0].replace("asyncpg://", "postgresql://", 1)


async def _sql(run: Run, sql: str) -> list[str]:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(_libpq_url(run).replace("postgres://", "postgresql://"))
    try:
        if sql.lstrip().upper().startswith("SHOW"):
            return [str(await connection.fetchval(sql))]
        await connection.execute(sql)
        return []
    finally:
        await connection.close()


async def hot_row(run: Run, clients: int, seconds: int = 10) -> HotRow:
    """pgbench's hot-row transaction with `clients` clients (capped by the server's
    `max_connections`) for `seconds`; its tables are dropped afterwards."""
    binary = shutil.which("pgbench")
    if binary is None:
        raise SystemExit("pgbench is not installed (apt-get install postgresql-client)")
    assert run.database_name, "pgbench needs the run's PostgreSQL database"
    limit = int((await _sql(run, "SHOW max_connections"))[0]) - _RESERVED_CONNECTIONS
    clients = max(1, min(clients, limit))
    await _sql(run, TABLES)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            script = Path(scratch) / "hot_row.sql"
            script.write_text(SCRIPT)
            before = cpu.sample()
            process = await asyncio.create_subprocess_exec(
                *(binary, "-n", "-f", str(script), "-c", str(clients), "-j", "2"),
                *("-T", str(seconds), _libpq_url(run)),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output = (await process.communicate())[0].decode(errors="replace")
            after = cpu.sample()
        if process.returncode:
            raise SystemExit(f"pgbench failed:\n{output[-2000:]}")
        match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
        if match is None:
            raise SystemExit(f"no tps in pgbench's output:\n{output[-2000:]}")
        tps = float(match.group(1))
        # pgbench runs as a child of this process: its own CPU is in the "bench" group.
        return HotRow(clients, tps, cpu.per_unit(before, after, round(tps * seconds)))
    finally:
        await _sql(run, "DROP TABLE IF EXISTS bench_hot_bid; DROP TABLE IF EXISTS bench_hot_loan")
