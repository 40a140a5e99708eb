"""The platform's adapter to a payment provider speaking the LendBridge provider HTTP
protocol (the sandbox provider, or a real provider behind the same protocol).

Every request is JSON, signed with `X-LB-Timestamp` (unix seconds) and
`X-LB-Signature` = hex HMAC-SHA256(provider_api_secret,
f"{timestamp}.{METHOD}.{path}.{body}"), path being the raw request path with its
query string. Answers map to the interface in `provider.py`:

- 2xx -> the result; 404 from a lookup (query, balance) -> None;
- timeout, connection error, 5xx, or an answer that cannot be read ->
  ProviderUnavailableError: the outcome is unknown, retry with the same request id or
  `query` it;
- any other status (400 malformed, 401 bad signature, 409 request id reused with other
  content, ...) -> ProviderRejectedError: never retried.

Callbacks from the provider are checked by `verify_callback`: `X-LB-Timestamp` and
`X-LB-Signature` = hex HMAC-SHA256(webhook_secret, f"{timestamp}.{body}").
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from services.kit.settings import Settings, get_settings
from services.payments.provider import (
    CallbackEvent,
    DepositChannel,
    InvalidCallbackError,
    ProviderRejectedError,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailableError,
    SplitPart,
    StatementLine,
    TransactionKind,
    WithdrawSpeed,
    parse_parts,
)

TIMESTAMP_HEADER = "X-LB-Timestamp"
SIGNATURE_HEADER = "X-LB-Signature"

_Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[_Message]],
        Callable[[_Message], Awaitable[None]],
    ],
    Awaitable[None],
]


@dataclass(frozen=True)
class AccountBalance:
    """A virtual account's balances as the provider reports them."""

    account_id: str
    member_ref: str
    available_fen: int
    frozen_fen: int


