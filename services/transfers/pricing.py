"""What a purchase on the secondary market costs and pays, in integer fen (pure).

Every amount is computed exactly (fractions) from the listing and the loan as they stand
at the moment of purchase and rounded once, half-up:

- price = principal bought x (1 + the listing's rate), the rate a discount (negative)
  or a premium (positive) on the outstanding principal;
- accrued interest, the seller's: the loan's next installment's interest x (principal
  bought / the loan's outstanding principal) x (days from the period's start to the
  day of purchase / the days of the period), the period running from the last due date
  (or the disbursement) to the next due date; 0 on the period's first day, the whole
  share on its due date;
- fee, the platform's, charged to the seller: price x the fee rate;
- the buyer pays price + accrued; the seller receives price + accrued - fee.

`buyer_xirr` is the annual rate the buyer earns at that cost from the part of each open
installment the principal bought entitles them to, on its due date (services.money.xirr):
what the listing shows as "XIRR at this price".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.money.xirr import xirr


def half_up(value: Fraction) -> int:
    """`value` rounded to a whole fen, half-up (ties away from zero)."""
    magnitude = (abs(value.numerator) * 2 + value.denominator) // (2 * value.denominator)
    return magnitude if value >= 0 else -magnitude


@dataclass(frozen=True)
class Period:
    """The installment period a purchase falls in: from `start` (the last due date, or
    the disbursement) to `due` (the next installment's due date), and that
    installment's interest for the whole loan."""

    start: date
    due: date
    interest_fen: int


@dataclass(frozen=True)
class Quote:
    principal_fen: int
    price_fen: int
    accrued_interest_fen: int
    fee_fen: int

    @property
    def buyer_pays_fen(self) -> int:
        return self.price_fen + self.accrued_interest_fen

    @property
    def seller_receives_fen(self) -> int:
        return self.price_fen + self.accrued_interest_fen - self.fee_fen


def accrued_interest(
    principal_fen: int, loan_outstanding_fen: int, period: Period, on: date
) -> int:
    """The seller's interest accrued on `principal_fen` of the loan's outstanding by `on`."""
    if loan_outstanding_fen <= 0 or not 0 < principal_fen <= loan_outstanding_fen:
        raise ValueError("the principal bought must be within the loan's outstanding")
    length = (period.due - period.start).days
    if length <= 0:
        raise ValueError("a period must end after it starts")
    elapsed = min(max((on - period.start).days, 0), length)
    share = Fraction(period.interest_fen * principal_fen, loan_outstanding_fen)
    return half_up(share * elapsed / length)


def quote(
    *,
    principal_fen: int,
    rate: Decimal,
    fee_rate: Decimal,
    loan_outstanding_fen: int,
    period: Period,
    on: date,
) -> Quote:
    """The purchase of `principal_fen` at the listing's `rate` on the day `on`."""
    price = half_up(Fraction(principal_fen) * (1 + Fraction(rate)))
    return Quote(
        principal_fen=principal_fen,
        price_fen=price,
        accrued_interest_fen=accrued_interest(principal_fen, loan_outstanding_fen, period, on),
        fee_fen=half_up(Fraction(price) * Fraction(fee_rate)),
    )


def buyer_xirr(
    cost_fen: int,
    on: date,
    principal_fen: int,
    loan_outstanding_fen: int,
    installments: Sequence[tuple[date, int, int]],
) -> float | None:
    """The buyer's XIRR paying `cost_fen` on `on` for `principal_fen` of the loan's
    `loan_outstanding_fen`: the open installments (due date, principal, interest still
    to pay) shared in that proportion, on their due dates."""
    part = Fraction(principal_fen, loan_outstanding_fen)
    flows: list[tuple[date, float]] = [(on, -float(cost_fen))]
    flows += [(due, float((p + i) * part)) for due, p, i in installments]
    return xirr(flows)
