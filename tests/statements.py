"""Counting the SQL statements (and the rows they return) of a block of code, a GraphQL
request through the ASGI app included, on SQLite (aiosqlite) and PostgreSQL (asyncpg).

It wraps the execute methods of the default connection's client class and of its
transaction client's class (a sibling of it on both: the default client is
services/kit/sqlite_reads.py's or services/kit/postgres_pool.py's), and records only in the context
that entered the block and the tasks started from it: the app's dispatchers and jobs,
started before, are left out.
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
    patched = [
        (cls, name, cls.__dict__.get(name))
        for cls, name in _methods_to_wrap(connections.get("default"))
    ]
    for cls, name, _own in patched:
        setattr(cls, name, _recorded(getattr(cls, name)))
    seen: list[Statement] = []
    token = _recording.set(seen)
    try:
        yield seen
    finally:
        _recording.reset(token)
        for cls, name, own in patched:
            if own is None:
                delattr(cls, name)
            else:
                setattr(cls, name, own)


def _methods_to_wrap(client: Any) -> list[tuple[type, str]]:
    """(class, method) pairs to wrap so that every statement is counted once: the
    client's class, and its transaction client's class unless that inherits from it."""
    client_class = type(client)
    context = client._in_transaction()
    # SQLite's transaction context names its client `connection`, the pooled one `client`.
    transaction_client = getattr(context, "connection", None) or getattr(context, "client", client)
    transaction_class = type(transaction_client)
    classes = [client_class]
    if not issubclass(transaction_class, client_class):
        classes.append(transaction_class)
    return [(cls, name) for cls in classes for name in _METHODS]
