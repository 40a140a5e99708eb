"""What the platform needs from a payment provider (M4). The provider holds the money:
every party has a virtual account there; the platform sends instructions, each with a
unique request id that makes it idempotent at the provider.

A call either returns a `ProviderResult` (the provider's answer: PENDING, SUCCEEDED or
FAILED) or raises `ProviderUnavailableError` (timeout, connection error, 5xx: the outcome
is unknown, so the caller retries with the same request id or asks with `query`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol


class ProviderStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class DepositChannel(StrEnum):
    GATEWAY = "GATEWAY"  # online-bank gateway: the member pays on the bank's page
    POS = "POS"  # payment terminal: pending until the terminal reports payment
    AUTO_DEBIT = "AUTO_DEBIT"  # signed auto-debit (签约代扣) of a bound card


class WithdrawSpeed(StrEnum):
    T1 = "T1"  # next business day
    T0 = "T0"  # same day
    REALTIME = "REALTIME"  # T+0 real time


class TransactionKind(StrEnum):
    OPEN_ACCOUNT = "OPEN_ACCOUNT"
    BIND_CARD = "BIND_CARD"
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    FREEZE = "FREEZE"
    UNFREEZE = "UNFREEZE"
    TRANSFER = "TRANSFER"
    SPLIT = "SPLIT"  # one source to several targets at once (分账): all or nothing


@dataclass(frozen=True)
class SplitPart:
    """One target of a SPLIT: what `to_account_id`'s available balance receives."""

    to_account_id: str
    amount_fen: int


def format_parts(parts: tuple[SplitPart, ...]) -> str:
    """A SPLIT's parts in the statement file: "account:fen;account:fen"."""
    return ";".join(f"{part.to_account_id}:{part.amount_fen}" for part in parts)


def parse_parts(text: str) -> tuple[SplitPart, ...]:
    """`format_parts` read back ("" for a movement that is not a split)."""
    parts = []
    for item in filter(None, (text or "").split(";")):
        account, _, amount = item.rpartition(":")
        parts.append(SplitPart(to_account_id=account, amount_fen=int(amount)))
    return tuple(parts)


@dataclass(frozen=True)
class ProviderResult:
    request_id: str
    kind: TransactionKind
    status: ProviderStatus
    amount_fen: int = 0
    provider_ref: str = ""  # the provider's own id for the transaction
    reason: str = ""  # why it FAILED, in the provider's words
    extra: dict[str, Any] = field(default_factory=dict)  # account_id, card_id, pay_url, ...


@dataclass(frozen=True)
class StatementLine:
    """One settled movement in the provider's daily statement file."""

    request_id: str
    kind: TransactionKind
    account_id: str
    counter_account_id: str  # "" when the money came from or went to a bank
    amount_fen: int
    status: ProviderStatus
    settled_at: datetime
    # A SPLIT's targets (counter_account_id is ""): their amounts add up to amount_fen.
    parts: tuple[SplitPart, ...] = ()


@dataclass(frozen=True)
class CallbackEvent:
    """A verified notification from the provider: a transaction reached a final state."""

    event_id: str
    request_id: str
    kind: TransactionKind
    status: ProviderStatus
    amount_fen: int
    occurred_at: datetime
    reason: str = ""


class ProviderUnavailableError(Exception):
    """The provider did not answer (timeout, connection error, 5xx): outcome unknown."""


class ProviderRejectedError(Exception):
    """The provider refused the request itself (bad signature, reused request id with
    different content, malformed input): a bug or an attack, never retried."""


class InvalidCallbackError(Exception):
    """A callback with a bad or missing signature, a stale timestamp or a replayed id."""


class PaymentProvider(Protocol):
    name: str

    async def open_account(
        self, *, request_id: str, member_ref: str, real_name: str
    ) -> ProviderResult:
        """extra: account_id."""
        ...

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
        """Verifies the holder against the account's owner. extra: card_id, card_masked."""
        ...

    async def deposit(
        self,
        *,
        request_id: str,
        account_id: str,
        amount_fen: int,
        channel: DepositChannel,
        card_id: str | None = None,
    ) -> ProviderResult:
        """GATEWAY/POS: PENDING with extra pay_url; AUTO_DEBIT needs card_id."""
        ...

    async def withdraw(
        self,
        *,
        request_id: str,
        account_id: str,
        card_id: str,
        amount_fen: int,
        speed: WithdrawSpeed,
    ) -> ProviderResult: ...

    async def freeze(
        self, *, request_id: str, account_id: str, amount_fen: int
    ) -> ProviderResult: ...

    async def unfreeze(
        self, *, request_id: str, account_id: str, amount_fen: int
    ) -> ProviderResult: ...

    async def transfer(
        self,
        *,
        request_id: str,
        from_account_id: str,
        to_account_id: str,
        amount_fen: int,
        from_frozen: bool = False,
    ) -> ProviderResult: ...

    async def split(
        self,
        *,
        request_id: str,
        from_account_id: str,
        parts: Sequence[SplitPart],
        from_frozen: bool = False,
    ) -> ProviderResult:
        """One source's available (or frozen) to several targets' available, at once:
        every part moves or none (FAILED when the source is short); amount_fen of the
        result is the parts' total. Targets are distinct and never the source."""
        ...

    async def query(self, *, request_id: str) -> ProviderResult | None:
        """The provider's record of a request; None when it never received it."""
        ...

    async def statement(self, *, day: date) -> list[StatementLine]: ...

    def verify_callback(self, *, headers: dict[str, str], body: bytes) -> CallbackEvent:
        """Check signature and freshness; raises InvalidCallbackError. Replays (an
        event id already processed) are the platform's to detect."""
        ...
