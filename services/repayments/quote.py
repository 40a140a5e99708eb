"""What a repayment pays: pure functions, no I/O.

- **The next installment(s).** The earliest unpaid installments in number order, each
  whole: what is left of its principal, interest and fee, and the penalty interest
  accrued on it so far. Paying an installment before its due date is allowed and
  changes nothing of its amounts.
- **Early repayment in full.** Every unpaid installment due on or before the repayment
  day is paid whole (with its penalty). Of the rest, the remaining principal R is paid
  with the interest accrued on R from the last due date on or before the repayment day
  (or the start, when none is) to the repayment day, by the loan's day count:
  `ACTUAL_365` R x rate x days / 365, `MONTHLY_30_360` R x rate x days / 360 with days
  counted 30E/360 (each day of month capped at 30); half-up to the fen, and never more
  than the scheduled interest of the period. No service fee is charged for the months
  not yet begun (the fee is monthly: the installments not yet due carry none). The
  early-repayment fee is the parameter's share of R, half-up, capped so that the loan's
  all-in cost (every payment the borrower made, on the day made, and this one, penalty
  interest excluded) stays within R3: the daily IRR x 365 at most 0.36. The cap is
  found by bisection over whole fen (the cost rises with the fee).
- **An amount towards what has fallen due** (`towards_due`, mode AMOUNT). The
  installments that have fallen due (unpaid, due on or before the repayment day: PENDING
  due today, or OVERDUE), oldest first, each whole (`whole`: what is left of its parts
  and the penalty accrued through today). The amount pays them in turn: every one it
  covers whole is settled, the one where the amount runs out gets the rest, shared over
  its parts in the allocation order (`apply`), and is left partly paid (`Line.settles`
  false). The amount must be more than 0 and at most what has fallen due (the caller
  refuses it otherwise); exactly that much pays every installment fallen due, the same
  lines as the next n installments.
- **Allocation order.** `apply` settles an amount over an installment's parts in the
  platform's order (parameter `repayments.allocationOrder`, default penalty, interest,
  principal, fee): each part takes what is left of the amount, up to what it asks. A
  whole installment's total gives the installment itself, so the order only decides the
  amounts of a partial payment (mode AMOUNT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.loans.cost import COST_CAP, annual_cost_rate
from services.loans.schedule import DAYS_PER_YEAR, DayCount, round_half_up
from services.repayments.policy import Part

DAYS_360 = 360


@dataclass(frozen=True)
class Row:
    """An installment as the quote sees it (a `LoanInstallment`'s amounts)."""

    number: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    paid_principal_fen: int = 0
    paid_interest_fen: int = 0
    paid_fee_fen: int = 0
    penalty_accrued_fen: int = 0
    penalty_paid_fen: int = 0
    paid: bool = False


@dataclass(frozen=True)
class Line:
    """What a repayment pays of one installment."""

    number: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    penalty_fen: int
    # False when the line pays only part of what the installment asks (mode AMOUNT): the
    # installment then stays unpaid, with its paid parts raised.
    settles: bool = True

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.fee_fen + self.penalty_fen

    def part(self, which: Part) -> int:
        return {
            Part.PRINCIPAL: self.principal_fen,
            Part.INTEREST: self.interest_fen,
            Part.FEE: self.fee_fen,
            Part.PENALTY: self.penalty_fen,
        }[which]


@dataclass(frozen=True)
class Quote:
    lines: list[Line]
    early_fee_fen: int = 0
    early_fee_asked_fen: int = 0  # before the R3 cap
    accrued_days: int = 0

    @property
    def total_fen(self) -> int:
        return sum(line.total_fen for line in self.lines) + self.early_fee_fen


def whole(row: Row) -> Line:
    """Everything an installment still asks for."""
    return Line(
        number=row.number,
        due_date=row.due_date,
        principal_fen=row.principal_fen - row.paid_principal_fen,
        interest_fen=row.interest_fen - row.paid_interest_fen,
        fee_fen=row.fee_fen - row.paid_fee_fen,
        penalty_fen=row.penalty_accrued_fen - row.penalty_paid_fen,
    )


def unpaid(rows: Sequence[Row]) -> list[Row]:
    return sorted((row for row in rows if not row.paid), key=lambda row: row.number)


def next_installments(rows: Sequence[Row], count: int) -> Quote:
    """The `count` earliest unpaid installments, whole (fewer when fewer are left)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    return Quote(lines=[whole(row) for row in unpaid(rows)[:count]])


def fallen_due(rows: Sequence[Row], today: date) -> list[Line]:
    """The unpaid installments due on or before `today`, oldest first, each whole."""
    return [whole(row) for row in unpaid(rows) if row.due_date <= today]


def towards_due(lines: Sequence[Line], amount_fen: int, order: Sequence[Part]) -> Quote:
    """Pay `amount_fen` towards `lines` (`fallen_due`), oldest first: see the module
    docstring. Lines the amount does not reach are left out. Raises ValueError when the
    amount is not above 0 or more than the lines ask (the caller refuses those first)."""
    if amount_fen <= 0 or amount_fen > sum(line.total_fen for line in lines):
        raise ValueError("the amount must be above 0 and at most what has fallen due")
    paid: list[Line] = []
    left = amount_fen
    for line in lines:
        if left == 0:
            break
        part = min(left, line.total_fen)
        paid.append(apply(part, line, order))
        left -= part
    return Quote(lines=paid)


def days_30e_360(start: date, end: date) -> int:
    """Days from `start` to `end` by 30E/360: each day of the month capped at 30."""
    return (
        (end.year - start.year) * DAYS_360
        + (end.month - start.month) * 30
        + min(end.day, 30)
        - min(start.day, 30)
    )


def accrued_interest(
    principal_fen: int, annual_rate: Decimal, day_count: DayCount, since: date, until: date
) -> tuple[int, int]:
    """Interest on `principal_fen` from `since` to `until` (half-up), and the days."""
    rate = Fraction(annual_rate)
    if day_count is DayCount.ACTUAL_365:
        days, year = (until - since).days, DAYS_PER_YEAR
    else:
        days, year = days_30e_360(since, until), DAYS_360
    days = max(0, days)
    return round_half_up(principal_fen * rate.numerator * days, rate.denominator * year), days


def early_full(
    rows: Sequence[Row],
    *,
    today: date,
    start: date,
    amount_fen: int,
    annual_rate: Decimal,
    day_count: DayCount,
    early_fee_share: Decimal,
    paid_flows: Sequence[tuple[date, int]],
) -> Quote:
    """Repay everything today: see the module docstring. `paid_flows` are the payments
    the borrower already made on this loan (date, fen, penalty excluded), for R3."""
    open_rows = unpaid(rows)
    due = [whole(row) for row in open_rows if row.due_date <= today]
    later = [row for row in open_rows if row.due_date > today]
    if not later:
        return Quote(lines=due)
    past_due_dates = [row.due_date for row in rows if row.due_date <= today]
    since = max(past_due_dates) if past_due_dates else start
    remaining = sum(row.principal_fen - row.paid_principal_fen for row in later)
    accrued, days = accrued_interest(remaining, annual_rate, day_count, since, today)
    first = later[0]
    lines = [
        *due,
        Line(
            number=first.number,
            due_date=first.due_date,
            principal_fen=first.principal_fen - first.paid_principal_fen,
            interest_fen=min(accrued, first.interest_fen - first.paid_interest_fen),
            fee_fen=0,
            penalty_fen=first.penalty_accrued_fen - first.penalty_paid_fen,
        ),
        *(
            Line(
                number=row.number,
                due_date=row.due_date,
                principal_fen=row.principal_fen - row.paid_principal_fen,
                interest_fen=0,
                fee_fen=0,
                penalty_fen=row.penalty_accrued_fen - row.penalty_paid_fen,
            )
            for row in later[1:]
        ),
    ]
    quote = Quote(lines=lines, accrued_days=days)
    share = Fraction(early_fee_share)
    asked = round_half_up(remaining * share.numerator, share.denominator)
    fee = capped_early_fee(
        asked,
        amount_fen=amount_fen,
        start=start,
        today=today,
        flows=paid_flows,
        payoff_fen=sum(line.total_fen - line.penalty_fen for line in lines),
    )
    return replace(quote, early_fee_fen=fee, early_fee_asked_fen=asked)


def cost_with(
    fee_fen: int,
    *,
    amount_fen: int,
    start: date,
    today: date,
    flows: Sequence[tuple[date, int]],
    payoff_fen: int,
) -> Decimal | None:
    """The loan's all-in cost (daily IRR x 365) if paid off today with this fee; None
    when it is unbounded (everything paid on the start day)."""
    try:
        return annual_cost_rate(
            amount_fen,
            [*flows, (today, payoff_fen + fee_fen)],
            start=start,
            daily_nominal=True,
        )
    except ValueError:
        return None


def capped_early_fee(
    asked_fen: int,
    *,
    amount_fen: int,
    start: date,
    today: date,
    flows: Sequence[tuple[date, int]],
    payoff_fen: int,
) -> int:
    """The largest fee up to `asked_fen` that keeps the all-in cost within R3."""

    def fits(fee: int) -> bool:
        cost = cost_with(
            fee, amount_fen=amount_fen, start=start, today=today, flows=flows, payoff_fen=payoff_fen
        )
        return cost is not None and cost <= COST_CAP

    if asked_fen <= 0 or fits(asked_fen):
        return max(0, asked_fen)
    if not fits(0):
        return 0
    low, high = 0, asked_fen  # fits(low), not fits(high)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def apply(amount_fen: int, line: Line, order: Sequence[Part]) -> Line:
    """Settle `amount_fen` (at most the line's total) over the line's parts in `order`:
    what each part receives. The whole line's total gives the line itself; less leaves
    the installment partly paid (`settles` false)."""
    if not 0 <= amount_fen <= line.total_fen:
        raise ValueError("the amount must be between 0 and what the installment asks")
    left = amount_fen
    paid: dict[Part, int] = {}
    for which in order:
        paid[which] = min(left, line.part(which))
        left -= paid[which]
    return replace(
        line,
        principal_fen=paid[Part.PRINCIPAL],
        interest_fen=paid[Part.INTEREST],
        fee_fen=paid[Part.FEE],
        penalty_fen=paid[Part.PENALTY],
        settles=line.settles and amount_fen == line.total_fen,
    )
