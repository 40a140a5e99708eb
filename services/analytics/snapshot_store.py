"""The stored daily figures (`figure_snapshots`): a figure's dataclass as JSON and back.

A closed business day's figures never change (every row they read is dated on or before
the day, and the clock does not go back), so the `analytics_snapshots` job computes them
once, the day after, and the figure queries read that row instead of the book
(`services.analytics.snapshots`). The JSON keeps what the dataclass holds exactly:
integers as integers, Decimals as their strings, dates as ISO strings, lists and nested
dataclasses as they are.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError

from models.disclosures import FigureSnapshot

T = TypeVar("T")


def encode(value: Any) -> Any:
    """A figure's dataclass (or any value inside one) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def decode(kind: Any, value: Any) -> Any:
    """`value` (from `encode`) as the type `kind` again: a dataclass, a list of one, a
    Decimal, a date, an optional one of them, or a plain value."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        present = [k for k in typing.get_args(kind) if k is not type(None)]
        return decode(present[0], value)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [decode(item, v) for v in value]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = dataclasses.fields(kind)
        built: Any = kind
        return built(**{f.name: decode(hints[f.name], value[f.name]) for f in fields})
    if kind is Decimal:
        return Decimal(value)
    if kind is date:
        return date.fromisoformat(value)
    return value


async def stored(kind: type[T], figure: str, day: date) -> T | None:
    """The snapshot of `figure` as of `day` as a `kind`, or None when none was taken."""
    row = await FigureSnapshot.get_or_none(day=day, figure=figure)
    return None if row is None else typing.cast(T, decode(kind, row.payload))


async def days_taken(figure: str, since: date, until: date) -> set[date]:
    """The days from `since` to `until` (both included) that have a snapshot of `figure`."""
    days = await FigureSnapshot.filter(figure=figure, day__gte=since, day__lte=until).values_list(
        "day", flat=True
    )
    return set(typing.cast(list[date], days))


async def store(figure: str, day: date, value: Any, now: datetime) -> bool:
    """Store `value` as the snapshot of `figure` as of `day`; False (and nothing written)
    when one is there already: a day's snapshot is written once."""
    try:
        await FigureSnapshot.create(day=day, figure=figure, payload=encode(value), created_at=now)
    except IntegrityError:
        return False
    return True


async def stored_on(figure: str, day: date) -> bool:
    """Whether `figure` has a snapshot as of `day`."""
    return await FigureSnapshot.exists(day=day, figure=figure)
