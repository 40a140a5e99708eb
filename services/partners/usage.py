"""Partners' requests counted per business day, operation and outcome.

Each process adds up its own counts in memory and writes them every
`PARTNER_USAGE_FLUSH_SECONDS` (and when it stops) in one statement that adds to the
stored rows, so counting costs a request nothing and no count is lost or taken twice
between processes. Reading usage first writes what this process holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from tortoise.transactions import in_transaction

from models.partners import PartnerUsage
from services.errors import InvalidInputError, PermissionDeniedError
from services.identity.permissions import Actor
from services.kit.db import param
from services.platform import clock

log = logging.getLogger(__name__)

Key = tuple[int, date, str, str]  # partner id, business day, operation, outcome
_pending: Counter[Key] = Counter()
_lock = asyncio.Lock()


def count(partner_id: int, day: date, operation: str, outcome: str) -> None:
    _pending[(partner_id, day, operation[:64] or "-", outcome[:48] or "-")] += 1


async def flush() -> int:
    """Write the counts this process holds; returns how many rows it touched. Counts
    that could not be written are kept for the next flush."""
    async with _lock:
        if not _pending:
            return 0
        taken = dict(_pending)
        _pending.clear()
        try:
            async with in_transaction() as connection:
                p = [param(connection, n) for n in range(1, 6)]
                sql = (
                    "INSERT INTO partner_usage (partner_id, day, operation, outcome, count)"
                    f" VALUES ({', '.join(p)})"
                    " ON CONFLICT (partner_id, day, operation, outcome)"
                    " DO UPDATE SET count = partner_usage.count + excluded.count"
                )
                for (partner_id, day, operation, outcome), n in sorted(taken.items()):
                    await connection.execute_query(sql, [partner_id, day, operation, outcome, n])
        except Exception:
            _pending.update(taken)
            raise
        return len(taken)


def forget_pending() -> None:
    """Drop the counts not yet written (tests, after emptying the database)."""
    _pending.clear()


async def flush_quietly() -> None:
    try:
        await flush()
    except Exception:
        log.exception("partner usage: flush failed; the counts are kept")


async def flush_forever(stop: asyncio.Event, seconds: float) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass
        await flush_quietly()


@dataclass(frozen=True)
class UsageRow:
    day: date
    operation: str
    outcome: str
    count: int


async def usage(partner_id: int, since: date, until: date) -> list[UsageRow]:
    """The partner's counts from `since` to `until` (business days, both included)."""
    await flush()
    rows = await PartnerUsage.filter(
        partner_id=partner_id, day__gte=since, day__lte=until
    ).order_by("day", "operation", "outcome")
    return [UsageRow(row.day, row.operation, row.outcome, row.count) for row in rows]


MAX_USAGE_DAYS = 92


async def own_usage(actor: Actor, since: date | None, until: date | None) -> list[UsageRow]:
    """A partner's own counts, by the key it calls with: the last 7 business days unless
    it names them (at most 92 days; `since` not after `until`)."""
    if actor.partner_id is None:
        raise PermissionDeniedError("Only a partner's key reads its usage")
    until = until or await clock.today()
    since = since or until - timedelta(days=6)
    if since > until:
        raise InvalidInputError("`since` is after `until`", field="since")
    if (until - since).days + 1 > MAX_USAGE_DAYS:
        raise InvalidInputError(f"At most {MAX_USAGE_DAYS} days at once", field="since")
    return await usage(actor.partner_id, since, until)
