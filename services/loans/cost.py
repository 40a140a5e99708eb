"""The annual cost rate of a loan (R3): the yearly rate at which what the borrower receives
equals what they pay back (cash flows of the schedule), and the cap it may not exceed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final

from services.loans.schedule import DAYS_PER_YEAR, MONTHS_PER_YEAR, _is_int, due_date

#: R3: the all-in annual cost to the borrower may not exceed 36 %.
COST_CAP: Final = Decimal("0.36")
#: Decimal places of `annual_cost_rate` (0.126825 is 12.6825 %).
COST_PLACES: Final = 6

_COST_QUANTUM: Final = Decimal(1).scaleb(-COST_PLACES)
# The cost solver works to 60 significant digits and stops when a step moves the discount
# factor by less than 1e-45 of itself: far below the 1e-6 the result is rounded to.
# Bisection alone would need about 150 steps from [0, 1]; Newton usually needs under 10.
_SOLVER_PRECISION: Final = 60
_SOLVER_TOLERANCE: Final = Decimal("1e-45")
_SOLVER_MAX_STEPS: Final = 2000


def _months_after(start: date, when: date) -> int:
    months = (when.year - start.year) * MONTHS_PER_YEAR + when.month - start.month
    if months < 0 or due_date(start, months) != when:
        raise ValueError(f"a monthly cost needs every cash flow on a due date; {when} is not")
    return months


def annual_cost_rate(
    amount_fen: int,
    cash_flows: Sequence[tuple[date, int]],
    *,
    start: date,
    periodic: bool = False,
    nominal: bool = False,
    daily_nominal: bool = False,
) -> Decimal:
    """The all-in annual cost of a loan of `amount_fen` paid out on `start`, as a Decimal
    fraction rounded half-up to `COST_PLACES` (6) places: 0.126825 is 12.6825 % a year.

    `cash_flows` are everything the borrower pays, `(date, fen)`: installments (see
    `cash_flows()`) and every fee, a fee paid on `start` itself included (it reduces what
    the borrower effectively received). The cost is the rate x with

        Σ cf / (1 + x)^t = amount_fen,

    t in years: days after `start` / 365 (XIRR, actual/365; the default), or with
    `periodic=True` months after `start` / 12, i.e. the monthly IRR m compounded,
    x = (1 + m)^12 - 1 (every flow must then fall on a due date of `start`).
    `nominal=True` is the regulator's IRR-based APR: the monthly IRR m times 12, not
    compounded, x = 12 m (flows on due dates, as for `periodic`); R3 is checked on this.
    `daily_nominal=True` is the same APR for flows on any day (an early repayment between
    due dates): the daily IRR d times 365, x = 365 d, not compounded.

    Solved without float and without fractional powers: with v = (1 + x)^(-1/365) (or
    ^(-1/12)) the left side is a polynomial in v with non-negative coefficients,
    increasing and convex on v > 0, with one root; Newton's method guarded by bisection
    finds it in 60-digit Decimal arithmetic to 1e-45 of v, then x = v^(-365) - 1 (or
    v^(-12) - 1). Payments worth less than the amount give a negative rate; exactly the
    amount gives 0.

    Raises `TypeError` for a non-int amount or fen, `ValueError` for amount <= 0, a
    negative cash flow, one dated before `start`, no positive payment after `start`, or
    payments on `start` that already cover the whole amount (an unbounded cost).
    """
    if not _is_int(amount_fen):
        raise TypeError(f"amount_fen must be an int, not {type(amount_fen).__name__}")
    if amount_fen <= 0:
        raise ValueError("amount_fen must be positive")
    # (exponent: days or months after start, fen)
    flows: list[tuple[int, int]] = []
    for when, fen in cash_flows:
        if not _is_int(fen):
            raise TypeError(f"cash flows must be int fen, not {type(fen).__name__}")
        if fen < 0:
            raise ValueError("cash flows are payments by the borrower and must be >= 0")
        if when < start:
            raise ValueError(f"cash flow on {when} is before the start {start}")
        monthly = periodic or nominal
        exponent = _months_after(start, when) if monthly else (when - start).days
        if fen:
            flows.append((exponent, fen))
    if sum(fen for exponent, fen in flows if exponent == 0) >= amount_fen:
        raise ValueError("payments on the start date cover the amount: the cost is unbounded")
    if not any(exponent > 0 for exponent, _ in flows):
        raise ValueError("annual_cost_rate needs at least one payment after the start")
    periods_per_year = MONTHS_PER_YEAR if periodic or nominal else DAYS_PER_YEAR

    with localcontext() as context:
        context.prec = _SOLVER_PRECISION
        v = _discount_factor(Decimal(amount_fen), flows)
        if nominal:
            rate = (1 / v - 1) * MONTHS_PER_YEAR
        elif daily_nominal:
            rate = (1 / v - 1) * DAYS_PER_YEAR
        else:
            rate = (1 / v) ** periods_per_year - 1
        # Only an absurd cost has more integer digits than the solver's precision; give
        # quantize room for them rather than fail.
        context.prec = max(context.prec, rate.adjusted() + COST_PLACES + 2)
        return rate.quantize(_COST_QUANTUM, rounding=ROUND_HALF_UP)


def _discount_factor(amount: Decimal, flows: Sequence[tuple[int, int]]) -> Decimal:
    """The v > 0 with Σ fen·v^exponent = amount, in the caller's Decimal context.

    The left side minus the amount, `excess`, is negative at v = 0 (checked by the
    caller) and increasing and convex on v > 0. Newton's method safeguarded by bisection
    (Numerical Recipes' rtsafe): a Newton step that would leave the bracket, or that
    shrinks more slowly than bisecting would, is replaced by a bisection, so it
    converges whatever the flows; usually in a handful of Newton steps.
    """

    def excess(v: Decimal) -> tuple[Decimal, Decimal]:
        """Σ fen·v^exponent - amount, and its derivative in v."""
        value, slope = -amount, Decimal(0)
        for exponent, fen in flows:
            if exponent == 0:
                value += fen
                continue
            power = v ** (exponent - 1)
            value += fen * power * v
            slope += fen * exponent * power
        return value, slope

    # Bracket the root: excess(low) < 0 <= excess(high). Doubling finds `high` because
    # excess grows without bound (some flow has a positive exponent).
    low, high = Decimal(0), Decimal(1)
    value, slope = excess(high)
    while value < 0:
        low, high = high, high * 2
        value, slope = excess(high)
    v = high
    step = step_before = high - low
    for _ in range(_SOLVER_MAX_STEPS):
        if value == 0:
            return v
        newton = v - value / slope
        if not low < newton < high or abs(2 * value) > abs(step_before * slope):
            step_before, step = step, (high - low) / 2
            v = low + step
        else:
            step_before, step = step, value / slope
            v = newton
        if abs(step) <= _SOLVER_TOLERANCE * v:
            return v
        value, slope = excess(v)
        if value < 0:
            low = v
        else:
            high = v
    raise ArithmeticError("annual_cost_rate did not converge")  # pragma: no cover


def exceeds_cap(rate: Decimal, cap: Decimal = COST_CAP) -> bool:
    """Whether an all-in annual cost (`annual_cost_rate`) is above the cap (R3: 36 %).

    Exactly the cap is allowed. Raises `TypeError` unless both are Decimals.
    """
    if not isinstance(rate, Decimal) or not isinstance(cap, Decimal):
        raise TypeError("rate and cap must be Decimals")
    return rate > cap
