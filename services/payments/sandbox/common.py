"""What every part of the sandbox provider shares: its errors, records, request checks,
card numbers, business days and callback signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from services.payments.provider import (
    ProviderResult,
    ProviderStatus,
    TransactionKind,
    WithdrawSpeed,
)
from services.payments.sandbox.store import Row, Tx

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
    "parts",  # a SPLIT's targets: "account:fen;account:fen", in order; empty otherwise
)


# Kinds that move money and so appear in the statement file.
MOVEMENT_KINDS = (
    TransactionKind.DEPOSIT,
    TransactionKind.WITHDRAW,
    TransactionKind.FREEZE,
    TransactionKind.UNFREEZE,
    TransactionKind.TRANSFER,
    TransactionKind.SPLIT,
)


# Where the bank's pages live, on the sandbox's own URL and, embedded, on the app's.
BANK_PAGES_PREFIX = "/sandbox-bank"


def bank_page_token() -> str:
    """A payment page's token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


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


def _balance(row: Row) -> Balance:
    return Balance(
        account_id=row["id"],
        member_ref=row["member_ref"],
        available_fen=row["available_fen"],
        frozen_fen=row["frozen_fen"],
    )
