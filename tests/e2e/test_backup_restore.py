"""D3: the backup and recovery drill (`python -m app backup-check`, app/backup_check/)
on the current backend: a seeded scratch platform backed up (pg_dump or SQLite's online
backup API, the provider's books, the files), destroyed, restored into a new database and
checked; then the restore corrupted on purpose, which the checks must catch.

The drill runs as its own process (it makes and drops its own databases, as a real
restore would; to save the migrations' seconds it starts from a copy of this run's
migrated database, `--template`), on the business day the test run starts (CLOCK_START,
inherited), so nothing depends on the machine's date.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from services.kit.settings import ROOT
from tests.conftest import BACKEND, DATABASE_URL, POSTGRES_SERVER, TEST_CLOCK_START

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        BACKEND == "postgres" and not (shutil.which("pg_dump") and shutil.which("pg_restore")),
        reason="pg_dump and pg_restore are needed on PATH",
    ),
]


async def _drill(*arguments: str) -> tuple[int, list[str], dict[str, Any]]:
    if BACKEND != "postgres":
        arguments = ("--sqlite", *arguments)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "backup-check",
        *arguments,
        cwd=ROOT,
        env={**os.environ, "BACKUP_POSTGRES_URL": POSTGRES_SERVER},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    lines = stdout.decode().strip().splitlines()
    assert lines, stderr.decode()[-3000:]
    return process.returncode or 0, lines, json.loads(lines[-1])


async def _databases_named(prefix: str) -> list[str]:
    import asyncpg

    connection = await asyncpg.connect(
        POSTGRES_SERVER.replace("postgres://", "postgresql://") + "/test"
    )
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}%"
        )
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


async def test_a_destroyed_platform_is_restored_whole_and_a_corrupted_restore_is_caught():
    # A copy of this run's migrated database instead of migrating anew (seconds saved).
    status, lines, summary = await _drill(
        "--tamper", "--no-base-backup", "--template", DATABASE_URL
    )

    assert status == 0, "\n".join(lines)
    assert summary["ok"] is True
    # Restored into a new database, every table's rows, every balance, every file as before.
    assert summary["counts"]["differences"] == []
    assert summary["counts"]["platform_tables"] > 50
    assert summary["counts"]["provider_rows"] > 0
    assert summary["counts"]["files"] > 0
    checks = summary["checks"]
    assert checks["ledger"] == {
        "ok": True,
        "unbalanced_journals": [],
        "drifted_accounts": [],
        "negative_accounts": [],
    }
    # 3 logins, then a bid, a repayment and a withdrawal, each with its confirmation.
    assert checks["operation_log"]["valid"] is True
    assert checks["operation_log"]["entries"] == 9
    recon = checks["reconciliation"]
    assert (recon["clean"], recon["status"], recon["open_breaks"]) == (True, "COMPLETED", {})
    assert recon["day"] == TEST_CLOCK_START  # the business day, not the machine's
    assert recon["statement_lines"] == recon["matched"] > 0
    for phase in ("backup", "destroy", "restore", "checks", "recovery"):
        assert summary["seconds"][phase] >= 0
    assert any(line.startswith("recovery time (restore + checks):") for line in lines)

    # A posting edited after the restore: its journal no longer sums to zero and its
    # account's balance is not the sum of its postings; an edited log entry breaks the chain.
    edited = summary["tampered"]["edited_rows"]
    assert edited["caught"] is True
    assert edited["ledger"]["ok"] is False
    assert len(edited["ledger"]["unbalanced_journals"]) == 1
    assert len(edited["ledger"]["drifted_accounts"]) == 1
    assert edited["operation_log"]["valid"] is False
    assert (edited["operation_log"]["first_bad_seq"], edited["operation_log"]["problem"]) == (
        2,
        "the entry was altered",
    )
    # The provider's books from a point before the last movements: the bid's freeze, the
    # repayment's split, the withdrawal and its fee are unknown to the provider.
    behind = summary["tampered"]["provider_behind"]["reconciliation"]
    assert behind["clean"] is False
    assert behind["open_breaks"] == {"MISSING_AT_PROVIDER": 4}
    # The platform's database from that earlier point (a point-in-time recovery while the
    # provider went on): the provider's statement lists four movements the platform lacks.
    lost = summary["tampered"]["platform_behind"]["reconciliation"]
    assert lost["clean"] is False
    assert lost["open_breaks"] == {"MISSING_AT_PLATFORM": 4}
    assert lost["accounts"] == behind["accounts"]

    # Nothing left behind.
    assert not await asyncio.to_thread(Path(summary["scratch"]).exists)
    if BACKEND == "postgres":
        assert await _databases_named(summary["database"]) == []


@pytest.mark.parametrize(
    ("arguments", "server", "said"),
    [
        (["--keep-everything"], POSTGRES_SERVER, "unrecognized arguments: --keep-everything"),
        ([], "mysql://root@127.0.0.1:3306", "BACKUP_POSTGRES_URL is not a PostgreSQL URL"),
        (
            ["--sqlite", "--template", "sqlite:///no/such/file.sqlite3"],
            POSTGRES_SERVER,
            "--template must name an existing database of the drill's backend"
            " (a postgres:// URL, or with --sqlite a sqlite:// file)",
        ),
    ],
)
async def test_bad_input_is_one_line_and_changes_nothing(arguments, server, said):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "backup-check",
        *arguments,
        cwd=ROOT,
        env={**os.environ, "BACKUP_POSTGRES_URL": server},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert stdout == b""
    assert stderr.decode().splitlines() == [f"backup-check: {said}"]
    if BACKEND == "postgres":
        assert await _databases_named("lendbridge_backup_") == []
