"""What a store holds, and whether a restored platform is whole.

`snapshot` records, before a backup and again after the restore, the rows of every table
of the platform's database and of the provider's books, every ledger account's balance
and every stored file's hash; `differences` lists what changed. `verify_platform` runs
the platform's own checks: `ledger.check` (every journal sums to zero, every balance is
the sum of its postings, nothing negative that may not be), `oplog.verify` (the hash
chain from the first entry to the head) and the daily reconciliation of the business
day against the provider (its statement, the platform's side and every custody
account's balances, services/reconciliation). Take the snapshot before
`verify_platform`: the checks write (the log's waiting entries are sealed, the
reconciliation run is recorded).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from tortoise import connections

from models.finance import BreakState, ReconciliationBreak, RunStatus
from models.ledger import LedgerAccount
from services.backup.dumps import files_manifest
from services.kit.db import is_postgres
from services.kit.settings import get_settings
from services.money import ledger
from services.platform import clock, oplog
from services.reconciliation import run_daily


@dataclass(frozen=True)
class Snapshot:
    """What the three stores hold, in numbers that must survive a backup and restore."""

    platform_rows: dict[str, int]
    provider_rows: dict[str, int]
    balances: dict[str, int]
    files: dict[str, str] = field(repr=False)

    def totals(self) -> dict[str, int]:
        return {
            "platform_tables": len(self.platform_rows),
            "platform_rows": sum(self.platform_rows.values()),
            "provider_rows": sum(self.provider_rows.values()),
            "ledger_accounts": len(self.balances),
            "files": len(self.files),
        }


async def platform_rows() -> dict[str, int]:
    """Rows per table of the platform's database (every table the catalog lists, the
    migrations' own included)."""
    connection = connections.get("default")
    if is_postgres(get_settings().database_url):
        listed = await connection.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        )
    else:
        listed = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    counts = {}
    for name in sorted(str(row["name"]) for row in listed):
        rows = await connection.execute_query_dict(f'SELECT COUNT(*) AS n FROM "{name}"')
        counts[name] = int(rows[0]["n"])
    return counts


def provider_rows(path: Path) -> dict[str, int]:
    """Rows per table of the sandbox provider's books (an SQLite file)."""
    with contextlib.closing(sqlite3.connect(path)) as books:
        names = [
            str(row[0])
            for row in books.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            name: int(books.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
            for name in names
        }


async def snapshot(*, provider_books: Path, storage: Path) -> Snapshot:
    """The platform's rows and balances (through Tortoise's connection), the provider's
    rows and the stored files' hashes."""
    balances = dict(
        cast(list[tuple[str, int]], await LedgerAccount.all().values_list("code", "balance"))
    )
    return Snapshot(
        await platform_rows(),
        provider_rows(provider_books),
        {code: int(value) for code, value in sorted(balances.items())},
        files_manifest(storage),
    )


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What a restore did not bring back as it was, one line each (empty: all equal)."""
    found = []
    for label, old, new in (
        ("platform", before.platform_rows, after.platform_rows),
        ("provider", before.provider_rows, after.provider_rows),
        ("balance", before.balances, after.balances),
    ):
        for name in sorted(old.keys() | new.keys()):
            if old.get(name) != new.get(name):
                found.append(f"{label} {name}: {old.get(name)} before, {new.get(name)} after")
    missing = sorted(before.files.keys() - after.files.keys())
    changed = sorted(
        name
        for name in before.files.keys() & after.files.keys()
        if before.files[name] != after.files[name]
    )
    extra = sorted(after.files.keys() - before.files.keys())
    found += [f"file {name}: missing" for name in missing]
    found += [f"file {name}: content differs" for name in changed]
    found += [f"file {name}: not in the backup" for name in extra]
    return found


@dataclass(frozen=True)
class Verdict:
    """The platform's own checks on a (restored) database."""

    ledger: dict[str, Any]
    operation_log: dict[str, Any]
    reconciliation: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(
            self.ledger["ok"] and self.operation_log["valid"] and self.reconciliation["clean"]
        )

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


async def verify_platform() -> Verdict:
    """Ledger, operation log and reconciliation of today's business day with the provider
    (which must be installed: the app's lifespan does it). Clean reconciliation: the run
    COMPLETED and no break is open, new or old."""
    checked = await ledger.check()
    chain = await oplog.verify()
    run = await run_daily(day=await clock.today())
    open_breaks = await ReconciliationBreak.filter(state=BreakState.OPEN).order_by("id")
    kinds: dict[str, int] = {}
    for found in open_breaks:
        kinds[str(found.kind)] = kinds.get(str(found.kind), 0) + 1
    return Verdict(
        ledger={
            "ok": checked.ok,
            "unbalanced_journals": checked.unbalanced_journals,
            "drifted_accounts": checked.drifted_accounts,
            "negative_accounts": checked.negative_accounts,
        },
        operation_log={
            "valid": chain.valid,
            "entries": chain.checked,
            "first_bad_seq": chain.first_bad_seq,
            "problem": chain.problem,
        },
        reconciliation={
            "clean": run.status == RunStatus.COMPLETED and not open_breaks,
            "day": run.day.isoformat(),
            "status": str(run.status),
            "error": run.error,
            "statement_lines": run.statement_lines,
            "matched": run.matched,
            "accounts_checked": run.accounts_checked,
            "open_breaks": kinds,
            "accounts": sorted({found.account for found in open_breaks if found.account}),
        },
    )
