"""The business clock: what "now" and "today" are for schedules, overdue and accruals.

It is real time plus an offset stored in the database, so every process agrees. The
offset moves only in dev/test (`advance`). Each process caches the offset and re-reads
it when the broker's "clock" version changes.

In dev and test `CLOCK_START` (a date) pins where a new database's clock starts: the
first reading writes the offset that makes business time 00:00 UTC of that day (it then
runs at real speed). The test suite and `python -m app simulate` set it, so no test and
no simulated year depends on the day it runs; prod refuses the setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.expressions import F

from models.system import ClockState
from services.errors import DomainError
from services.kit.broker import get_broker
from services.kit.settings import get_settings

_VERSION_NAME = "clock"
# The most days one move may pass (ten years).
MAX_ADVANCE_DAYS = 3660


@dataclass
class _Cached:
    version: int = -1
    offset_seconds: int = 0


_cache = _Cached()


def system_now() -> datetime:
    """Real UTC time, for security timers (token and code expiry, lockouts)."""
    return datetime.now(UTC)


def _initial_offset() -> int:
    """The offset a new database's clock starts with: 0 (real time), or with
    `CLOCK_START` the one that makes business time 00:00 UTC of that day now."""
    start = get_settings().clock_start
    return 0 if start is None else _offset_to(start)


def _offset_to(day: date) -> int:
    """The offset that makes business time 00:00 UTC of `day` now: rounded up, so it is
    midnight or just after, never the day before."""
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return math.ceil((midnight - system_now()).total_seconds())


async def _state() -> ClockState:
    """The clock's row, written with its initial offset by the first reader (of any
    process: the row's key decides which write counts)."""
    state, _created = await ClockState.get_or_create(
        id=1, defaults={"offset_seconds": _initial_offset()}
    )
    return state


async def _offset() -> int:
    version = await get_broker().version(_VERSION_NAME)
    if version != _cache.version:
        state = await ClockState.get_or_none(id=1)
        if state is None and get_settings().clock_start is not None:
            state = await _state()
        _cache.offset_seconds = state.offset_seconds if state else 0
        _cache.version = version
    return _cache.offset_seconds


async def now() -> datetime:
    """Business time, UTC-aware."""
    return system_now() + timedelta(seconds=await _offset())


async def today() -> date:
    return (await now()).date()


def check_advance(days: int) -> None:
    """Whether the clock may move forward by `days`: DomainError(FORBIDDEN) outside
    dev/test, DomainError(INVALID, field days) for days outside 1..3660."""
    if not get_settings().dev_tools_enabled:
        raise DomainError("The clock can be moved only in dev or test", code="FORBIDDEN")
    if not 1 <= days <= MAX_ADVANCE_DAYS:
        raise DomainError(f"days must be between 1 and {MAX_ADVANCE_DAYS}", field="days")


async def advance(*, days: int) -> datetime:
    """Move business time forward by whole days (dev/test only; never backwards).

    Raises DomainError(FORBIDDEN) outside dev/test and DomainError(INVALID) for
    days outside 1..3660 (`check_advance`).
    """
    check_advance(days)
    await _state()
    # A conditional UPDATE, not read-add-save: two advances never lose one.
    await ClockState.filter(id=1).update(offset_seconds=F("offset_seconds") + days * 86400)
    await get_broker().bump(_VERSION_NAME)
    return await now()


async def start_at(day: date) -> datetime:
    """Set business time to 00:00 UTC of `day`, backwards too: only for a new database
    (a simulation's scratch one), and only in dev/test. Raises DomainError(FORBIDDEN)
    elsewhere."""
    if not get_settings().dev_tools_enabled:
        raise DomainError("The clock can be set only in dev or test", code="FORBIDDEN")
    await _state()
    await ClockState.filter(id=1).update(offset_seconds=_offset_to(day))
    await get_broker().bump(_VERSION_NAME)
    return await now()


def reset_cache() -> None:
    _cache.version = -1
