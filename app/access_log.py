"""Network access log (R6): one line per HTTP request, and one per WebSocket connection,
to the append-only daily files of `services.kit.access_log` under `ACCESS_LOG_DIR`.

A line: `time` (UTC, when the request arrived), `method` (`WS` for a WebSocket), `path`
(never the query string, where tokens travel, and any run of 32 or more token characters
replaced by `[redacted]`: a signed download link carries its signature in the path),
`status` (500 when the app failed before answering; 101 for an accepted WebSocket, 403
for a refused one), `ip` (the client address as the server saw it), `user_id` (the
subject of a valid access token in the `Authorization` header, else null: WebSockets
authenticate inside the connection, so theirs is null) and `duration_ms`. Nothing of the
body or the headers. Writing a line is one small appending `write`, after the answer.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.context import bearer_token
from services.identity.auth import decode_access_token
from services.kit.access_log import AccessLogStore
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

# A signature, token or key in a path: base64url, hex or a JWT's parts, 32 characters on.
_SECRET = re.compile(r"[A-Za-z0-9_~=.+-]{32,}")


def redact_path(path: str) -> str:
    return _SECRET.sub("[redacted]", path)


def _user_id(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            claims = decode_access_token(token) if token else None
            subject = claims.get("sub") if claims else None
            return int(str(subject)) if subject is not None and str(subject).isdigit() else None
    return None


class AccessLog:
    """Writes the access line of every HTTP request and WebSocket connection."""

    def __init__(self, app: ASGIApp, directory: str | Path) -> None:
        self.app = app
        self.store = AccessLogStore(directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        arrived = system_now()
        started = time.perf_counter()
        websocket = scope["type"] == "websocket"
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and status != 101:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            client = scope.get("client")
            record: dict[str, Any] = {
                "time": arrived.isoformat(timespec="milliseconds"),
                "method": "WS" if websocket else scope.get("method", ""),
                "path": redact_path(scope.get("path", "")),
                "status": status,
                "ip": client[0] if client else "",
                "user_id": _user_id(scope),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            try:
                self.store.write(record, at=arrived)
            except OSError:  # a full or unwritable disk must not take the API down
                logger.exception("access log not written")
