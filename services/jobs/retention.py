"""The retention purge (D2, R6): once a day, what has passed its period goes, never
earlier (docs/retention.md).

The business clock says what today is. Each kind's period is a platform parameter
(services/platform/retention.py); if any is below its legal minimum the purge refuses to
start (RetentionPolicyError, logged as an error) and removes nothing. Otherwise it
removes, kind by kind (services/jobs/retention_rows.py), and logs what went: per table
the count and the ids, never the content. Idempotent: what is gone is not found again,
so a second run the same day (or a run cut off half-way and run again) removes only
what is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from services.jobs import retention_rows as rows
from services.jobs.registry import register
from services.kit.access_log import purge_files
from services.kit.settings import get_settings
from services.platform import clock
from services.platform.loan_parties import Parties, loan_ends
from services.platform.retention import RecordKind, RetentionPolicyError, periods

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeReport:
    """What one run removed: per kind, per table (or access-log file), the ids (the
    files' names)."""

    day: date
    removed: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        counted = {
            kind: {table: len(ids) for table, ids in tables.items()}
            for kind, tables in self.removed.items()
        }
        if self.files:
            counted[RecordKind.ACCESS_LOGS.value] = {"files": len(self.files)}
        return counted

    def tables(self) -> dict[str, list[int]]:
        """Every table's removed ids, whatever the kind."""
        return rows.merge(*self.removed.values())

    @property
    def empty(self) -> bool:
        return not self.files and not any(self.removed.values())


async def purge(*, today: date | None = None) -> PurgeReport:
    """Remove what has passed its retention period as of `today` (default: the business
    clock's day). Raises RetentionPolicyError, removing nothing, when a period in force
    is below its legal minimum."""
    day = today or await clock.today()
    try:
        period = await periods()
    except RetentionPolicyError as error:
        logger.error("retention purge refused, nothing removed: %s", error.message)
        raise
    ends = await loan_ends()
    parties = await Parties.load(ends)
    removed = {
        RecordKind.CONTRACTS.value: await rows.contracts(day, period[RecordKind.CONTRACTS], ends),
        RecordKind.INTERACTION_LOGS.value: await rows.interaction_logs(
            day, period[RecordKind.INTERACTION_LOGS], ends, parties
        ),
        RecordKind.CREDIT_MATERIALS.value: await rows.credit_materials(
            day, period[RecordKind.CREDIT_MATERIALS], parties
        ),
        RecordKind.TRANSACTIONS.value: await rows.transactions(
            day, period[RecordKind.TRANSACTIONS], parties
        ),
    }
    access = period[RecordKind.ACCESS_LOGS]
    files = purge_files(
        get_settings().access_log_dir, passed=lambda file_day: day > access.ends_after(file_day)
    )
    report = PurgeReport(
        day=day,
        removed={kind: tables for kind, tables in removed.items() if tables},
        files=[purged.name for purged in files],
    )
    for kind, tables in report.removed.items():
        for table, ids in tables.items():
            logger.info(
                "retention purge %s, %s: %s %s removed (ids %s)", day, kind, len(ids), table, ids
            )
    for purged in files:
        logger.info(
            "retention purge %s: access log %s removed (%s lines)", day, purged.name, purged.lines
        )
    if report.empty:
        logger.info("retention purge %s: nothing has passed its period", day)
    return report


@register("purge_retention", every_seconds=86_400)
async def purge_retention() -> dict[str, dict[str, int]]:
    """The daily purge; returns the counts per kind and table."""
    return (await purge()).counts()
