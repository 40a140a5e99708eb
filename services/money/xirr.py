"""XIRR: the annual rate at which dated cash flows are worth nothing today (M12.3).

Pure, no database. A flow is a date and a signed amount (fen: money in to the holder
positive, money out negative; any unit works, the rate does not depend on it). The day
count is actual/365 from the earliest flow: a flow `d` days after it is discounted by
`(1 + r) ** (d / 365)`.

The rate is solved in floats (a root-finder's intermediate maths, not money): Newton's
method from 10 %, and when Newton leaves the domain (r <= -1), stalls or diverges, a
bisection over the first bracket where the value changes sign. Both stop when the rate
moves by less than `TOLERANCE`. Callers turn the float into a `Decimal` at their edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

TOLERANCE = 1e-10
DAYS_PER_YEAR = 365.0
_NEWTON_START = 0.1
_NEWTON_STEPS = 100
_BISECTION_STEPS = 200
# Rates tried, in order, to find a bracket for the bisection: just above -100 % up to
# a million per cent. A flow set with no sign change on this grid has no rate we report.
_GRID = (
    -0.999999,
    -0.99,
    -0.9,
    -0.5,
    -0.2,
    0.0,
    0.1,
    0.5,
    1.0,
    3.0,
    10.0,
    100.0,
    1e4,
)

Flow = tuple[date, float]  # the amount: integer fen from the books (exact), or a float


def _years(flows: Sequence[Flow]) -> list[tuple[float, float]]:
    """(years since the earliest flow, amount) of each day's flows summed, in date order,
    days netting to zero left out: the same answer whatever the order of `flows`. Integer
    amounts are summed as integers, so flows that cancel to the fen cancel exactly; only
    the sums become floats, for the root-finder."""
    by_day: dict[date, float] = {}
    for day, amount in flows:
        by_day[day] = by_day.get(day, 0) + amount
    start = min(by_day, default=date.min)
    return [
        ((day - start).days / DAYS_PER_YEAR, float(amount))
        for day, amount in sorted(by_day.items())
        if amount != 0
    ]


def npv(rate: float, flows: Sequence[Flow]) -> float:
    """The flows' value at the earliest date, discounted at `rate` (actual/365)."""
    return float(sum(amount * (1.0 + rate) ** -years for years, amount in _years(flows)))


def _npv_and_slope(rate: float, timed: list[tuple[float, float]]) -> tuple[float, float]:
    base = 1.0 + rate
    value = 0.0
    slope = 0.0
    for years, amount in timed:
        discounted = amount * base**-years
        value += discounted
        slope -= years * discounted / base
    return value, slope


def _newton(timed: list[tuple[float, float]]) -> float | None:
    """Newton's method from 10 %; None when it leaves r > -1, meets a flat slope or does
    not settle within `_NEWTON_STEPS`."""
    rate = _NEWTON_START
    for _step in range(_NEWTON_STEPS):
        try:
            value, slope = _npv_and_slope(rate, timed)
        except (OverflowError, ZeroDivisionError):
            return None
        if slope == 0.0 or not math.isfinite(value) or not math.isfinite(slope):
            return None
        following = rate - value / slope
        if following <= -1.0 or not math.isfinite(following):
            return None
        if abs(following - rate) < TOLERANCE:
            return following
        rate = following
    return None


def _bisection(value_at: Callable[[float], float]) -> float | None:
    """Bisection inside the first sign change on `_GRID`; None if there is none."""
    low = _GRID[0]
    low_value = value_at(low)
    for high in _GRID[1:]:
        high_value = value_at(high)
        if low_value == 0.0:
            return low
        if (low_value < 0.0) != (high_value < 0.0):
            for _step in range(_BISECTION_STEPS):
                middle = (low + high) / 2.0
                middle_value = value_at(middle)
                if (low_value < 0.0) == (middle_value < 0.0):
                    low, low_value = middle, middle_value
                else:
                    high = middle
                # To 1e-10, and finer near -100 % where the value turns on 1 + r.
                if high - low < TOLERANCE * min(1.0, 1.0 + low):
                    break
            return (low + high) / 2.0
        low, low_value = high, high_value
    return None


def xirr(flows: Sequence[Flow]) -> float | None:
    """The annual rate r > -1 at which the flows' NPV is zero (actual/365), to
    `TOLERANCE`; None when it is undefined: not both money in and money out (after
    summing each day's flows), or no rate found between -100 % and 1,000,000 %.

    Where several rates solve the flows (cash flows changing sign more than once), the
    one Newton reaches from 10 % is returned, else the lowest the bisection finds."""
    timed = _years(flows)
    if not any(amount > 0 for _y, amount in timed) or not any(amount < 0 for _y, amount in timed):
        return None  # fewer than two days with money, or all of one sign
    found = _newton(timed)
    if found is not None:
        return found

    def value_at(rate: float) -> float:
        try:
            return _npv_and_slope(rate, timed)[0]
        except OverflowError:
            return math.inf

    return _bisection(value_at)
