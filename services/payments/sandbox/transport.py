"""The sandbox's HTTP plumbing: ASGI types, a small request and response, routes, request
signatures, reading a bounded body, and delivering callbacks over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from services.payments.provider import ProviderResult
from services.payments.sandbox.common import (
    InvalidRequestError,
)

Scope = MutableMapping[str, Any]


Message = MutableMapping[str, Any]


Receive = Callable[[], Awaitable[Message]]


Send = Callable[[Message], Awaitable[None]]


REQUEST_MAX_AGE_SECONDS = 300


MAX_BODY_BYTES = 1_000_000


def sign_request(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, f"{timestamp}.{method}.{path}.{body}")."""
    message = f"{timestamp}.{method}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Request:
    method: str
    path: str  # raw path and query string, exactly as signed
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); InvalidRequestError otherwise."""
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidRequestError("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidRequestError("the body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    platform: bool  # signed and subject to faults


def result_json(result: ProviderResult) -> dict[str, Any]:
    return {
        "request_id": result.request_id,
        "kind": result.kind.value,
        "status": result.status.value,
        "amount_fen": result.amount_fen,
        "provider_ref": result.provider_ref,
        "reason": result.reason,
        "extra": result.extra,
    }


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise InvalidRequestError(f"{name} is required")
    return body[name]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError("day must be YYYY-MM-DD") from None


class HttpCallbackDeliverer:
    """Standalone delivery: POST each callback to the platform; non-2xx is a failure."""

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_seconds)

    async def __call__(self, body: bytes, headers: dict[str, str]) -> None:
        response = await self._client.post(self.url, content=body, headers=headers)
        response.raise_for_status()

    async def aclose(self) -> None:
        await self._client.aclose()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when it exceeds MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
