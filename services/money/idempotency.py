"""Idempotency keys for money mutations (architecture "API conventions").

The first request with a key runs; a replay with the same key and the same input gets
the first answer back (success or typed failure) and changes nothing; the same key with
different input is refused (IDEMPOTENCY_KEY_REUSED); a replay while the first is still
running gets IN_PROGRESS. The key is scoped to the member.

The record is committed IN_PROGRESS before the work runs. The work marks it DONE with
its answer inside its own business transaction (`Claim.complete`), so the answer and
the work commit together: a process that dies after that commit leaves a DONE record,
and a replay gets the first answer instead of doing the work twice. A record still
IN_PROGRESS means the work never committed, so one older than `STALE_AFTER` (its
process died) is taken over by the next replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.payments import IdempotencyRecord
from services.errors import DomainError, InvalidInputError
from services.platform.clock import system_now

STALE_AFTER = timedelta(seconds=60)
_DONE = "DONE"
_RUNNING = "IN_PROGRESS"


def _fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, "in": request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Claim:
    """The caller's hold on an idempotency key while its work runs."""

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        self.completed = False

    async def complete(self, response: dict[str, Any]) -> None:
        """Store the answer; call it inside the work's transaction, before it commits."""
        await IdempotencyRecord.filter(id=self.record_id).update(status=_DONE, response=response)
        self.completed = True


def validate_key(key: str) -> str:
    key = (key or "").strip()
    if not 8 <= len(key) <= 128 or not key.isprintable():
        raise InvalidInputError(
            "idempotencyKey must be 8 to 128 printable characters", field="idempotencyKey"
        )
    return key


async def run_once(
    *,
    user_id: int,
    key: str,
    operation: str,
    request: dict[str, Any],
    execute: Callable[[Claim], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `execute` at most once for (user, key); return its JSON-able answer.

    `execute` should call `claim.complete(answer)` in the transaction that commits its
    work (otherwise the answer is stored right after it returns). A DomainError from
    `execute` is stored (code, message, field and details) and raised again on
    every replay.
    Raises DomainError IDEMPOTENCY_KEY_REUSED or IN_PROGRESS.
    """
    key = validate_key(key)
    fingerprint = _fingerprint(operation, request)
    record = await _claim(user_id=user_id, key=key, operation=operation, fingerprint=fingerprint)
    if record.status == _DONE:
        return _replay(record.response or {})
    claim = Claim(record.id)
    try:
        response = await execute(claim)
    except DomainError as error:
        stored = {
            "error": {
                "code": error.code,
                "message": error.message,
                "field": error.field,
                "details": error.details,
            }
        }
        await IdempotencyRecord.filter(id=record.id).update(status=_DONE, response=stored)
        raise
    except BaseException:
        # Unexpected failure: the work rolled back; let a replay run it again.
        await IdempotencyRecord.filter(id=record.id, status=_RUNNING).delete()
        raise
    if not claim.completed:
        await claim.complete(response)
    return response


async def _claim(*, user_id: int, key: str, operation: str, fingerprint: str) -> IdempotencyRecord:
    try:
        async with in_transaction():
            return await IdempotencyRecord.create(
                user_id=user_id, key=key, operation=operation, request_hash=fingerprint
            )
    except IntegrityError:
        pass
    async with in_transaction():
        record = (
            await IdempotencyRecord.filter(user_id=user_id, key=key).select_for_update().first()
        )
        if record is None:  # deleted after a crash between our insert and this read
            return await IdempotencyRecord.create(
                user_id=user_id, key=key, operation=operation, request_hash=fingerprint
            )
        if record.request_hash != fingerprint:
            raise DomainError(
                "This idempotency key was used for a different request",
                code="IDEMPOTENCY_KEY_REUSED",
                field="idempotencyKey",
            )
        if record.status == _RUNNING:
            if system_now() - record.created_at < STALE_AFTER:
                raise DomainError(
                    "The first request with this key is still running", code="IN_PROGRESS"
                )
            record.created_at = system_now()
            await record.save(update_fields=["created_at"])
        return record


def _replay(response: dict[str, Any]) -> dict[str, Any]:
    error = response.get("error")
    if error:
        raise DomainError(
            error["message"],
            code=error["code"],
            field=error.get("field"),
            details=error.get("details"),
        )
    return response
