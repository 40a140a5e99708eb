"""Operation log (M11.2): every mutation — who, what, when, from where, result.

Entries form a hash chain: each stores the SHA-256 of its own content and of the entry
before it, and a head row keeps the last sequence number and hash. Editing any entry,
deleting one (a gap or a broken link) or cutting off the newest (the head no longer
matches) is found by `verify`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from models.system import OperationLogEntry, OperationLogHead
from services.pages import Page
from services.platform.clock import system_now

if TYPE_CHECKING:
    from services.identity.permissions import Actor

GENESIS = "0" * 64
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


def _fields(entry: OperationLogEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "operation": entry.operation,
        "arguments": entry.arguments,
        "client_ip": entry.client_ip,
        "user_agent": entry.user_agent,
        "result": entry.result,
        "trace_id": entry.trace_id,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
        "prev_hash": entry.prev_hash,
    }


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
    """Append one entry; the head row is locked so the chain has one order."""
    async with in_transaction():
        head = await OperationLogHead.filter(id=1).select_for_update().first()
        if head is None:
            await OperationLogHead.get_or_create(
                id=1, defaults={"last_seq": 0, "last_hash": GENESIS}
            )
            head = await OperationLogHead.filter(id=1).select_for_update().first()
            assert head is not None
        entry = OperationLogEntry(
            seq=head.last_seq + 1,
            actor_id=actor.user_id,
            actor_label=actor.label,
            operation=operation[:128],
            arguments=redact(arguments),
            client_ip=client_ip[:64],
            user_agent=user_agent[:255],
            result=result[:128],
            trace_id=trace_id,
            created_at=system_now(),
            prev_hash=head.last_hash,
        )
        entry.entry_hash = _entry_hash(_fields(entry))
        await entry.save()
        await OperationLogHead.filter(id=1).update(last_seq=entry.seq, last_hash=entry.entry_hash)
    return entry


@dataclass(frozen=True)
class VerifyReport:
    valid: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


async def verify(*, batch: int = 1000) -> VerifyReport:
    """Walk the chain in order and recompute every hash."""
    head = await OperationLogHead.get_or_none(id=1)
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    last_id = 0
    while True:
        entries = await OperationLogEntry.filter(id__gt=last_id).order_by("id").limit(batch)
        if not entries:
            break
        for entry in entries:
            last_id = entry.id
            if entry.seq != expected_seq:
                return VerifyReport(False, checked, expected_seq, "an entry is missing")
            if entry.prev_hash != expected_prev:
                return VerifyReport(
                    False, checked, entry.seq, "the link to the previous entry is broken"
                )
            if _entry_hash(_fields(entry)) != entry.entry_hash:
                return VerifyReport(False, checked, entry.seq, "the entry was altered")
            expected_prev = entry.entry_hash
            expected_seq += 1
            checked += 1
    head_seq = head.last_seq if head else 0
    head_hash = head.last_hash if head else GENESIS
    if head_seq != checked or head_hash != expected_prev:
        return VerifyReport(False, checked, checked + 1, "the newest entries were removed")
    return VerifyReport(True, checked, None, None)


async def list_entries(*, first: int, before_seq: int | None = None) -> Page[OperationLogEntry]:
    """Newest first, `first` entries older than `before_seq`."""
    total = await OperationLogEntry.all().count()
    query = OperationLogEntry.all().order_by("-seq")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    return Page(rows=await query.limit(first), total=total)
