"""The sandbox provider's machinery (see services/payments/sandbox/core.py for its rules)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from services.payments.provider import (
    ProviderResult,
    ProviderStatus,
    TransactionKind,
)
from services.payments.sandbox.common import (
    _T,
    CALLBACK_KINDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Deliver,
    NotFoundError,
    NowFn,
    RequestConflictError,
    StateConflictError,
    TodayFn,
    _Action,
    _new_id,
    _real_now,
    _real_today,
    _result,
    check_request_id,
    sign_callback,
)
from services.payments.sandbox.faults import FaultConfig
from services.payments.sandbox.store import Row, SandboxStore, Tx

logger = logging.getLogger(__name__)


class SandboxEngine:
    """The sandbox's machinery: its store, life cycle, faults, the one path every instruction
    takes (idempotent by request id, one transaction) and the callbacks it delivers."""

    def __init__(
        self,
        *,
        database: str,
        webhook_secret: str,
        deliver: Deliver,
        today: TodayFn | None = None,
        now: NowFn | None = None,
        faults: FaultConfig | None = None,
        seed: int = 0,
        public_url: str = "http://127.0.0.1:8100",
    ) -> None:
        self.store = SandboxStore(database)
        self._webhook_secret = webhook_secret
        self._deliver_callable = deliver
        self._today = today or _real_today
        self._now = now or _real_now
        self._initial_faults = faults
        self._faults = faults or FaultConfig()
        self.rng = random.Random(seed)
        self._public_url = public_url.rstrip("/")
        self._fingerprint_key = b""
        self._start_lock = asyncio.Lock()
        # One deliverer at a time, so a flush and an immediate delivery never send the
        # same event concurrently (which would look like a duplicate fault).
        self._delivery_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Open the SQLite file (creating the tables) and load the fault configuration:
        faults given at construction replace the stored ones, else the stored ones apply."""
        async with self._start_lock:
            if self.store.is_open:
                return
            await self.store.open()
            async with self.store.transaction() as tx:
                # A per-database key for request fingerprints: the file then holds no
                # plain hash of a card or ID number that could be brute-forced.
                await tx.run(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('fingerprint_key', ?)",
                    (secrets.token_hex(32),),
                )
                row = await tx.one("SELECT value FROM meta WHERE key = 'fingerprint_key'")
                assert row is not None
                self._fingerprint_key = bytes.fromhex(row["value"])
                if self._initial_faults is not None:
                    await self._save_faults(tx, self._initial_faults)
                else:
                    stored = await tx.one("SELECT config FROM faults WHERE id = 1")
                    if stored is not None:
                        self._faults = FaultConfig.from_json(json.loads(stored["config"]))

    async def aclose(self) -> None:
        """Wait for callbacks being delivered and work the client gave up on, then close."""
        await self.drain()
        await self.store.close()

    def spawn(self, coroutine: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run `coroutine` as a task that `drain()` and `aclose()` wait for."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        # Retrieve the exception so asyncio does not report it as never retrieved: a
        # caller awaiting the task sees it, and delivery errors are logged where caught.
        if not task.cancelled():
            task.exception()

    async def drain(self) -> None:
        """Wait until every background task (callback deliveries, shielded work) ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def faults(self) -> FaultConfig:
        """The fault configuration in force."""
        return self._faults

    async def set_faults(self, faults: FaultConfig, *, seed: int | None = None) -> None:
        """Replace the fault configuration (stored, so a restart keeps it); `seed`
        restarts the random sequence."""
        async with self.store.transaction() as tx:
            await self._save_faults(tx, faults)
        if seed is not None:
            self.rng.seed(seed)

    async def _save_faults(self, tx: Tx, faults: FaultConfig) -> None:
        await tx.run(
            "INSERT INTO faults (id, config) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET config = excluded.config",
            (json.dumps(faults.to_json()),),
        )
        self._faults = faults

    def roll(self, rate: float) -> bool:
        """True with probability `rate`; draws nothing when the rate is 0, so turning
        one fault on does not shift the sequence another fault sees."""
        return rate > 0 and self.rng.random() < rate

    def _fingerprint(self, kind: TransactionKind, amount_fen: int, content: dict[str, Any]) -> str:
        canonical = json.dumps(
            {"kind": kind.value, "amount_fen": amount_fen, **content},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hmac.new(self._fingerprint_key, canonical.encode(), hashlib.sha256).hexdigest()

    async def _instruction(
        self,
        kind: TransactionKind,
        request_id: str,
        amount_fen: int,
        content: dict[str, Any],
        action: _Action,
    ) -> ProviderResult:
        """Idempotency, the action and its record in one SQLite transaction; callbacks
        of a final DEPOSIT/WITHDRAW are delivered afterwards in the background (the
        platform may still hold locks while it waits for this answer)."""
        check_request_id(request_id)
        fingerprint = self._fingerprint(kind, amount_fen, content)
        today = await self._today()
        now = await self._now()
        async with self.store.transaction() as tx:
            existing = await tx.one(
                "SELECT * FROM transactions WHERE request_id = ?", (request_id,)
            )
            if existing is not None:
                if existing["fingerprint"] != fingerprint:
                    raise RequestConflictError(
                        f"request_id {request_id} was already used with different content"
                    )
                return _result(existing)
            outcome = await action(tx, today)
            final = outcome.status != ProviderStatus.PENDING
            await tx.run(
                "INSERT INTO transactions (request_id, provider_ref, kind, status, amount_fen,"
                " account_id, counter_account_id, mode, fingerprint, reason, extra,"
                " accepted_day, due_day, created_at, settled_day, settled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    _new_id("SBT"),
                    kind.value,
                    outcome.status.value,
                    amount_fen,
                    outcome.account_id,
                    outcome.counter_account_id,
                    str(outcome.mode),
                    fingerprint,
                    outcome.reason,
                    json.dumps(outcome.extra, sort_keys=True),
                    today.isoformat(),
                    outcome.due_day.isoformat() if outcome.due_day else None,
                    now.isoformat(),
                    today.isoformat() if final else None,
                    now.isoformat() if final else None,
                ),
            )
            row = await tx.one("SELECT * FROM transactions WHERE request_id = ?", (request_id,))
            assert row is not None
            events = await self._record_callback(tx, row, now) if final else []
        await self._after_commit(events, inline=False)
        return _result(row)

    async def _finish_pending(
        self,
        request_id: str,
        change: Callable[[Tx, Row], Awaitable[tuple[ProviderStatus, str]]],
    ) -> ProviderResult:
        check_request_id(request_id)
        today = await self._today()
        now = await self._now()
        async with self.store.transaction() as tx:
            row = await tx.one("SELECT * FROM transactions WHERE request_id = ?", (request_id,))
            if row is None:
                raise NotFoundError(f"no transaction {request_id}")
            if row["status"] != ProviderStatus.PENDING:
                raise StateConflictError(f"transaction {request_id} is already {row['status']}")
            status, reason = await change(tx, row)
            await tx.run(
                "UPDATE transactions SET status = ?, reason = ?, settled_day = ?, settled_at = ?"
                " WHERE request_id = ?",
                (status.value, reason, today.isoformat(), now.isoformat(), request_id),
            )
            updated = await tx.one("SELECT * FROM transactions WHERE request_id = ?", (request_id,))
            assert updated is not None
            events = await self._record_callback(tx, updated, now)
        await self._after_commit(events, inline=True)
        return _result(updated)

    async def _card_bound(self, tx: Tx, card_id: str, account_id: str) -> bool:
        row = await tx.one(
            "SELECT id FROM cards WHERE id = ? AND account_id = ?", (card_id, account_id)
        )
        return row is not None

    async def _move(
        self,
        tx: Tx,
        account_id: str,
        source: str,
        target: tuple[str, str] | None,
        amount_fen: int,
    ) -> bool:
        """Take `amount_fen` from `source` (a balance column) of `account_id` and, when
        `target` is (account, column), add it there. False, with nothing changed, when
        the source is short: the check and the debit are one conditional UPDATE."""
        # Column names are interpolated into SQL: only these two can ever be.
        columns = ("available_fen", "frozen_fen")
        assert source in columns
        assert target is None or target[1] in columns
        taken = await tx.run(
            f"UPDATE accounts SET {source} = {source} - ? WHERE id = ? AND {source} >= ?",
            (amount_fen, account_id, amount_fen),
        )
        if taken != 1:
            return False
        if target is not None:
            await tx.run(
                f"UPDATE accounts SET {target[1]} = {target[1]} + ? WHERE id = ?",
                (amount_fen, target[0]),
            )
        return True

    async def _record_callback(self, tx: Tx, row: Row, now: datetime) -> list[str]:
        """Write the callback for a transaction that reached a final state into the
        outbox; returns its event id, or nothing when the drop fault swallows it."""
        if row["kind"] not in CALLBACK_KINDS:
            return []
        event_id = _new_id("SBE")
        body = json.dumps(
            {
                "event_id": event_id,
                "request_id": row["request_id"],
                "kind": row["kind"],
                "status": row["status"],
                "amount_fen": row["amount_fen"],
                "occurred_at": now.isoformat(),
                "reason": row["reason"],
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        dropped = self.roll(self._faults.drop_callback_rate)
        await tx.run(
            "INSERT INTO callbacks (event_id, request_id, body, dropped, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (event_id, row["request_id"], body, int(dropped), now.isoformat()),
        )
        return [] if dropped else [event_id]

    async def _after_commit(self, event_ids: list[str], *, inline: bool) -> None:
        # reorder_callbacks holds everything for the next flush (redeliver_pending).
        if not event_ids or self._faults.reorder_callbacks:
            return
        if inline:
            await self._deliver(event_ids, newest_first=False)
        else:
            self.spawn(self._deliver(event_ids, newest_first=False))

    async def _deliver(self, event_ids: list[str] | None, *, newest_first: bool) -> int:
        """Send the given (or all) pending callbacks; failures stay pending."""
        delivered = 0
        async with self._delivery_lock:
            order = "DESC" if newest_first else "ASC"
            async with self.store.transaction() as tx:
                rows = await tx.all(
                    "SELECT event_id, body FROM callbacks WHERE delivered = 0 AND dropped = 0"
                    f" ORDER BY seq {order}"
                )
            for row in rows:
                if event_ids is not None and row["event_id"] not in event_ids:
                    continue
                if await self._send_callback(row["event_id"], bytes(row["body"])):
                    delivered += 1
        return delivered

    async def _send_callback(self, event_id: str, body: bytes) -> bool:
        copies = 2 if self.roll(self._faults.duplicate_callback_rate) else 1
        error = ""
        sent = 0
        for _ in range(copies):
            # Signed at each attempt: a retry hours later must still look fresh.
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign_callback(self._webhook_secret, timestamp, body),
            }
            try:
                await self._deliver_callable(body, headers)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                logger.warning("sandbox callback %s not delivered: %s", event_id, error)
                break
            sent += 1
        async with self.store.transaction() as tx:
            await tx.run(
                "UPDATE callbacks SET attempts = attempts + 1, last_error = ?,"
                " delivered = MAX(delivered, ?), delivered_at = COALESCE(delivered_at, ?)"
                " WHERE event_id = ?",
                (
                    error,
                    int(sent > 0),
                    datetime.now(UTC).isoformat() if sent else None,
                    event_id,
                ),
            )
        return sent > 0