def request_signature(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, f"{timestamp}.{method}.{path}.{body}")."""
    message = f"{timestamp}.{method}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class HttpPaymentProvider:
    """`PaymentProvider` over HTTP. Give exactly one of `base_url` (a provider reached
    over the network) or `app` (an ASGI app reached in-process, e.g. the sandbox in
    embedded mode). Secrets, timeout and callback age default to `settings`. Close it
    with `aclose()` (or use `async with`)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        app: ASGIApp | None = None,
        settings: Settings | None = None,
        api_secret: str | None = None,
        webhook_secret: str | None = None,
        timeout_seconds: float | None = None,
        callback_max_age_seconds: int | None = None,
        name: str = "sandbox",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (base_url is None) == (app is None):
            raise ValueError("give exactly one of base_url or app")
        settings = settings or get_settings()
        self.name = name
        self._api_secret = api_secret or settings.provider_api_secret
        self._webhook_secret = webhook_secret or settings.webhook_secret
        self._timeout = (
            timeout_seconds if timeout_seconds is not None else settings.provider_timeout_seconds
        )
        self._callback_max_age = (
            callback_max_age_seconds
            if callback_max_age_seconds is not None
            else settings.callback_max_age_seconds
        )
        self._clock = clock
        if app is not None:
            # raise_app_exceptions=False: an exception inside the in-process provider is
            # a 500 to us, exactly as it would be over the network.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            self._http = httpx.AsyncClient(
                transport=transport, base_url="http://provider.invalid", timeout=self._timeout
            )
        else:
            assert base_url is not None
            self._http = httpx.AsyncClient(base_url=base_url, timeout=self._timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HttpPaymentProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- instructions ------------------------------------------------------------------

    async def open_account(
        self, *, request_id: str, member_ref: str, real_name: str
    ) -> ProviderResult:
        """extra: account_id."""
        return await self._instruct(
            "/v1/accounts",
            {"request_id": request_id, "member_ref": member_ref, "real_name": real_name},
        )

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
        return await self._instruct(
            "/v1/cards",
            {
                "request_id": request_id,
                "account_id": account_id,
                "card_number": card_number,
                "holder_name": holder_name,
                "holder_id_number": holder_id_number,
                "phone": phone,
            },
        )

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
        return await self._instruct(
            "/v1/deposits",
            {
                "request_id": request_id,
                "account_id": account_id,
                "amount_fen": amount_fen,
                "channel": DepositChannel(channel).value,
                "card_id": card_id,
            },
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
        """T1/T0: PENDING until settlement (extra due_day); REALTIME: final at once."""
        return await self._instruct(
            "/v1/withdrawals",
            {
                "request_id": request_id,
                "account_id": account_id,
                "card_id": card_id,
                "amount_fen": amount_fen,
                "speed": WithdrawSpeed(speed).value,
            },
        )

    async def freeze(self, *, request_id: str, account_id: str, amount_fen: int) -> ProviderResult:
        """available -> frozen; FAILED when available is short."""
        return await self._instruct(
            "/v1/freezes",
            {"request_id": request_id, "account_id": account_id, "amount_fen": amount_fen},
        )

    async def unfreeze(
        self, *, request_id: str, account_id: str, amount_fen: int
    ) -> ProviderResult:
        """frozen -> available; FAILED when frozen is short."""
        return await self._instruct(
            "/v1/unfreezes",
            {"request_id": request_id, "account_id": account_id, "amount_fen": amount_fen},
        )

    async def transfer(
        self,
        *,
        request_id: str,
        from_account_id: str,
        to_account_id: str,
        amount_fen: int,
        from_frozen: bool = False,
    ) -> ProviderResult:
        """Source available (or frozen) -> target available; FAILED when short."""
        return await self._instruct(
            "/v1/transfers",
            {
                "request_id": request_id,
                "from_account_id": from_account_id,
                "to_account_id": to_account_id,
                "amount_fen": amount_fen,
                "from_frozen": from_frozen,
            },
        )

    async def split(
        self,
        *,
        request_id: str,
        from_account_id: str,
        parts: Sequence[SplitPart],
        from_frozen: bool = False,
    ) -> ProviderResult:
        """Source available (or frozen) -> each part's target available, all or none."""
        return await self._instruct(
            "/v1/splits",
            {
                "request_id": request_id,
                "from_account_id": from_account_id,
                "parts": [
                    {"to_account_id": part.to_account_id, "amount_fen": part.amount_fen}
                    for part in parts
                ],
                "from_frozen": from_frozen,
            },
        )

    # -- lookups -----------------------------------------------------------------------

    async def query(self, *, request_id: str) -> ProviderResult | None:
        """The provider's record of a request; None when it never received it."""
        response = await self._send("GET", f"/v1/transactions/{_segment(request_id)}")
        if response.status_code == 404:
            return None
        _raise_for_status(response)
        return _parse_result(response, request_id)

    async def statement(self, *, day: date) -> list[StatementLine]:
        """The provider's statement file of `day`, parsed (one line per movement)."""
        response = await self._send("GET", f"/v1/statements/{day.isoformat()}")
        _raise_for_status(response)
        try:
            reader = csv.DictReader(io.StringIO(response.text))
            return [
                StatementLine(
                    request_id=row["request_id"],
                    kind=TransactionKind(row["kind"]),
                    account_id=row["account_id"],
                    counter_account_id=row["counter_account_id"],
                    amount_fen=int(row["amount_fen"]),
                    status=ProviderStatus(row["status"]),
                    settled_at=datetime.fromisoformat(row["settled_at"]),
                    parts=parse_parts(row.get("parts") or ""),
                )
                for row in reader
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailableError(f"unreadable statement file: {exc}") from exc

    async def balance(self, *, account_id: str) -> AccountBalance | None:
        """One virtual account's balances; None when the provider has no such account."""
        response = await self._send("GET", f"/v1/accounts/{_segment(account_id)}")
        if response.status_code == 404:
            return None
        _raise_for_status(response)
        return _parse_balance(_json(response))

    async def balances(self) -> list[AccountBalance]:
        """Every virtual account's balances (for reconciliation)."""
        response = await self._send("GET", "/v1/balances")
        _raise_for_status(response)
        data = _json(response)
        try:
            return [_parse_balance(item) for item in data["accounts"]]
        except (KeyError, TypeError) as exc:
            raise ProviderUnavailableError(f"unreadable answer: {exc}") from exc

    # -- callbacks ---------------------------------------------------------------------

    def verify_callback(self, *, headers: dict[str, str], body: bytes) -> CallbackEvent:
        """Accept a callback only with a valid signature (constant-time comparison)
        over a timestamp within callback_max_age_seconds of now, either way; raises
        InvalidCallbackError otherwise. Header names are matched case-insensitively.
        Replays (an event id already processed) are the platform's to detect."""
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
        signature = lowered.get(SIGNATURE_HEADER.lower(), "")
        if not timestamp or not signature:
            raise InvalidCallbackError("missing signature headers")
        expected = callback_signature(self._webhook_secret, timestamp, body)
        # Compared as bytes: compare_digest refuses non-ASCII str, and a forged header
        # may contain anything.
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise InvalidCallbackError("bad signature")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise InvalidCallbackError("bad timestamp") from None
        if abs(self._clock() - sent_at) > self._callback_max_age:
            raise InvalidCallbackError("stale timestamp")
        try:
            data = json.loads(body)
            return CallbackEvent(
                event_id=_text(data["event_id"]),
                request_id=_text(data["request_id"]),
                kind=TransactionKind(data["kind"]),
                status=ProviderStatus(data["status"]),
                amount_fen=_integer(data["amount_fen"]),
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                reason=_text(data.get("reason", ""), allow_empty=True),
            )
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise InvalidCallbackError(f"malformed callback body: {exc}") from exc

    # -- transport ---------------------------------------------------------------------

    async def _instruct(self, path: str, payload: dict[str, Any]) -> ProviderResult:
        response = await self._send("POST", path, payload)
        _raise_for_status(response)
        return _parse_result(response, payload["request_id"])

    async def _send(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        request = self._http.build_request(method, path, content=body or None)
        if payload is not None:
            request.headers["Content-Type"] = "application/json"
        # Sign what is actually sent: the path after base_url joining, with its query.
        timestamp = str(int(self._clock()))
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = request_signature(
            self._api_secret, timestamp, method, request.url.raw_path.decode("ascii"), body
        )
        try:
            # httpx's own timeout does not apply to an in-process ASGI app; this bound
            # covers both modes.
            async with asyncio.timeout(self._timeout):
                return await self._http.send(request)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderUnavailableError(f"{method} {path}: timed out") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(f"{method} {path}: {type(exc).__name__}") from exc


def _segment(value: str) -> str:
    """A path segment: request ids and account ids are never allowed to add segments."""
    return quote(value, safe="")


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500:
        raise ProviderUnavailableError(f"provider answered {status}: {_error(response)}")
    if not 200 <= status < 300:
        raise ProviderRejectedError(f"provider answered {status}: {_error(response)}")


def _error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)[:200]


def _json(response: httpx.Response) -> dict[str, Any]:
    # A 2xx we cannot read leaves the outcome unknown, like no answer at all.
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderUnavailableError("the provider's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailableError("the provider's answer is not a JSON object")
    return data


def _parse_result(response: httpx.Response, request_id: str) -> ProviderResult:
    data = _json(response)
    try:
        result = ProviderResult(
            request_id=_text(data["request_id"]),
            kind=TransactionKind(data["kind"]),
            status=ProviderStatus(data["status"]),
            amount_fen=_integer(data["amount_fen"]),
            provider_ref=_text(data.get("provider_ref", ""), allow_empty=True),
            reason=_text(data.get("reason", ""), allow_empty=True),
            extra=dict(data.get("extra") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderUnavailableError(f"unreadable answer: {exc}") from exc
    if result.request_id != request_id:
        raise ProviderUnavailableError("the answer is about another request")
    return result


def _parse_balance(data: Any) -> AccountBalance:
    try:
        return AccountBalance(
            account_id=_text(data["account_id"]),
            member_ref=_text(data["member_ref"]),
            available_fen=_integer(data["available_fen"]),
            frozen_fen=_integer(data["frozen_fen"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderUnavailableError(f"unreadable balance: {exc}") from exc


def _text(value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value
