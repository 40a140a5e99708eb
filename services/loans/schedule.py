"""Repayment schedules and the all-in annual cost of a loan. Pure functions, no I/O.

The conventions, in one place (docs/decisions.md, "Repayment schedules"):

- **Exact maths, one rounding.** Amounts are int fen, rates `Decimal` annual fractions
  (`Decimal("0.12")` is 12 % a year). Everything in between is exact (integer
  numerators over a common denominator); each amount is rounded once, half-up to the fen
  (`round_half_up`, the rule of `services.money.money.ROUNDING`). Never float.
- **Due dates.** Installment k is due k months after the start (disbursement) date, on
  the start's day of the month clamped to the month's length: a loan started on Jan 31
  is due Feb 29 (or 28), Mar 31, Apr 30, ... The clamp is applied per month from the
  original day, never carried forward (`due_date`).
- **Rules edition**, frozen on the loan with its other terms when it is published
  (`LoanTerms.schedule_rules` from `Loan.schedule_rules`). A change to these
  conventions that moves any amount is a new `ScheduleRules` edition: loans published
  from then on use it (`CURRENT_SCHEDULE_RULES`, the default, and what the preview
  shows), every older loan keeps its own for its all-in cost, its contract (made when
  it fills) and its installments (written at payout), so those always agree. So far
  the editions differ only in `EQUAL_PRINCIPAL` (below).
- **Day count**, frozen on the loan with its other terms (`LoanTerms.day_count`):
  `MONTHLY_30_360`: every period is one month, period rate = annual rate / 12.
  `ACTUAL_365`: period rate = annual rate * days in the period / 365, the periods running
  from the start to the first due date, then from due date to due date.
- **Methods** (interest is always on the balance owed during the period):
  `EQUAL_INSTALLMENT` (等额本息): a level payment A = half-up of the exact annuity
  P / Σₖ Πⱼ≤ₖ (1 + rⱼ)⁻¹ (with one rate r that is P·r(1+r)ⁿ/((1+r)ⁿ-1)); each month
  interest = half-up(balance * r), principal = A - interest; the last installment repays
  the whole remaining balance plus its interest, so its total may differ from A, by at
  most S fen, S = Σₖ Πⱼ>ₖ (1 + rⱼ) (n at a zero rate; about 163 at 36 % over 60 months;
  in practice a median of 7 fen and rarely over 50 up to 60 months). A loan of a few
  fen per month can be repaid before the end (a payment never exceeds the balance; the
  installments left are then zero). On actual/365, very long terms at high rates can
  make a 31-day month's interest exceed A: refused with `InvalidInputError`, never
  negative amortisation.
  `EQUAL_PRINCIPAL` (等额本金): principal q = half-up(P / n) in each of the first n - 1
  months, the last repays the rest, P - (n - 1)·q, so q - n/2 <= last < q + n/2
  (¥50,000.00 over 36 months: 1,388.89 x 35, then 1,388.85); interest
  half-up(balance * r). One fallback, for tiny amounts only: when (n - 1)·q >= P, i.e.
  the last would be zero or negative (5 fen over 8 months: 1 fen x 7, then -2), the
  first n - 1 take floor(P / n) instead and the last the rest, floor(P / n) + P mod n
  (0 x 7, then 5). With P = f·n + m (0 <= m < n) that happens exactly when half-up
  rounded up (2m >= n) and f + m < n: only for P <= (n - 1)·floor(n / 2) <= n(n - 1)/2
  fen (at most ¥6.30 over 36 months, ¥646.20 over 360); below n fen the schedule is
  always 0 x (n - 1), then P. So every principal is >= 0 and the last > 0. That is
  `ScheduleRules.HALF_UP` (2), the rules of loans published since issue 13; a loan
  published before keeps `ScheduleRules.FLOOR` (1): principal floor(P / n) in each of
  the first n - 1 months and the last P - (n - 1)·floor(P / n) (¥50,000.00 over 36
  months: 1,388.88 x 35, then 1,389.20). The two differ exactly when half-up rounds
  up and does not fall back: 2m >= n and f + m >= n (every such loan above the tiny
  amounts, P > (n - 1)·floor(n / 2)).
  `INTEREST_FIRST` (先息后本): half-up(P * r) each month, all principal with the last.
  `LUMP_SUM` (一次性还本付息): one installment at maturity, principal plus simple interest
  half-up(P * Σ period rates): P * annual * n / 12 on 30/360, P * annual * days / 365 on
  actual/365.
- **Σ principal == amount**, exactly, for every method: the last installment absorbs
  every residue.
- **All-in annual cost** (`annual_cost_rate`): the XIRR of the borrower's cash flows on
  actual/365, Σ cf / (1 + x)^(days / 365) = amount, every fee included as a cash flow;
  compared with the 36 % cap of R3 by `exceeds_cap`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Final

from services.errors import InvalidInputError


class RepaymentMethod(StrEnum):
    EQUAL_INSTALLMENT = "EQUAL_INSTALLMENT"  # 等额本息
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"  # 等额本金
    INTEREST_FIRST = "INTEREST_FIRST"  # 先息后本
    LUMP_SUM = "LUMP_SUM"  # 一次性还本付息


class DayCount(StrEnum):
    MONTHLY_30_360 = "MONTHLY_30_360"  # each period one month: annual / 12
    ACTUAL_365 = "ACTUAL_365"  # each period its days / 365


class ScheduleRules(IntEnum):
    """The edition of the schedule rules a loan is computed by, frozen when it is
    published (`Loan.schedule_rules`). Numbered in the order adopted; they differ only
    in `EQUAL_PRINCIPAL`'s principal."""

    FLOOR = 1  # before issue 13: principal floor(P / n), the last P - (n - 1)·floor(P / n)
    HALF_UP = 2  # issue 13: principal half-up(P / n), the last the rest (with a fallback)


