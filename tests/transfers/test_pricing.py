"""The secondary market's money rules (pure): price, accrued interest, fee, what each
side pays and gets, to the fen and rounded once half-up; the buyer's XIRR at a price
against a known table and an independent bisection."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.money.xirr import xirr
from services.transfers import pricing
from services.transfers.pricing import Period

PERIOD = Period(start=date(2027, 1, 10), due=date(2027, 2, 10), interest_fen=50_000)


def test_a_purchase_at_a_discount_in_mid_period():
    # 10,000.00 of a loan with 50,000.00 outstanding, 5 % off, fee 1 %, bought 15 days
    # into a 31-day period whose installment carries 500.00 of interest.
    got = pricing.quote(
        principal_fen=1_000_000,
        rate=Decimal("-0.05"),
        fee_rate=Decimal("0.01"),
        loan_outstanding_fen=5_000_000,
        period=PERIOD,
        on=date(2027, 1, 25),
    )
    assert got.price_fen == 950_000
    assert got.accrued_interest_fen == 4_839  # 100.00 x 15 / 31 = 48.387... yuan
    assert got.fee_fen == 9_500
    assert got.buyer_pays_fen == 954_839
    assert got.seller_receives_fen == 945_339


@pytest.mark.parametrize(
    ("on", "accrued"),
    [
        (date(2027, 1, 5), 0),  # before the period (cannot happen): nothing
        (date(2027, 1, 10), 0),  # the period's first day
        (date(2027, 1, 11), 323),  # 10,000 / 31 = 322.58
        (date(2027, 2, 10), 10_000),  # the due date: the whole share
        (date(2027, 2, 20), 10_000),
    ],
)
def test_accrued_interest_runs_from_the_period_start_to_its_due_date(on, accrued):
    assert pricing.accrued_interest(1_000_000, 5_000_000, PERIOD, on) == accrued


def test_ties_are_rounded_half_up_once():
    period = Period(start=date(2027, 1, 1), due=date(2027, 1, 5), interest_fen=62)
    assert pricing.accrued_interest(1, 1, period, date(2027, 1, 2)) == 16  # 15.5
    got = pricing.quote(
        principal_fen=3,
        rate=Decimal("-0.5"),  # 1.5
        fee_rate=Decimal("0.5"),  # 2 x 0.5 = 1
        loan_outstanding_fen=3,
        period=period,
        on=date(2027, 1, 1),
    )
    assert (got.price_fen, got.fee_fen) == (2, 1)
    assert pricing.half_up(Fraction(-5, 2)) == -3


def test_bad_amounts_are_refused():
    for principal, outstanding in [(0, 10), (11, 10), (5, 0)]:
        with pytest.raises(ValueError, match="within the loan's outstanding"):
            pricing.accrued_interest(principal, outstanding, PERIOD, date(2027, 1, 20))
    with pytest.raises(ValueError, match="end after it starts"):
        pricing.accrued_interest(1, 1, Period(date(2027, 1, 1), date(2027, 1, 1), 5), PERIOD.due)


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(1, 10**10),
    extra=st.integers(0, 10**10),
    rate=st.decimals(min_value=Decimal("-0.2"), max_value=Decimal("0.05"), places=4),
    fee=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.05"), places=4),
    interest=st.integers(0, 10**9),
    length=st.integers(1, 62),
    day=st.integers(-5, 70),
)
def test_each_side_adds_up_and_each_amount_is_its_exact_value_rounded(
    principal, extra, rate, fee, interest, length, day
):
    outstanding = principal + extra
    period = Period(date(2027, 3, 1), date(2027, 3, 1) + timedelta(days=length), interest)
    on = period.start + timedelta(days=day)
    got = pricing.quote(
        principal_fen=principal,
        rate=rate,
        fee_rate=fee,
        loan_outstanding_fen=outstanding,
        period=period,
        on=on,
    )
    assert got.seller_receives_fen + got.fee_fen == got.buyer_pays_fen
    exact_price = Fraction(principal) * (1 + Fraction(rate))
    assert abs(got.price_fen - exact_price) <= Fraction(1, 2)
    assert abs(got.fee_fen - Fraction(got.price_fen) * Fraction(fee)) <= Fraction(1, 2)
    share = Fraction(interest * principal, outstanding)
    elapsed = min(max(day, 0), length)
    assert abs(got.accrued_interest_fen - share * elapsed / length) <= Fraction(1, 2)
    assert 0 <= got.accrued_interest_fen <= pricing.half_up(share)


# --- XIRR -------------------------------------------------------------------------------

# Flows and their XIRR as spreadsheet programs give it (Excel's documented example, and
# simple one-year cases).
KNOWN = [
    (
        [
            (date(2008, 1, 1), -10_000),
            (date(2008, 3, 1), 2_750),
            (date(2008, 10, 30), 4_250),
            (date(2009, 2, 15), 3_250),
            (date(2009, 4, 1), 2_750),
        ],
        0.373362535,
    ),
    ([(date(2027, 1, 1), -1_000), (date(2028, 1, 1), 1_100)], 0.1),
    ([(date(2027, 1, 1), -1_000), (date(2028, 1, 1), 900)], -0.1),
    ([(date(2027, 1, 1), -1_000), (date(2027, 7, 2), 1_000)], 0.0),
]


def _bisection(flows):
    """An independent XIRR: plain bisection of the actual/365 NPV in [-0.99, 10]."""
    first = min(day for day, _ in flows)

    def value(rate):
        return sum(amount / (1 + rate) ** ((day - first).days / 365) for day, amount in flows)

    low, high = -0.99, 10.0
    for _ in range(200):
        middle = (low + high) / 2
        if (value(low) > 0) == (value(middle) > 0):
            low = middle
        else:
            high = middle
    return (low + high) / 2


@pytest.mark.parametrize(("flows", "rate"), KNOWN)
def test_xirr_matches_the_known_table_and_a_bisection(flows, rate):
    found = xirr(flows)
    assert found is not None
    assert abs(found - rate) < 1e-8
    assert abs(found - _bisection(flows)) < 1e-8


def test_the_buyers_xirr_at_par_is_the_loans_rate_and_a_discount_raises_it():
    # Twelve monthly installments of a 12,000.00 loan at 12 % a year, equal principal,
    # interest 1 % a month of what is left; bought whole on the day after disbursement.
    start = date(2027, 1, 1)
    rows = []
    left = 1_200_000
    for month in range(1, 13):
        due = date(2027 + (month // 12), month % 12 + 1, 1)
        rows.append((due, 100_000, left // 100))
        left -= 100_000
    at_par = pricing.buyer_xirr(1_200_000, start, 1_200_000, 1_200_000, rows)
    flows = [(start, -1_200_000)] + [(due, p + i) for due, p, i in rows]
    assert at_par is not None
    assert abs(at_par - _bisection(flows)) < 1e-8
    assert abs(at_par - ((1.01**12) - 1)) < 0.002  # about 12.68 %: monthly compounding
    half = pricing.buyer_xirr(570_000, start, 600_000, 1_200_000, rows)  # half, 5 % off
    assert half is not None
    assert half > at_par + 0.05
