"""Shared events written to viewers' sockets as ready-made frames.

Ten thousand viewers of one shape receive the same JSON text, differing only in their
operation id (and most clients use the same ids). Going through Starlette, uvicorn and
the websockets state machine costs about as much per viewer as the system call that
sends the bytes, so for shared events the frame is built once per (event, operation id)
and written straight to uvicorn's transport, when that is safe:

- the connection is uvicorn's `websockets-sansio` protocol (the one `serve` runs),
  open, not closing, with no extension negotiated (permessage-deflate is off);
- its transport is writable (below the high-water mark). Otherwise the ordinary path
  is taken, which waits until it is: a slow viewer keeps its back-pressure and its
  bounded queue.

Anything else (another server, the test client, a closing socket) takes the ordinary
path. Frames are whole, so they interleave safely with what the ordinary path sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import OP_TEXT, Frame
from websockets.protocol import State

# Where the server's own `send` of a WebSocket connection is kept in its scope.
RAW_SEND = "lendbridge.raw_send"

Writer = Callable[[bytes], bool]


class KeepRawSend:
    """Outermost middleware: remembers the server's `send` of each WebSocket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _sansio_protocol() -> Any:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:  # pragma: no cover - uvicorn without websockets
        return None
    return WebSocketsSansIOProtocol


_PROTOCOL: Any = _sansio_protocol()


def writer_for(scope: dict[str, Any]) -> Writer | None:
    """A function writing a whole frame to this connection's socket and saying whether
    it did, or None when the connection is not one it knows how to write to."""
    send = scope.get(RAW_SEND)
    protocol: Any = getattr(send, "__self__", None)
    if _PROTOCOL is None or not isinstance(protocol, _PROTOCOL):
        return None
    if protocol.conn.extensions:
        return None

    def write(frame: bytes) -> bool:
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frame)
        return True

    return write


def text_frame(text: str) -> bytes:
    """An unmasked, final text frame (the server side of RFC 6455)."""
    return Frame(OP_TEXT, text.encode()).serialize(mask=False)