#: The rules a loan published now is computed by (and `loanSchedulePreview` shows).
CURRENT_SCHEDULE_RULES: Final = ScheduleRules.HALF_UP


MIN_TERM_MONTHS: Final = 1
MAX_TERM_MONTHS: Final = 360
#: Annual rates accepted on a loan: 0 <= rate < MAX_ANNUAL_RATE (100 % a year).
MAX_ANNUAL_RATE: Final = Decimal(1)

MONTHS_PER_YEAR: Final = 12
DAYS_PER_YEAR: Final = 365


def _is_int(value: object) -> bool:
    # bool is an int subclass; True fen is a bug, not one fen.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LoanTerms:
    """What a schedule is computed from, frozen when the loan is published: amount,
    rate, term, method, day count and the edition of the schedule rules (by default
    the current one; a loan's own from `Loan.schedule_rules`).

    Validated on construction: `InvalidInputError` (field "amount", "annualRate" or
    "termMonths") for amount_fen <= 0, a rate outside 0 <= rate < 1 (or not finite), a
    term outside 1..360 months; `TypeError` for a value of the wrong type (a float rate,
    a bool amount, a method that is not a `RepaymentMethod`, rules given as a plain int
    rather than `ScheduleRules`).
    """

    amount_fen: int
    annual_rate: Decimal
    term_months: int
    method: RepaymentMethod
    day_count: DayCount = DayCount.MONTHLY_30_360
    schedule_rules: ScheduleRules = CURRENT_SCHEDULE_RULES

    def __post_init__(self) -> None:
        if not _is_int(self.amount_fen):
            raise TypeError(f"amount_fen must be an int, not {type(self.amount_fen).__name__}")
        if self.amount_fen <= 0:
            raise InvalidInputError("Amount must be more than zero.", field="amount")
        if not isinstance(self.annual_rate, Decimal):
            raise TypeError(f"annual_rate must be a Decimal, not {type(self.annual_rate).__name__}")
        if not (self.annual_rate.is_finite() and 0 <= self.annual_rate < MAX_ANNUAL_RATE):
            raise InvalidInputError(
                f"Annual rate must be at least 0 and less than {MAX_ANNUAL_RATE}.",
                field="annualRate",
            )
        if not _is_int(self.term_months):
            raise TypeError(f"term_months must be an int, not {type(self.term_months).__name__}")
        if not MIN_TERM_MONTHS <= self.term_months <= MAX_TERM_MONTHS:
            raise InvalidInputError(
                f"Term must be {MIN_TERM_MONTHS} to {MAX_TERM_MONTHS} months.",
                field="termMonths",
            )
        if not isinstance(self.method, RepaymentMethod):
            raise TypeError("method must be a RepaymentMethod")
        if not isinstance(self.day_count, DayCount):
            raise TypeError("day_count must be a DayCount")
        if not isinstance(self.schedule_rules, ScheduleRules):
            raise TypeError("schedule_rules must be ScheduleRules")


