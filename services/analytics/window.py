"""The business-date window of a figures request and the SQL that differs by backend.

"As of" a date means the end of that business day: every timestamp compared is before
00:00 UTC of the next day, every date on or before the day itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from services.errors import InvalidInputError
from services.platform import clock

#: The longest period (`since` .. `as_of`, both included) one request may ask for.
MAX_PERIOD_DAYS = 366

_RATE_QUANTUM = Decimal("0.0001")

# The earliest business day any row of the platform records: its first day.
_FIRST_DAY_SQL = (
    "SELECT (SELECT MIN(created_at) FROM users) AS first_user,"
    " (SELECT MIN(created_at) FROM loans) AS first_loan"
)


@dataclass(frozen=True)
class Window:
    """A checked request window: `as_of` and `since` are business dates, `end` the first
    instant after `as_of` (timestamps strictly before it happened by then)."""

    as_of: date
    since: date
    closed: bool = False  # as_of is before today: the day is over, its figures final

    @property
    def end(self) -> datetime:
        return datetime.combine(self.as_of + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def since_start(self) -> datetime:
        return datetime.combine(self.since, time(), tzinfo=UTC)


def _as_date(value: Any) -> date | None:
    """A MIN(created_at) as the backend returns it (a datetime, or ISO text on SQLite)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).astimezone(UTC).date()


async def first_day(today: date) -> date:
    """The platform's first business day: the day of its earliest user or loan row, or
    `today` while there is none."""
    rows = await connections.get("default").execute_query_dict(_FIRST_DAY_SQL)
    found = [d for d in (_as_date(rows[0]["first_user"]), _as_date(rows[0]["first_loan"])) if d]
    return min([today, *found])


async def check_window(as_of: date | None, since: date | None = None) -> Window:
    """The window a request asks for, checked: `as_of` (default business today) neither
    before the platform's first day nor after today, `since` (default the first day of
    `as_of`'s month, or the platform's first day when that is later) not after `as_of`
    and not before the first day, and the period at most `MAX_PERIOD_DAYS` days, both
    ends included. Raises InvalidInputError with the field at fault."""
    today = await clock.today()
    first = await first_day(today)
    as_of = as_of or today
    if as_of > today:
        raise InvalidInputError(f"asOf {as_of} is after today ({today})", field="asOf")
    if as_of < first:
        raise InvalidInputError(
            f"asOf {as_of} is before the platform's first day ({first})", field="asOf"
        )
    if since is None:
        since = max(as_of.replace(day=1), first)
    elif since < first:
        raise InvalidInputError(
            f"since {since} is before the platform's first day ({first})", field="since"
        )
    if since > as_of:
        raise InvalidInputError(f"since {since} is after asOf {as_of}", field="since")
    if (as_of - since).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInputError(
            f"A period may be at most {MAX_PERIOD_DAYS} days long", field="since"
        )
    return Window(as_of=as_of, since=since, closed=as_of < today)


def ratio(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to four places, half-up (0 when the denominator is 0)."""
    return _quotient(numerator, denominator, _RATE_QUANTUM)


def ratio_to(numerator: int, denominator: int, places: int) -> Decimal:
    """numerator / denominator to `places` decimal places, half-up (0 for 0 / 0)."""
    return _quotient(numerator, denominator, Decimal(1).scaleb(-places))


def _quotient(numerator: int, denominator: int, quantum: Decimal) -> Decimal:
    if not denominator:
        return Decimal(0).quantize(quantum)
    with localcontext() as context:
        context.prec = len(str(abs(numerator))) + len(str(abs(denominator))) + 10
        return (Decimal(numerator) / Decimal(denominator)).quantize(quantum, rounding=ROUND_HALF_UP)


class Dialect:
    """The SQL phrases that differ between PostgreSQL and SQLite, for one connection."""

    def __init__(self, connection: Any) -> None:
        self.postgres = connection.capabilities.dialect == "postgres"

    def p(self, number: int) -> str:
        """The `number`-th parameter (services.kit.db.param)."""
        return f"${number}" if self.postgres else f"?{number}"

    def date_p(self, number: int) -> str:
        """The `number`-th parameter, typed as a date where the backend needs to know."""
        return f"CAST(${number} AS DATE)" if self.postgres else f"?{number}"

    def add_days(self, expression: str, days: int) -> str:
        """A date `days` after the date `expression`."""
        if self.postgres:
            return f"({expression} + {days})"
        return f"date({expression}, '+{days} days')"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from the date `earlier` to the date `later`."""
        if self.postgres:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def month_index(self, expression: str, *, timestamp: bool) -> str:
        """year x 12 + month of a date or (UTC) timestamp: months apart by subtraction."""
        if self.postgres:
            value = f"({expression} AT TIME ZONE 'UTC')" if timestamp else expression
            return f"CAST(EXTRACT(YEAR FROM {value}) * 12 + EXTRACT(MONTH FROM {value}) AS INTEGER)"
        return (
            f"(CAST(strftime('%Y', {expression}) AS INTEGER) * 12"
            f" + CAST(strftime('%m', {expression}) AS INTEGER))"
        )

    def micro(self, expression: str) -> str:
        """A rate column as an integer of millionths (rates have at most six places), so
        weighted sums stay exact on SQLite, which keeps decimals as text."""
        return f"CAST(ROUND({expression} * 1000000) AS BIGINT)"


def dialect() -> tuple[Any, Dialect]:
    connection = connections.get("default")
    return connection, Dialect(connection)


# PostgreSQL's JIT compiles a statement whose estimated cost passes jit_above_cost: the
# figures' aggregates over the whole book pass it, and compiling took longer than
# running them (3.1 s of 3.6 s for the overdue statement over 100,000 loans,
# docs/analytics-bench.md). Their sorts and hashes of a few hundred thousand rows spill
# to disk with the default 4 MB of work_mem.
_ANALYTICS_SETTINGS = "SET LOCAL jit = off; SET LOCAL work_mem = '32MB'"


@contextlib.asynccontextmanager
async def reading() -> AsyncIterator[tuple[Any, Dialect]]:
    """The connection and dialect a figure's statements run on: on PostgreSQL one
    transaction with JIT compilation off and more work_mem (`SET LOCAL`: for this
    transaction only, whatever the pool's connection does next); on SQLite the
    connection itself."""
    connection, sql = dialect()
    if not sql.postgres:
        yield connection, sql
        return
    async with in_transaction() as transaction:
        await transaction.execute_script(_ANALYTICS_SETTINGS)
        yield transaction, sql
