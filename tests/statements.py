"""Counting the SQL statements (and the rows they return) of a block of code, a GraphQL
request through the ASGI app included, on SQLite (aiosqlite) and PostgreSQL (asyncpg).

It wraps the execute methods of the default connection's client class, which the
transaction clients of both backends inherit, and records only in the context that
entered the block and the tasks started from it: the app's dispatchers and jobs, started
before, are left out.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tortoise import connections


@dataclass(frozen=True)
class Statement:
    sql: str
    rows: int  # rows the database returned (0 for a write)


_METHODS = ("execute_query", "execute_query_dict", "execute_insert", "execute_many")
_recording: contextvars.ContextVar[list[Statement] | None] = contextvars.ContextVar(
    "recording_statements", default=None
)


def _rows(result: Any) -> int:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list | tuple):
        return len(result[1])  # execute_query: (row count, rows)
    if isinstance(result, list):
        return len(result)  # execute_query_dict
    return 0


def _recorded(original: Callable[..., Any]) -> Callable[..., Any]:
    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, query, *args, **kwargs)
        seen = _recording.get()
        if seen is not None:
            seen.append(Statement(query, _rows(result)))
        return result

    return execute


@contextlib.contextmanager
def recording_statements() -> Iterator[list[Statement]]:
    """The statements sent from inside the `with` block, in order (the list fills as they
    run). Does not nest."""
    assert _recording.get() is None, "recording_statements does not nest"
    client_class = type(connections.get("default"))
    own = {name: client_class.__dict__.get(name) for name in _METHODS}
    for name in _METHODS:
        setattr(client_class, name, _recorded(getattr(client_class, name)))
    seen: list[Statement] = []
    token = _recording.set(seen)
    try:
        yield seen
    finally:
        _recording.reset(token)
        for name, method in own.items():
            if method is None:
                delattr(client_class, name)
            else:
                setattr(client_class, name, method)
