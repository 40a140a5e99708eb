"""WebSocket discipline for subscriptions, for both protocols (graphql-transport-ws and
the legacy graphql-ws): limits per client address and per connection, anonymous ones
lower; a connection closes when its access token expires or its actor changes.

Per process and per client address (the address uvicorn reports; behind a proxy, with
`--proxy-headers`, the forwarded one):
- at most `WS_PENDING_PER_ADDRESS` connections that have not sent `connection_init`
  (they close after `WS_INIT_TIMEOUT_SECONDS`);
- at most `WS_ANONYMOUS_PER_ADDRESS` anonymous and `WS_MEMBER_PER_ADDRESS`
  authenticated connections; past either, the connection closes with 4429;
- `WS_SUBSCRIPTIONS_ANONYMOUS` / `WS_SUBSCRIPTIONS_MEMBER` operations per connection;
  past it each subscribe gets an `error` with code TOO_MANY_SUBSCRIPTIONS, and a
  connection that keeps trying (as many refusals as its limit) is closed with 4429.
Close codes: 4429 too many, 4401 the access token expired or was revoked, 4403 the
actor's roles or permissions changed (connect again), 4408 no `connection_init` in
time, 4400 a malformed message, 1009 a frame over `WS_MAX_MESSAGE_BYTES` (uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLFormattedError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage as TransportErrorMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionErrorMessage,
    StartMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ErrorMessage as LegacyErrorMessage,
)

from app import frames, shared_streams
from schema.context import Context
from services.identity import auth, permissions
from services.identity.permissions import Actor
from services.kit.broker import Gap
from services.kit.memory import Release
from services.kit.settings import Settings

logger = logging.getLogger(__name__)

TOO_MANY = 4429
TOKEN_ENDED = 4401
ACCESS_CHANGED = 4403


@dataclass(eq=False)
class _Conn:
    address: str
    state: str = "pending"  # pending, anonymous, member
    actor: Actor | None = None
    token: str | None = None
    expires_at: float | None = None
    refused: int = 0
    version: int | None = None  # the access version the actor was built at
    close: Any = None  # async (code, reason) -> None


@dataclass
class Registry:
    """Open WebSocket connections of this process, by client address and state."""

    settings: Settings
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    members: weakref.WeakSet[_Conn] = field(default_factory=weakref.WeakSet)
    # Memory given back to the system once a crowd of connections has left.
    release: Release = field(default_factory=Release)
    _watcher: asyncio.Task[None] | None = None

    def limit(self, state: str) -> int:
        s = self.settings
        return {
            "pending": s.ws_pending_per_address,
            "anonymous": s.ws_anonymous_per_address,
            "member": s.ws_member_per_address,
        }[state]

    def enter(self, conn: _Conn, state: str) -> bool:
        """Move `conn` to `state` if its address has room there."""
        if self.counts[(conn.address, state)] >= self.limit(state):
            return False
        self.leave(conn)
        conn.state = state
        self.counts[(conn.address, state)] += 1
        if state == "member":
            self.members.add(conn)
            self._ensure_watcher()
        return True

    def leave(self, conn: _Conn) -> None:
        key = (conn.address, conn.state)
        if self.counts[key] > 0:
            self.counts[key] -= 1
            if not self.counts[key]:
                del self.counts[key]
        self.members.discard(conn)
        conn.state = "gone"

    def open_on(self, address: str) -> dict[str, int]:
        return {state: n for (a, state), n in self.counts.items() if a == address}

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="ws-access-watcher")

    async def _watch(self) -> None:
        """Close member connections whose token expired, or whose actor changed (one
        version read per round; an actor is rebuilt only when it moved since)."""
        while self.members:
            await asyncio.sleep(self.settings.ws_recheck_seconds)
            try:
                version = await permissions.access_version()
                now = datetime.now(UTC).timestamp()
                for conn in list(self.members):
                    if conn.expires_at is not None and now >= conn.expires_at:
                        await _close(conn, TOKEN_ENDED, "Access token expired")
                    elif version != conn.version:
                        conn.version = version
                        actor = await auth.authenticate(conn.token)
                        if actor is None:
                            await _close(conn, TOKEN_ENDED, "Access token revoked")
                        elif conn.actor is not None and (
                            actor.roles != conn.actor.roles
                            or actor.permissions != conn.actor.permissions
                        ):
                            await _close(conn, ACCESS_CHANGED, "Access changed")
            except Exception:  # a bad round must not stop the watching
                logger.exception("checking WebSocket connections' access failed")


async def _close(conn: _Conn, code: int, reason: str) -> None:
    if conn.close is not None:
        with contextlib.suppress(Exception):
            await conn.close(code, reason)


def _registry(view: Any) -> Registry:
    return view.live_registry  # type: ignore[no-any-return]


class _Discipline:
    """What both protocol handlers share."""

    view: Any
    context: Context
    websocket: Any
    conn: _Conn

    def _start(self) -> bool:
        address = self.context.client_ip
        self.conn = _Conn(address=address, close=self.websocket.close)
        registry = _registry(self.view)
        if not registry.enter(self.conn, "pending"):
            return False
        registry.release.opened()
        return True

    def _end(self) -> None:
        registry = _registry(self.view)
        registry.leave(self.conn)
        registry.release.closed()

    async def _admit(self) -> str | None:
        """After `connection_init`: the refusal reason, or None when admitted."""
        version = await permissions.access_version()
        actor = await self.context.get_actor()
        self.conn.version = version
        state = "member" if actor.is_authenticated else "anonymous"
        if not _registry(self.view).enter(self.conn, state):
            return f"Too many {state} connections from this address"
        if actor.is_authenticated:
            token = self.context.access_token
            claims = auth.decode_access_token(token) if token else None
            self.conn.actor, self.conn.token = actor, token
            exp = (claims or {}).get("exp")
            self.conn.expires_at = float(exp) if isinstance(exp, int | float) else None
        return None

    def _subscription_limit(self) -> int:
        s = self.context.settings
        return (
            s.ws_subscriptions_member
            if self.conn.state == "member"
            else (s.ws_subscriptions_anonymous)
        )

    def _refusal(self) -> GraphQLFormattedError:
        self.conn.refused += 1
        error = GraphQLError(
            "Too many subscriptions on this connection",
            extensions={"code": "TOO_MANY_SUBSCRIPTIONS", "limit": self._subscription_limit()},
        )
        return error.formatted


class TransportWSHandler(_Discipline, BaseGraphQLTransportWSHandler[Context, None]):
    async def handle(self) -> None:
        if not self._start():
            await self.websocket.close(TOO_MANY, "Too many pending connections from this address")
            return
        try:
            await super().handle()
        finally:
            self._end()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if not self.connection_init_received and not self.connection_timed_out:
            payload = message.get("payload", {})
            if isinstance(payload, dict):
                self.context.connection_params = payload
                reason = await self._admit()
                if reason is not None:
                    if self.connection_init_timeout_task:
                        self.connection_init_timeout_task.cancel()
                    await self.websocket.close(TOO_MANY, reason)
                    return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and len(self.operations) >= self._subscription_limit():
            refusal = self._refusal()
            if self.conn.refused >= self._subscription_limit():
                await self.websocket.close(TOO_MANY, "Too many refused subscriptions")
                return
            await self.send_message(
                TransportErrorMessage(id=message["id"], type="error", payload=[refusal])
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        key = shared_streams.key_of(operation.query, operation.variables, operation.operation_name)
        if key is None:
            await super().run_operation(operation)
            return
        streams: shared_streams.SharedStreams = self.view.shared_streams
        prefix = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'
        socket = getattr(self.websocket, "ws", None)
        write = frames.writer_for(socket.scope) if socket is not None else None
        async with streams.join(key, self.schema, self.context) as messages:
            async for message in messages:
                if operation.completed:
                    return
                if isinstance(message, Gap):
                    await self._send_text(prefix + shared_streams.RESYNC_PAYLOAD + "}")
                elif "payload" in message:
                    if write is not None and write(_frame(message, operation.id, prefix)):
                        continue
                    await self._send_text(prefix + message["payload"] + "}")
                elif "errors" in message:
                    await operation.send_operation_message(
                        TransportErrorMessage(
                            id=operation.id, type="error", payload=message["errors"]
                        )
                    )
                    return
                else:
                    break
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _send_text(self, text: str) -> None:
        """One frame of text already serialised (shared by every viewer of a shape)."""
        socket = getattr(self.websocket, "ws", None)
        if socket is None:
            await self.websocket.send_json(json.loads(text))
        else:
            await socket.send_text(text)


# Frames kept per shared event: one per distinct operation id, up to this many.
_FRAMES_PER_EVENT = 64


def _frame(message: dict[str, Any], operation_id: str, prefix: str) -> bytes:
    """The `next` frame of a shared event for this operation id, built once per id."""
    cache: dict[str, bytes] = message["frames"]
    frame = cache.get(operation_id)
    if frame is None:
        frame = frames.text_frame(prefix + message["payload"] + "}")
        if len(cache) < _FRAMES_PER_EVENT:
            cache[operation_id] = frame
    return frame


class LegacyWSHandler(_Discipline, BaseGraphQLWSHandler[Context, None]):
    async def handle(self) -> None:
        if not self._start():
            await self.websocket.close(TOO_MANY, "Too many pending connections from this address")
            return
        init_timeout = asyncio.create_task(self._init_timeout())
        try:
            await super().handle()
        finally:
            init_timeout.cancel()
            self._end()

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.context.settings.ws_init_timeout_seconds)
        if not self.connection_acknowledged:
            await self.websocket.close(4408, "Connection initialisation timeout")

    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        payload = message.get("payload")
        if isinstance(payload, dict) or payload is None:
            self.context.connection_params = payload
            reason = await self._admit()
            if reason is not None:
                error = ConnectionErrorMessage(type="connection_error", payload={"message": reason})
                await self.send_message(error)
                await self.websocket.close(TOO_MANY, reason)
                return
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        running = message["id"] in self.tasks
        if (
            self.connection_acknowledged
            and not running
            and (len(self.tasks) >= self._subscription_limit())
        ):
            refusal = self._refusal()
            if self.conn.refused >= self._subscription_limit():
                await self.websocket.close(TOO_MANY, "Too many refused subscriptions")
                return
            await self.send_message(
                LegacyErrorMessage(type="error", id=message["id"], payload=refusal)
            )
            return
        await super().handle_start(message)


def uvicorn_ws_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn needs to enforce for WebSockets (frame size, pings). No
    permessage-deflate: events are a few hundred bytes, and a compressor per connection
    costs more memory and CPU (every viewer compresses the same text again) than it
    saves."""
    return {
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": 20.0,
        "ws_per_message_deflate": False,
    }
