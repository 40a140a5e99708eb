"""Operation log (M11.2): every mutation — who, what, when, from where, result.

Entries form a hash chain: each stores the SHA-256 of its own content and of the entry
before it, and a head row keeps the last sequence number and hash. Editing any entry,
deleting one (a gap or a broken link) or cutting off the newest (the head no longer
matches) is found by `verify`.

Appending takes no lock: an entry is inserted with the hash of its content and no place
in the chain yet, so mutations never queue on one row (it was one global hot row, locked
by every mutation of the platform). `seal` then gives the waiting entries their places in
order under the head's lock, a batch at a time: a background loop in every API process
and in the worker, woken by each append (and at once by `verify` and the log's listing,
which show sealed entries only). Until sealed (normally well under a second), an entry is
protected by its content hash alone: an edit is found, a deletion is not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from models.system import OperationLogEntry, OperationLogHead
from services.kit import wakeups
from services.kit.loops import run_until_stopped
from services.pages import Page
from services.platform.clock import system_now

if TYPE_CHECKING:
    from services.identity.permissions import Actor

GENESIS = "0" * 64
SEAL_BATCH = 500
_wake = wakeups.event(wakeups.OPLOG)
_SECRET_KEYS = re.compile(
    r"(password|code|token|secret|phone|idnumber|idcard|card|account_?number|otp|key)", re.I
)
REDACTED = "***"


def redact(value: Any) -> Any:
    """Arguments as logged: values under secret-looking keys replaced by ***."""
    if isinstance(value, dict) and {"name", "value"} <= set(value):
        # A free-form name/value pair (verification fields): the value may be anything.
        return {**redact({k: v for k, v in value.items() if k != "value"}), "value": REDACTED}
    if isinstance(value, dict):
        return {
            key: (REDACTED if _SECRET_KEYS.search(str(key)) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def _entry_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _content(entry: OperationLogEntry) -> dict[str, Any]:
    return {
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "operation": entry.operation,
        "arguments": entry.arguments,
        "client_ip": entry.client_ip,
        "user_agent": entry.user_agent,
        "result": entry.result,
        "trace_id": entry.trace_id,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
    }


def _fields(entry: OperationLogEntry) -> dict[str, Any]:
    """What `entry_hash` covers: the content, its place, and the content's own hash as
    it was at the append (entries sealed before sealing existed have none)."""
    fields = {**_content(entry), "seq": entry.seq, "prev_hash": entry.prev_hash}
    if entry.content_hash is not None:
        fields["content_hash"] = entry.content_hash
    return fields


async def append(
    *,
    actor: Actor,
    operation: str,
    arguments: dict[str, Any],
    client_ip: str,
    user_agent: str,
    result: str,
    trace_id: str,
) -> OperationLogEntry:
    """Insert one entry, not yet sealed (one statement, no lock), and wake the sealer."""
    entry = OperationLogEntry(
        actor_id=actor.user_id,
        actor_label=actor.label,
        operation=operation[:128],
        arguments=redact(arguments),
        client_ip=client_ip[:64],
        user_agent=user_agent[:255],
        result=result[:128],
        trace_id=trace_id,
        created_at=system_now(),
    )
    entry.content_hash = _entry_hash(_content(entry))
    await entry.save()
    wakeups.wake(wakeups.OPLOG)
    return entry


async def seal(*, batch: int = SEAL_BATCH) -> int:
    """Give up to `batch` waiting entries their places in the chain, oldest first (by
    id), under the head's lock; how many. Several processes may call it at once. When
    nothing waits (the sealer's polls, every read of the log) the head is not locked."""
    if not await OperationLogEntry.filter(seq__isnull=True).exists():
        return 0
    async with in_transaction():
        head = await OperationLogHead.filter(id=1).select_for_update().first()
        if head is None:
            await OperationLogHead.get_or_create(
                id=1, defaults={"last_seq": 0, "last_hash": GENESIS}
            )
            head = await OperationLogHead.filter(id=1).select_for_update().first()
            assert head is not None
        waiting = await OperationLogEntry.filter(seq__isnull=True).order_by("id").limit(batch)
        if not waiting:
            return 0
        seq, last = head.last_seq, head.last_hash
        for entry in waiting:
            seq += 1
            entry.seq, entry.prev_hash = seq, last
            entry.entry_hash = last = _entry_hash(_fields(entry))
        await OperationLogEntry.bulk_update(waiting, fields=["seq", "prev_hash", "entry_hash"])
        await OperationLogHead.filter(id=1).update(last_seq=seq, last_hash=last)
    return len(waiting)


async def seal_all() -> int:
    """Seal every entry waiting now; how many."""
    total = 0
    while sealed := await seal():
        total += sealed
    return total


async def run_sealer(stop: asyncio.Event, poll_seconds: float) -> None:
    """Seal until `stop` is set: at once when an append wakes it, else every poll."""
    await run_until_stopped(
        name="operation log sealer",
        step=seal_all,
        wake=_wake,
        stop=stop,
        poll_seconds=poll_seconds,
    )


@dataclass(frozen=True)
class VerifyReport:
    valid: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


async def verify(*, batch: int = 1000) -> VerifyReport:
    """Seal what waits, then walk the chain in order and recompute every hash."""
    await seal_all()
    head = await OperationLogHead.get_or_none(id=1)
    # The chain starts after what the retention purge removed (`prune_through`).
    pruned = head.pruned_seq if head else 0
    expected_prev = head.pruned_hash if head else GENESIS
    expected_seq = pruned + 1
    checked = 0
    last_seq = pruned
    while True:
        entries = await OperationLogEntry.filter(seq__gt=last_seq).order_by("seq").limit(batch)
        if not entries:
            break
        for entry in entries:
            last_seq = entry.seq or 0
            if entry.seq != expected_seq:
                return VerifyReport(False, checked, expected_seq, "an entry is missing")
            if entry.prev_hash != expected_prev:
                return VerifyReport(
                    False, checked, entry.seq, "the link to the previous entry is broken"
                )
            if _entry_hash(_fields(entry)) != entry.entry_hash or (
                entry.content_hash is not None
                and _entry_hash(_content(entry)) != entry.content_hash
            ):
                return VerifyReport(False, checked, entry.seq, "the entry was altered")
            expected_prev = entry.entry_hash
            expected_seq += 1
            checked += 1
    head_seq = head.last_seq if head else 0
    head_hash = head.last_hash if head else GENESIS
    if head_seq != pruned + checked or head_hash != expected_prev:
        return VerifyReport(False, checked, pruned + checked + 1, "the newest entries were removed")
    return VerifyReport(True, checked, None, None)


async def prune_through(seq: int) -> list[int]:
    """Retention (R6, docs/retention.md): delete the sealed entries up to `seq`, oldest
    first, keeping the last one's place and hash on the head as the chain's new foot, so
    the entries left verify as before (an entry removed in the middle would break the
    chain: only the oldest go). Returns the ids removed (none when `seq` is at or below
    the foot). Runs under the head's lock, as sealing does."""
    async with in_transaction():
        head = await OperationLogHead.filter(id=1).select_for_update().first()
        if head is None or seq <= head.pruned_seq:
            return []
        seq = min(seq, head.last_seq)
        last = await OperationLogEntry.get_or_none(seq=seq)
        if last is None or last.entry_hash is None:
            return []
        gone = await OperationLogEntry.filter(seq__gt=head.pruned_seq, seq__lte=seq).values_list(
            "id", flat=True
        )
        await OperationLogEntry.filter(seq__gt=head.pruned_seq, seq__lte=seq).delete()
        await OperationLogHead.filter(id=1).update(pruned_seq=seq, pruned_hash=last.entry_hash)
    return sorted(int(str(entry_id)) for entry_id in gone)


async def list_entries(*, first: int, before_seq: int | None = None) -> Page[OperationLogEntry]:
    """Newest first, `first` sealed entries older than `before_seq` (what waits is
    sealed first)."""
    await seal_all()
    sealed = OperationLogEntry.filter(seq__isnull=False)
    total = await sealed.count()
    query = sealed.order_by("-seq")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    return Page(rows=await query.limit(first), total=total)
