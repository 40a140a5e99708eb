"""PostgreSQL through asyncpg, without a reset query at each release (a tortoise engine:
`services.kit.db` selects it for every `postgres://` URL).

asyncpg's pool runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
on a connection each time it goes back to the pool, and tortoise takes a connection from
the pool for every statement outside a transaction: one more round trip for each of
them, about a third of what a bid sends to the server (measured by `scripts/bench
bidding`). Nothing in LendBridge leaves session state on a pooled connection: no `SET`,
no `LISTEN`, no advisory lock, no cursor outside a transaction (row locks end with their
transaction). So a connection goes back as it is. What still happens at release
(asyncpg's own `_reset`): a transaction left open is rolled back, listeners are dropped.
"""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
from tortoise.backends.asyncpg.client import AsyncpgDBClient


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing beyond asyncpg's rollback of an open transaction."""


class SessionKeepingClient(AsyncpgDBClient):
    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(None, reset=_keep_session, **kwargs)


client_class = SessionKeepingClient
