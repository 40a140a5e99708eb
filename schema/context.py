"""Per-request (or per-WebSocket-connection) context: the actor, trace id, client address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from schema.loaders import Loaders
from services.identity import auth
from services.identity.permissions import ANONYMOUS, Actor
from services.kit.settings import Settings


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    settings: Settings
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Set by the WebSocket protocols from the `connection_init` payload.
    connection_params: dict[str, Any] | None = None
    # The DataLoaders of the operation running (schema.loaders.FreshLoaders renews them).
    loaders: Loaders = field(default_factory=Loaders)
    # The persisted document this request runs (app/persisted.py), None for a body.
    persisted: Any = None
    # The partner whose key this request carries (app/partners.py), None otherwise.
    partner: Any = None
    _actor: Actor | None = None

    @property
    def client_ip(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    @property
    def user_agent(self) -> str:
        return self.request.headers.get("user-agent", "")

    @property
    def access_token(self) -> str | None:
        token = bearer_token(self.request.headers.get("authorization"))
        if token is None and isinstance(self.connection_params, dict):
            raw = self.connection_params.get("Authorization") or self.connection_params.get(
                "authorization"
            )
            token = bearer_token(raw) if isinstance(raw, str) else None
        return token

    @property
    def cached_actor(self) -> Actor | None:
        return self._actor

    def use_actor(self, actor: Actor) -> None:
        """The caller, known another way than by an access token (a partner's key)."""
        self._actor = actor

    async def get_actor(self) -> Actor:
        if self._actor is None:
            self._actor = await auth.authenticate(self.access_token) or ANONYMOUS
        return self._actor
