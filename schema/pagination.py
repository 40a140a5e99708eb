"""Relay-style connections with opaque keyset cursors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from schema.errors import BadUserInputError

NodeType = TypeVar("NodeType")
Row = TypeVar("Row")

MAX_PAGE = 100


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    node: NodeType
    cursor: str


@strawberry.type
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo
    total_count: int


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """The key inside a cursor; None for no cursor. A malformed cursor raises ValueError."""
    if not cursor:
        return None
    raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    if not raw.startswith("k:"):
        raise ValueError("bad cursor")
    return int(raw[2:])


def cursor_key(after: str | None) -> int | None:
    """The key inside a client's `after` cursor; a malformed one is BAD_USER_INPUT."""
    try:
        return decode_cursor(after)
    except ValueError as error:
        raise BadUserInputError("Unknown cursor", field="after") from error


def clamp_first(first: int | None) -> int:
    return max(1, min(first or 20, MAX_PAGE))


def build_connection(
    rows: Sequence[Row],
    *,
    first: int,
    total: int,
    has_previous: bool,
    key: Callable[[Row], int],
    node: Callable[[Row], NodeType],
) -> Connection[NodeType]:
    """`rows` holds up to first+1 rows; the extra one only tells that a next page exists."""
    page = list(rows[:first])
    edges = [Edge(node=node(row), cursor=encode_cursor(key(row))) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )
