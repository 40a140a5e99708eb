"""The sandbox provider's business rules: accounts, cards, money movements, settlement,
statements and callbacks, on its own SQLite storage.

Rules every movement follows:
- It is one SQLite transaction: balances, the transaction record and the callback to
  send commit together or not at all (the callback table is an outbox, so a crash after
  commit still delivers it later).
- It is idempotent by request_id: a request_id already seen with the same content
  returns the stored record (its current state) and moves nothing; with different
  content it raises RequestConflictError (HTTP 409). A FAILED answer is stored too, so
  a retry needs a new request_id.
- Balances never go negative: the conditional UPDATE checks first and the table's CHECK
  constraints are the backstop.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from services.payments.provider import (
    DepositChannel,
    ProviderResult,
    ProviderStatus,
    StatementLine,
    TransactionKind,
    WithdrawSpeed,
)
from services.payments.sandbox.faults import FaultConfig
from services.payments.sandbox.store import Row, SandboxStore, Tx

logger = logging.getLogger(__name__)

Deliver = Callable[[bytes, dict[str, str]], Awaitable[None]]
"""Sends one callback (body, headers) to the platform; raises when it was not accepted."""
TodayFn = Callable[[], Awaitable[date]]
NowFn = Callable[[], Awaitable[datetime]]

TIMESTAMP_HEADER = "X-LB-Timestamp"
SIGNATURE_HEADER = "X-LB-Signature"
STATEMENT_COLUMNS = (
    "request_id",
    "kind",
    "account_id",
    "counter_account_id",
    "amount_fen",
    "status",
    "settled_at",
)
# Kinds that move money and so appear in the statement file.
MOVEMENT_KINDS = (
    TransactionKind.DEPOSIT,
    TransactionKind.WITHDRAW,
    TransactionKind.FREEZE,
    TransactionKind.UNFREEZE,
    TransactionKind.TRANSFER,
)
# Kinds whose final state is announced by callback (the others answer synchronously).
CALLBACK_KINDS = (TransactionKind.DEPOSIT, TransactionKind.WITHDRAW)
MAX_AMOUNT_FEN = 10**12  # far below SQLite's 2**63, so sums never overflow
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_CARD_NUMBER = re.compile(r"[0-9]{12,19}")


class InvalidRequestError(ValueError):
    """Malformed input (HTTP 400)."""


class RequestConflictError(Exception):
    """A request_id already used with different content (HTTP 409)."""


class StateConflictError(Exception):
    """The simulated outside world asked for something the transaction's state forbids,
    e.g. paying a deposit that is not pending (HTTP 409)."""


class NotFoundError(LookupError):
    """No such transaction or account (HTTP 404)."""


@dataclass(frozen=True)
class Balance:
    account_id: str
    member_ref: str
    available_fen: int
    frozen_fen: int


@dataclass(frozen=True)
class CallbackRecord:
    """A callback as the sandbox recorded it (for tests and the /sandbox/callbacks view)."""

    event_id: str
    request_id: str
    status: ProviderStatus
    delivered: bool
    dropped: bool
    attempts: int
    last_error: str


@dataclass
class _Outcome:
    """What an action decided, before it is stored as the transaction record."""

    status: ProviderStatus
    account_id: str = ""
    counter_account_id: str = ""
    mode: str = ""
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    due_day: date | None = None


_Action = Callable[[Tx, date], Awaitable[_Outcome]]
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


def luhn_valid(number: str) -> bool:
    """True when `number` is 12 to 19 ASCII digits whose Luhn checksum is 0."""
    if not _CARD_NUMBER.fullmatch(number):
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    """`partial` followed by the check digit that makes it Luhn-valid (for generated
    test card numbers; never a real card)."""
    for check in "0123456789":
        if luhn_valid(partial + check):
            return partial + check
    raise InvalidRequestError("partial card number must be 11 to 18 digits")


def mask_card(number: str) -> str:
    """First six and last four digits; the rest as `*` (the only form ever stored)."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def is_business_day(day: date) -> bool:
    """Monday to Friday. Public holidays are not modelled."""
    return day.weekday() < 5


def next_business_day(day: date) -> date:
    """The first business day strictly after `day`."""
    candidate = day + timedelta(days=1)
    while not is_business_day(candidate):
        candidate += timedelta(days=1)
    return candidate