@dataclass(frozen=True)
class Installment:
    """One scheduled payment. Amounts in fen; `total_fen = principal_fen + interest_fen`;
    `balance_after_fen` is the principal still owed once it is paid."""

    number: int  # 1-based
    due_date: date
    principal_fen: int
    interest_fen: int
    total_fen: int
    balance_after_fen: int


def round_half_up(numerator: int, denominator: int) -> int:
    """The fraction numerator / denominator rounded to an integer, half-up, exactly.

    The rule of `services.money.money.round_fen` (ties away from zero) in integers only, for
    the exact quotients the schedule maths produces: (25, 2) -> 13, (-25, 2) -> -13,
    (1, 3) -> 0. Raises `ValueError` unless the denominator is positive.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


def due_date(start: date, number: int) -> date:
    """The date `number` months after `start`, on start's day clamped to the month's end.

    due_date(date(2024, 1, 31), 1) == date(2024, 2, 29); (..., 2) == date(2024, 3, 31):
    each month is clamped from the original day, so a clamp never carries forward.
    `number` 0 is the start itself. Raises `ValueError` for a negative number.
    """
    if not _is_int(number) or number < 0:
        raise ValueError(f"number must be a non-negative int, not {number!r}")
    year, month_index = divmod(start.month - 1 + number, MONTHS_PER_YEAR)
    year += start.year
    month = month_index + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class _Rates:
    """The exact rate of each period, as numerators over one common denominator.

    Integers rather than `Fraction`s: every period's interest is then one multiplication
    and one floor division, with no gcd, which keeps a schedule well under a millisecond.
    """

    numerators: list[int]
    denominator: int

    def interest(self, period: int, balance_fen: int) -> int:
        """half-up(balance * rate of the period), 0-based `period`."""
        return round_half_up(balance_fen * self.numerators[period], self.denominator)


def _period_rates(terms: LoanTerms, dates: Sequence[date]) -> _Rates:
    """The rates of the periods between consecutive `dates`, by the loan's day count."""
    annual = Fraction(terms.annual_rate)
    if terms.day_count is DayCount.MONTHLY_30_360:
        return _Rates([annual.numerator] * (len(dates) - 1), annual.denominator * MONTHS_PER_YEAR)
    return _Rates(
        [annual.numerator * (later - earlier).days for earlier, later in pairwise(dates)],
        annual.denominator * DAYS_PER_YEAR,
    )


def _level_payment(amount_fen: int, rates: _Rates) -> int:
    """The payment that repays `amount_fen` in equal installments, half-up to the fen.

    With rⱼ = nⱼ / D, growth G = Πⱼ (1 + rⱼ) and S = Σₖ Πⱼ>ₖ (1 + rⱼ) (each payment grown
    to maturity), P·G - A·S = 0, so A = P·G / S. Scaled by Dⁿ both are integers:
    g = Πⱼ (D + nⱼ) and t = Σₖ Πⱼ>ₖ (D + nⱼ)·Dᵏ, so A = P·g / t exactly. With one rate
    r = n / D this is P·r(1 + r)ⁿ / ((1 + r)ⁿ - 1): g = (D + n)ⁿ, t = D·(g - Dⁿ) / n.
    """
    denominator, numerators = rates.denominator, rates.numerators
    first, periods = numerators[0], len(numerators)
    if all(numerator == first for numerator in numerators):
        if first == 0:
            return round_half_up(amount_fen, periods)
        growth = (denominator + first) ** periods
        grown = denominator * (growth - denominator**periods)  # t · n
        return round_half_up(amount_fen * growth * first, grown)
    growth, grown, scale = 1, 0, 1
    for numerator in numerators:
        growth *= denominator + numerator
        scale *= denominator
        grown = grown * (denominator + numerator) + scale
    return round_half_up(amount_fen * growth, grown)


_Rows = list[tuple[int, int]]  # (principal, interest) per installment


def _equal_installment(terms: LoanTerms, rates: _Rates) -> _Rows:
    amount_fen = terms.amount_fen
    payment = _level_payment(amount_fen, rates)
    last = len(rates.numerators) - 1
    rows: _Rows = []
    balance = amount_fen
    for period in range(last):
        interest = rates.interest(period, balance)
        if interest > payment:
            # Cannot happen on 30/360 (the payment exceeds P·r, and the balance never
            # exceeds P); on actual/365 only for long terms at high rates, where a 31-day
            # month's interest can exceed the level payment.
            raise InvalidInputError(
                "The equal installment would not cover one month's interest: shorten the "
                "term or choose another repayment method.",
                field="termMonths",
            )
        # Only on loans of a few fen per installment can the half-up payment repay the
        # balance before the end; the remaining installments are then zero.
        principal = min(payment - interest, balance)
        rows.append((principal, interest))
        balance -= principal
    rows.append((balance, rates.interest(last, balance)))
    return rows


