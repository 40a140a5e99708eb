"""The drill's `--tamper` part: a restore corrupted on purpose, three ways, each of
which the checks must catch."""

from __future__ import annotations

from typing import Any

from app.backup_check.drill import Drill, checks_line, platform_on, point_at


async def tampered(drill: Drill) -> bool:
    """Corrupt the restore two ways and check again; True when both were caught."""
    from tortoise import connections

    from services.backup import checks, dumps

    caught: dict[str, Any] = {}
    async with platform_on(drill.restored_url()):
        connection = connections.get("default")
        await connection.execute_script(
            "UPDATE ledger_postings SET amount = amount + 100"
            " WHERE id = (SELECT MIN(id) FROM ledger_postings)"
        )
        await connection.execute_script(
            "UPDATE operation_log SET result = result || '!' WHERE seq = 2"
        )
        verdict = await checks.verify_platform()
        caught["edited_rows"] = {
            "caught": not verdict.ledger["ok"] and not verdict.operation_log["valid"],
            "ledger": verdict.ledger,
            "operation_log": verdict.operation_log,
        }
        drill.say(f"tamper   a posting +1.00 and a log entry edited: {checks_line(verdict)}")
        await connection.execute_script(
            "UPDATE ledger_postings SET amount = amount - 100"
            " WHERE id = (SELECT MIN(id) FROM ledger_postings)"
        )
        await connection.execute_script(
            "UPDATE operation_log SET result = SUBSTR(result, 1, LENGTH(result) - 1) WHERE seq = 2"
        )
    # The provider's books from a copy older than the platform's database.
    earlier = drill.restored / "provider-books-earlier.sqlite3"
    await dumps.restore_sqlite(drill.backups / "provider-books-earlier.sqlite3", earlier)
    point_at(drill.restored_url(), earlier, drill.restored / "storage")
    async with platform_on(drill.restored_url()):
        verdict = await checks.verify_platform()
    caught["provider_behind"] = {
        "caught": not verdict.reconciliation["clean"],
        "reconciliation": verdict.reconciliation,
    }
    drill.say(f"tamper   the provider's books from an earlier point: {checks_line(verdict)}")
    # The platform's database from the earlier point, the provider's books current: a
    # point-in-time recovery of the platform while a real provider went on.
    await drill.restore_database("platform-earlier", "earlier")
    point_at(
        drill.restored_url("earlier"),
        drill.restored / "provider-books.sqlite3",
        drill.restored / "storage",
    )
    async with platform_on(drill.restored_url("earlier")):
        verdict = await checks.verify_platform()
    caught["platform_behind"] = {
        "caught": not verdict.reconciliation["clean"],
        "reconciliation": verdict.reconciliation,
    }
    drill.say(f"tamper   the platform's database from an earlier point: {checks_line(verdict)}")
    drill.summary["tampered"] = caught
    return all(found["caught"] for found in caught.values())