def due_day(speed: WithdrawSpeed, accepted: date) -> date:
    """When a withdrawal accepted on `accepted` is settled: T0 by that day's settlement
    run, T1 by the run of the next business day (a Friday T1 waits for Monday)."""
    if speed == WithdrawSpeed.T1:
        return next_business_day(accepted)
    return accepted


def sign_callback(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidRequestError(
            "request_id must be 1 to 128 characters: letters, digits and . _ : -"
        )
    return request_id


def _check_text(name: str, value: Any, *, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidRequestError(f"{name} must be a non-empty string of at most {max_length}")
    return value


def _check_amount(amount_fen: Any) -> int:
    # bool is an int in Python; `true` is not an amount.
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidRequestError("amount_fen must be an integer number of fen")
    if not 1 <= amount_fen <= MAX_AMOUNT_FEN:
        raise InvalidRequestError(f"amount_fen must be between 1 and {MAX_AMOUNT_FEN}")
    return amount_fen


def _check_enum(enum: type[_E], name: str, value: Any) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRequestError(f"{name} must be one of {allowed}") from None


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _result(row: Row) -> ProviderResult:
    return ProviderResult(
        request_id=row["request_id"],
        kind=TransactionKind(row["kind"]),
        status=ProviderStatus(row["status"]),
        amount_fen=row["amount_fen"],
        provider_ref=row["provider_ref"],
        reason=row["reason"],
        extra=json.loads(row["extra"]),
    )


async def _real_today() -> date:
    return datetime.now(UTC).date()


async def _real_now() -> datetime:
    return datetime.now(UTC)


class Sandbox:
    """The sandbox payment provider, usable directly from Python or through
    `create_sandbox_app` over HTTP. Call `start()` before use and `aclose()` after."""

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

    # -- life cycle ------------------------------------------------------------------

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

    # -- faults ------------------------------------------------------------------------

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

    # -- the platform's instructions ---------------------------------------------------

    async def open_account(
        self, *, request_id: str, member_ref: str, real_name: str
    ) -> ProviderResult:
        """A virtual account for a member; one per member_ref. extra: account_id."""
        member_ref = _check_text("member_ref", member_ref)
        real_name = _check_text("real_name", real_name)

        async def action(tx: Tx, _today: date) -> _Outcome:
            existing = await tx.one("SELECT id FROM accounts WHERE member_ref = ?", (member_ref,))
            if existing is not None:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id=existing["id"],
                    reason="member_ref already has an account",
                    extra={"account_id": existing["id"]},
                )
            account_id = _new_id("SBA")
            await tx.run(
                "INSERT INTO accounts (id, member_ref, real_name, created_at) VALUES (?, ?, ?, ?)",
                (account_id, member_ref, real_name, (await self._now()).isoformat()),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED, account_id=account_id, extra={"account_id": account_id}
            )

        content = {"member_ref": member_ref, "real_name": real_name}
        return await self._instruction(TransactionKind.OPEN_ACCOUNT, request_id, 0, content, action)

    async def bind_card(
        self,
        *,
        request_id: str,
        account_id: str,
        card_number: str,
        holder_name: str,
        holder_id_number: str,
        phone: str,
    ) -> ProviderResult:
        """Binds a bank card after verifying it: the holder name must equal the account's
        real name and the number must pass the Luhn check, else FAILED with the reason.
        Only the masked number is stored or returned. extra: card_id, card_masked."""
        account_id = _check_text("account_id", account_id)
        card_number = _check_text("card_number", card_number, max_length=32)
        holder_name = _check_text("holder_name", holder_name)
        holder_id_number = _check_text("holder_id_number", holder_id_number, max_length=32)
        phone = _check_text("phone", phone, max_length=32)

        async def action(tx: Tx, _today: date) -> _Outcome:
            account = await tx.one("SELECT real_name FROM accounts WHERE id = ?", (account_id,))
            if account is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not luhn_valid(card_number):
                return _Outcome(
                    ProviderStatus.FAILED, account_id, reason="card number fails the Luhn check"
                )
            if holder_name.strip() != account["real_name"]:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    reason="holder name does not match the account owner",
                )
            card_id = _new_id("SBC")
            masked = mask_card(card_number)
            await tx.run(
                "INSERT INTO cards (id, account_id, card_masked, holder_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (card_id, account_id, masked, holder_name, (await self._now()).isoformat()),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                account_id,
                extra={"account_id": account_id, "card_id": card_id, "card_masked": masked},
            )

        content = {
            "account_id": account_id,
            "card_number": card_number,
            "holder_name": holder_name,
            "holder_id_number": holder_id_number,
            "phone": phone,
        }
        return await self._instruction(TransactionKind.BIND_CARD, request_id, 0, content, action)

    async def deposit(
        self,
        *,
        request_id: str,
        account_id: str,
        amount_fen: int,
        channel: DepositChannel,
        card_id: str | None = None,
    ) -> ProviderResult:
        """GATEWAY and POS: PENDING with extra pay_url until the bank pays or rejects.
        AUTO_DEBIT: debits a card bound to the account and SUCCEEDS at once (FAILED
        without one). extra: account_id, and pay_url or card_id."""
        account_id = _check_text("account_id", account_id)
        amount_fen = _check_amount(amount_fen)
        channel = _check_enum(DepositChannel, "channel", channel)
        if card_id is not None:
            card_id = _check_text("card_id", card_id)

        async def action(tx: Tx, _today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if channel != DepositChannel.AUTO_DEBIT:
                pay_url = f"{self._public_url}/sandbox/bank/pay/{request_id}"
                return _Outcome(
                    ProviderStatus.PENDING,
                    account_id,
                    mode=channel,
                    extra={"account_id": account_id, "pay_url": pay_url},
                )
            if card_id is None:
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=channel,
                    reason="auto-debit needs a bound card",
                )
            if not await self._card_bound(tx, card_id, account_id):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=channel,
                    reason="card is not bound to this account",
                )
            await tx.run(
                "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                (amount_fen, account_id),
            )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                account_id,
                mode=channel,
                extra={"account_id": account_id, "card_id": card_id},
            )

        content = {"account_id": account_id, "channel": channel.value, "card_id": card_id}
        return await self._instruction(
            TransactionKind.DEPOSIT, request_id, amount_fen, content, action
        )

    async def withdraw(
        self,
        *,
        request_id: str,
        account_id: str,
        card_id: str,
        amount_fen: int,
        speed: WithdrawSpeed,
    ) -> ProviderResult:
        """Pays out to a bound card. Accepting it takes the amount from available at once
        (FAILED with nothing moved when available is short). REALTIME: SUCCEEDED now;
        T0: PENDING until that day's settlement run; T1: PENDING until the next business
        day's run. extra: account_id, card_id, and due_day when pending."""
        account_id = _check_text("account_id", account_id)
        card_id = _check_text("card_id", card_id)
        amount_fen = _check_amount(amount_fen)
        speed = _check_enum(WithdrawSpeed, "speed", speed)

        async def action(tx: Tx, today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not await self._card_bound(tx, card_id, account_id):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=speed,
                    reason="card is not bound to this account",
                )
            if not await self._move(tx, account_id, "available_fen", None, amount_fen):
                return _Outcome(
                    ProviderStatus.FAILED,
                    account_id,
                    mode=speed,
                    reason="insufficient available balance",
                )
            extra: dict[str, Any] = {"account_id": account_id, "card_id": card_id}
            if speed == WithdrawSpeed.REALTIME:
                return _Outcome(ProviderStatus.SUCCEEDED, account_id, mode=speed, extra=extra)
            due = due_day(speed, today)
            extra["due_day"] = due.isoformat()
            return _Outcome(
                ProviderStatus.PENDING, account_id, mode=speed, extra=extra, due_day=due
            )

        content = {"account_id": account_id, "card_id": card_id, "speed": speed.value}
        return await self._instruction(
            TransactionKind.WITHDRAW, request_id, amount_fen, content, action
        )

    async def freeze(self, *, request_id: str, account_id: str, amount_fen: int) -> ProviderResult:
        """available -> frozen in one account; FAILED when available is short."""
        return await self._shift(
            TransactionKind.FREEZE, request_id, account_id, amount_fen, "available_fen"
        )

    async def unfreeze(
        self, *, request_id: str, account_id: str, amount_fen: int
    ) -> ProviderResult:
        """frozen -> available in one account; FAILED when frozen is short."""
        return await self._shift(
            TransactionKind.UNFREEZE, request_id, account_id, amount_fen, "frozen_fen"
        )

    async def _shift(
        self,
        kind: TransactionKind,
        request_id: str,
        account_id: str,
        amount_fen: int,
        source: str,
    ) -> ProviderResult:
        account_id = _check_text("account_id", account_id)
        amount_fen = _check_amount(amount_fen)
        target = "frozen_fen" if source == "available_fen" else "available_fen"

        async def action(tx: Tx, _today: date) -> _Outcome:
            if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                return _Outcome(ProviderStatus.FAILED, account_id, reason="unknown account")
            if not await self._move(tx, account_id, source, (account_id, target), amount_fen):
                balance = "available" if source == "available_fen" else "frozen"
                return _Outcome(
                    ProviderStatus.FAILED, account_id, reason=f"insufficient {balance} balance"
                )
            return _Outcome(ProviderStatus.SUCCEEDED, account_id, extra={"account_id": account_id})

        content = {"account_id": account_id}
        return await self._instruction(kind, request_id, amount_fen, content, action)

    async def transfer(
        self,
        *,
        request_id: str,
        from_account_id: str,
        to_account_id: str,
        amount_fen: int,
        from_frozen: bool = False,
    ) -> ProviderResult:
        """Moves money from one account's available (or frozen, when from_frozen) to
        another's available; FAILED with nothing moved when the source is short."""
        from_account_id = _check_text("from_account_id", from_account_id)
        to_account_id = _check_text("to_account_id", to_account_id)
        amount_fen = _check_amount(amount_fen)
        if not isinstance(from_frozen, bool):
            raise InvalidRequestError("from_frozen must be true or false")
        if from_account_id == to_account_id:
            raise InvalidRequestError("from_account_id and to_account_id must differ")
        source = "frozen_fen" if from_frozen else "available_fen"

        async def action(tx: Tx, _today: date) -> _Outcome:
            for account_id in (from_account_id, to_account_id):
                if await tx.one("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                    return _Outcome(
                        ProviderStatus.FAILED,
                        from_account_id,
                        to_account_id,
                        reason=f"unknown account {account_id}",
                    )
            moved = await self._move(
                tx, from_account_id, source, (to_account_id, "available_fen"), amount_fen
            )
            if not moved:
                balance = "frozen" if from_frozen else "available"
                return _Outcome(
                    ProviderStatus.FAILED,
                    from_account_id,
                    to_account_id,
                    mode=source,
                    reason=f"insufficient {balance} balance",
                )
            return _Outcome(
                ProviderStatus.SUCCEEDED,
                from_account_id,
                to_account_id,
                mode=source,
                extra={"from_frozen": from_frozen},
            )

        content = {
            "from_account_id": from_account_id,
            "to_account_id": to_account_id,
            "from_frozen": from_frozen,
        }
        return await self._instruction(
            TransactionKind.TRANSFER, request_id, amount_fen, content, action
        )

    async def query(self, *, request_id: str) -> ProviderResult | None:
        """The stored record of a request (its current state); None when never seen."""
        check_request_id(request_id)
        async with self.store.transaction() as tx:
            row = await tx.one("SELECT * FROM transactions WHERE request_id = ?", (request_id,))
        return None if row is None else _result(row)

    async def balances(self) -> list[Balance]:
        """Every virtual account, oldest first."""
        async with self.store.transaction() as tx:
            rows = await tx.all("SELECT * FROM accounts ORDER BY created_at, id")
        return [_balance(row) for row in rows]

    async def balance(self, account_id: str) -> Balance | None:
        """One virtual account; None when there is no such account."""
        async with self.store.transaction() as tx:
            row = await tx.one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else _balance(row)

    # -- statement ---------------------------------------------------------------------

    async def statement_lines(self, day: date) -> list[StatementLine]:
        """Every movement that SUCCEEDED with settlement day `day`, in settlement order,
        as the statement file reports it: amounts listed in the `alter_statement` fault
        are misreported. Money that never moved (FAILED, PENDING) is not listed; a
        withdrawal is listed on the day it settles, not the day it was accepted."""
        kinds = [kind.value for kind in MOVEMENT_KINDS]
        async with self.store.transaction() as tx:
            rows = await tx.all(
                "SELECT * FROM transactions WHERE settled_day = ? AND status = 'SUCCEEDED'"
                f" AND kind IN ({', '.join('?' for _ in kinds)}) ORDER BY settled_at, rowid",
                (day.isoformat(), *kinds),
            )
        altered = self._faults.alter_statement
        return [
            StatementLine(
                request_id=row["request_id"],
                kind=TransactionKind(row["kind"]),
                account_id=row["account_id"],
                counter_account_id=row["counter_account_id"],
                amount_fen=altered.get(row["request_id"], row["amount_fen"]),
                status=ProviderStatus(row["status"]),
                settled_at=datetime.fromisoformat(row["settled_at"]),
            )
            for row in rows
        ]

    async def statement_csv(self, day: date) -> str:
        """The statement file: a header line, then one CSV line per `statement_lines`."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(STATEMENT_COLUMNS)
        for line in await self.statement_lines(day):
            writer.writerow(
                (
                    line.request_id,
                    line.kind.value,
                    line.account_id,
                    line.counter_account_id,
                    line.amount_fen,
                    line.status.value,
                    line.settled_at.isoformat(),
                )
            )
        return buffer.getvalue()

    # -- the outside world -------------------------------------------------------------

    async def bank_pay(self, request_id: str) -> ProviderResult:
        """The member paid a pending GATEWAY/POS deposit: SUCCEEDED, available credited,
        callback delivered before this returns. NotFoundError / StateConflictError."""

        async def change(tx: Tx, row: Row) -> tuple[ProviderStatus, str]:
            if row["kind"] != TransactionKind.DEPOSIT or row["mode"] == DepositChannel.AUTO_DEBIT:
                raise StateConflictError("only GATEWAY and POS deposits are paid at the bank")
            await tx.run(
                "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                (row["amount_fen"], row["account_id"]),
            )
            return ProviderStatus.SUCCEEDED, ""

        return await self._finish_pending(request_id, change)

    async def bank_reject(self, request_id: str, reason: str = "") -> ProviderResult:
        """The bank refused a pending deposit (FAILED, nothing credited) or bounced a
        pending withdrawal (FAILED, the amount returns to available); callback
        delivered before this returns."""

        async def change(tx: Tx, row: Row) -> tuple[ProviderStatus, str]:
            if row["kind"] == TransactionKind.WITHDRAW:
                await tx.run(
                    "UPDATE accounts SET available_fen = available_fen + ? WHERE id = ?",
                    (row["amount_fen"], row["account_id"]),
                )
            elif row["kind"] != TransactionKind.DEPOSIT:
                raise StateConflictError("only deposits and withdrawals are decided by the bank")
            return ProviderStatus.FAILED, reason or "rejected by the bank"

        return await self._finish_pending(request_id, change)

    async def settle(self, day: date | None = None) -> list[ProviderResult]:
        """The settlement run of `day` (default: today): every pending withdrawal due on
        or before `day` SUCCEEDS with settlement day `day`; callbacks are delivered
        before this returns. Returns the settled transactions."""
        run_day = day or await self._today()
        now = await self._now()
        events: list[str] = []
        async with self.store.transaction() as tx:
            rows = await tx.all(
                "SELECT * FROM transactions WHERE kind = 'WITHDRAW' AND status = 'PENDING'"
                " AND due_day <= ? ORDER BY created_at, rowid",
                (run_day.isoformat(),),
            )
            settled = []
            for row in rows:
                await tx.run(
                    "UPDATE transactions SET status = 'SUCCEEDED', settled_day = ?, settled_at = ?"
                    " WHERE request_id = ?",
                    (run_day.isoformat(), now.isoformat(), row["request_id"]),
                )
                updated = await tx.one(
                    "SELECT * FROM transactions WHERE request_id = ?", (row["request_id"],)
                )
                assert updated is not None
                settled.append(_result(updated))
                events += await self._record_callback(tx, updated, now)
        await self._after_commit(events, inline=True)
        return settled

    # -- callbacks ---------------------------------------------------------------------

    async def redeliver_pending(self) -> int:
        """Send every callback not yet delivered (and not dropped by the fault): oldest
        first, or newest first under `reorder_callbacks`. Returns how many were
        delivered now; the rest stay pending for the next call."""
        return await self._deliver(None, newest_first=self._faults.reorder_callbacks)

    async def callbacks(self) -> list[CallbackRecord]:
        """Every callback recorded, oldest first, with its delivery state."""
        async with self.store.transaction() as tx:
            rows = await tx.all("SELECT * FROM callbacks ORDER BY seq")
        return [
            CallbackRecord(
                event_id=row["event_id"],
                request_id=row["request_id"],
                status=ProviderStatus(json.loads(row["body"])["status"]),
                delivered=bool(row["delivered"]),
                dropped=bool(row["dropped"]),
                attempts=row["attempts"],
                last_error=row["last_error"],
            )
            for row in rows
        ]

    # -- internals ---------------------------------------------------------------------

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


def _balance(row: Row) -> Balance:
    return Balance(
        account_id=row["id"],
        member_ref=row["member_ref"],
        available_fen=row["available_fen"],
        frozen_fen=row["frozen_fen"],
    )