def _equal_principal_part(amount_fen: int, periods: int, rules: ScheduleRules) -> int:
    """The principal of each of the first n - 1 installments, by the loan's rules."""
    if rules is ScheduleRules.FLOOR:
        return amount_fen // periods
    part = round_half_up(amount_fen, periods)
    if (periods - 1) * part >= amount_fen:
        # Half-up would leave the last principal <= 0: only when it rounded up and the
        # amount is tiny (P <= (n - 1)·floor(n / 2)). With the floor the last is
        # part + P mod n: never below the others, and > 0 as P > 0.
        part = amount_fen // periods
    return part


def _equal_principal(terms: LoanTerms, rates: _Rates) -> _Rows:
    last = len(rates.numerators) - 1
    part = _equal_principal_part(terms.amount_fen, last + 1, terms.schedule_rules)
    rows: _Rows = []
    balance = terms.amount_fen
    for period in range(last):
        rows.append((part, rates.interest(period, balance)))
        balance -= part
    rows.append((balance, rates.interest(last, balance)))
    return rows


def _interest_first(terms: LoanTerms, rates: _Rates) -> _Rows:
    amount_fen, last = terms.amount_fen, len(rates.numerators) - 1
    rows: _Rows = [(0, rates.interest(period, amount_fen)) for period in range(last)]
    rows.append((amount_fen, rates.interest(last, amount_fen)))
    return rows


def _lump_sum(terms: LoanTerms, rates: _Rates) -> _Rows:
    simple = round_half_up(terms.amount_fen * sum(rates.numerators), rates.denominator)
    return [(terms.amount_fen, simple)]


_METHODS: Final[dict[RepaymentMethod, Callable[[LoanTerms, _Rates], _Rows]]] = {
    RepaymentMethod.EQUAL_INSTALLMENT: _equal_installment,
    RepaymentMethod.EQUAL_PRINCIPAL: _equal_principal,
    RepaymentMethod.INTEREST_FIRST: _interest_first,
    RepaymentMethod.LUMP_SUM: _lump_sum,
}


def build_schedule(terms: LoanTerms, start: date) -> list[Installment]:
    """The installments of a loan disbursed on `start`, by its method and day count.

    Rules and rounding are those of the module docstring: every amount half-up to the
    fen from exact maths, the last installment absorbing every residue, so the principals
    add up to `terms.amount_fen` exactly and every principal and interest is >= 0. One
    installment per month (`terms.term_months` of them), due on `due_date(start, k)`;
    `LUMP_SUM` has a single installment at maturity.

    Raises `InvalidInputError(field="termMonths")` when an equal installment would not
    cover a period's interest (only possible on ACTUAL_365, for terms of about ten years
    or more at high rates); `TypeError` when `terms` is not a `LoanTerms`.
    """
    if not isinstance(terms, LoanTerms):
        raise TypeError("terms must be LoanTerms")
    dates = [due_date(start, number) for number in range(terms.term_months + 1)]
    rows = _METHODS[terms.method](terms, _period_rates(terms, dates))
    due_dates = dates[-1:] if terms.method is RepaymentMethod.LUMP_SUM else dates[1:]

    schedule: list[Installment] = []
    balance = terms.amount_fen
    for number, (when, (principal, interest)) in enumerate(
        zip(due_dates, rows, strict=True), start=1
    ):
        balance -= principal
        schedule.append(
            Installment(
                number=number,
                due_date=when,
                principal_fen=principal,
                interest_fen=interest,
                total_fen=principal + interest,
                balance_after_fen=balance,
            )
        )
    return schedule


def total_interest(schedule: Sequence[Installment]) -> int:
    """All interest of a schedule, in fen."""
    return sum(installment.interest_fen for installment in schedule)


def total_paid(schedule: Sequence[Installment]) -> int:
    """Everything the borrower pays under a schedule (principal + interest), in fen."""
    return sum(installment.total_fen for installment in schedule)


def cash_flows(schedule: Sequence[Installment]) -> list[tuple[date, int]]:
    """A schedule as the borrower's payments `(due date, total fen)`, for
    `annual_cost_rate`; add each fee as a cash flow of its own."""
    return [(installment.due_date, installment.total_fen) for installment in schedule]
