"""Repayment schedules and the all-in annual cost: hand-worked tables and properties.

Every expected amount below was worked out by hand, the arithmetic in the comments.
Conventions (services/loans/schedule.py): r is the period rate (annual / 12 on 30/360,
annual x days / 365 on actual/365); every amount is rounded once, half-up to the fen;
the last installment absorbs every residue. "hu(x)" below is half-up of x.
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.errors import InvalidInputError
from services.loans.cost import COST_CAP, annual_cost_rate, exceeds_cap
from services.loans.schedule import (
    CURRENT_SCHEDULE_RULES,
    DayCount,
    Installment,
    LoanTerms,
    RepaymentMethod,
    ScheduleRules,
    build_schedule,
    cash_flows,
    due_date,
    round_half_up,
    total_interest,
    total_paid,
)
from services.money.money import round_fen

EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IF = RepaymentMethod.INTEREST_FIRST
LS = RepaymentMethod.LUMP_SUM
M30 = DayCount.MONTHLY_30_360
A365 = DayCount.ACTUAL_365

START = date(2025, 1, 15)  # a plain start date: due on the 15th of each month

SETTINGS = settings(max_examples=200, deadline=None)


@pytest.fixture(autouse=True)
def clean_db() -> None:
    """Pure functions, no database: overrides the conftest fixture that empties it."""


def _schedule(
    amount: int,
    rate: str,
    months: int,
    method: RepaymentMethod,
    day_count: DayCount = M30,
    start: date = START,
) -> list[Installment]:
    return build_schedule(LoanTerms(amount, Decimal(rate), months, method, day_count), start)


def _rows(schedule: list[Installment]) -> list[tuple[int, int]]:
    return [(row.principal_fen, row.interest_fen) for row in schedule]


# --- due dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "dates"),
    [
        # Day 15 exists in every month: same day, month after month, across the year end.
        (date(2025, 11, 15), [date(2025, 12, 15), date(2026, 1, 15), date(2026, 2, 15)]),
        # Jan 31 in a leap year: clamped to Feb 29, then back to 31 (the original day,
        # not the clamped 29), then clamped to Apr 30.
        (date(2024, 1, 31), [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]),
        # ... and in a common year to Feb 28.
        (date(2023, 1, 31), [date(2023, 2, 28), date(2023, 3, 31), date(2023, 4, 30)]),
        # Day 30: only February is short.
        (date(2023, 1, 30), [date(2023, 2, 28), date(2023, 3, 30), date(2023, 4, 30)]),
        # Aug 31 -> Sep 30 -> Oct 31 -> Nov 30 -> Dec 31.
        (
            date(2025, 8, 31),
            [date(2025, 9, 30), date(2025, 10, 31), date(2025, 11, 30), date(2025, 12, 31)],
        ),
        # Feb 29 start: the 29th from then on, clamped in the next February.
        (date(2024, 2, 29), [date(2024, 3, 29), date(2024, 4, 29)]),
    ],
)
def test_due_dates_keep_the_start_day_clamped_to_each_month(start, dates):
    assert [due_date(start, number) for number in range(1, len(dates) + 1)] == dates


def test_due_date_zero_is_the_start_and_a_year_later_clamps_feb_29():
    assert due_date(date(2024, 2, 29), 0) == date(2024, 2, 29)
    assert due_date(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert due_date(date(2024, 2, 29), 48) == date(2028, 2, 29)


@pytest.mark.parametrize("number", [-1, True, 1.0])
def test_due_date_refuses_a_bad_number(number):
    with pytest.raises(ValueError, match="number"):
        due_date(START, number)


def test_the_schedule_uses_the_clamped_due_dates():
    schedule = _schedule(300_000, "0", 3, EP, start=date(2024, 1, 31))
    assert [row.due_date for row in schedule] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "months", "field"),
    [
        (0, "0.12", 12, "amount"),
        (-100, "0.12", 12, "amount"),
        (100, "-0.0001", 12, "annualRate"),
        (100, "1", 12, "annualRate"),  # 100 % a year is refused: rate < 1
        (100, "1.5", 12, "annualRate"),
        (100, "NaN", 12, "annualRate"),
        (100, "Infinity", 12, "annualRate"),
        (100, "0.12", 0, "termMonths"),
        (100, "0.12", 361, "termMonths"),
        (100, "0.12", -1, "termMonths"),
    ],
)
def test_loan_terms_refuse_invalid_values(amount, rate, months, field):
    with pytest.raises(InvalidInputError) as refused:
        LoanTerms(amount, Decimal(rate), months, EI)
    assert refused.value.field == field
    assert refused.value.code == "INVALID"


@pytest.mark.parametrize(
    ("amount", "rate", "months"), [(1, "0", 1), (1, "0.9999", 360), (10**17, "0.36", 60)]
)
def test_loan_terms_accept_the_limits(amount, rate, months):
    for method in RepaymentMethod:
        for day_count in DayCount:
            terms = LoanTerms(amount, Decimal(rate), months, method, day_count)
            assert terms.term_months == months


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount_fen": 100.0},
        {"amount_fen": True},
        {"amount_fen": Decimal(100)},
        {"annual_rate": 0.12},
        {"annual_rate": "0.12"},
        {"term_months": 12.0},
        {"method": "EQUAL_INSTALLMENT"},
        {"day_count": "ACTUAL_365"},
        {"schedule_rules": 1},  # a plain int, not ScheduleRules
    ],
)
def test_loan_terms_refuse_wrong_types(kwargs):
    values = {
        "amount_fen": 100,
        "annual_rate": Decimal("0.12"),
        "term_months": 12,
        "method": EI,
        "day_count": M30,
    } | kwargs
    with pytest.raises(TypeError):
        LoanTerms(**values)


def test_loan_terms_are_frozen():
    terms = LoanTerms(100, Decimal("0.12"), 12, EI)
    with pytest.raises(AttributeError):
        terms.amount_fen = 200  # type: ignore[misc]
    assert terms.day_count is M30  # the default
    assert terms.schedule_rules is CURRENT_SCHEDULE_RULES is ScheduleRules.HALF_UP


def test_build_schedule_wants_loan_terms():
    with pytest.raises(TypeError):
        build_schedule((100, Decimal("0.12"), 12, EI), START)  # type: ignore[arg-type]


# --- rounding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounded"),
    [
        (25, 2, 13),  # the tie goes up
        (27, 2, 14),  # half-even would give 14 too; 29/2 -> 15 (half-even: 14)
        (29, 2, 15),
        (-25, 2, -13),  # away from zero
        (1, 3, 0),
        (2, 3, 1),
        (0, 7, 0),
        (1000001 * 5, 1000, 5000),  # 5000.005 -> 5000 (below the tie)
    ],
)
def test_round_half_up_worked_examples(numerator, denominator, rounded):
    assert round_half_up(numerator, denominator) == rounded


def test_round_half_up_refuses_a_non_positive_denominator():
    with pytest.raises(ValueError, match="denominator"):
        round_half_up(1, 0)


@given(st.integers(-(10**20), 10**20), st.integers(0, 12))
def test_round_half_up_is_the_money_rounding_rule(coefficient, places):
    assert round_half_up(coefficient, 10**places) == round_fen(Decimal(coefficient).scaleb(-places))


# --- equal installments (等额本息) --------------------------------------------------------

# The issue's worked example, ¥10,000 at 12 % a year over 12 months (r = 1 % a month):
#   A = P·r(1+r)^n / ((1+r)^n - 1) = 1,000,000 * 0.01 * 1.01^12 / (1.01^12 - 1)
#     = 10,000 * 1.1268250301 / 0.1268250301 = 88,848.7886... fen -> 88,849 (¥888.49)
# Month 1: interest hu(1,000,000 * 0.01) = 10,000, principal 88,849 - 10,000 = 78,849,
#          balance 921,151. Month 2: interest hu(9,211.51) = 9,212, principal 79,637,
#          balance 841,514. Month 3: hu(8,415.14) = 8,415 ... each month hu(balance / 100).
# Month 12: the remaining 87,967 + hu(879.67) = 880 -> 88,847 (¥888.47).
# Interest: 10,000 + 9,212 + 8,415 + 7,611 + 6,798 + 5,978 + 5,149 + 4,312 + 3,467
#           + 2,613 + 1,751 + 880 = 66,186 (¥661.86).
WORKED_EXAMPLE = [
    # (principal, interest, total, balance after)
    (78_849, 10_000, 88_849, 921_151),
    (79_637, 9_212, 88_849, 841_514),
    (80_434, 8_415, 88_849, 761_080),
    (81_238, 7_611, 88_849, 679_842),
    (82_051, 6_798, 88_849, 597_791),
    (82_871, 5_978, 88_849, 514_920),
    (83_700, 5_149, 88_849, 431_220),
    (84_537, 4_312, 88_849, 346_683),
    (85_382, 3_467, 88_849, 261_301),
    (86_236, 2_613, 88_849, 175_065),
    (87_098, 1_751, 88_849, 87_967),
    (87_967, 880, 88_847, 0),
]


def test_equal_installment_worked_example_of_the_issue():
    schedule = _schedule(1_000_000, "0.12", 12, EI)
    assert [
        (row.principal_fen, row.interest_fen, row.total_fen, row.balance_after_fen)
        for row in schedule
    ] == WORKED_EXAMPLE
    assert [row.total_fen for row in schedule] == [88_849] * 11 + [88_847]
    assert total_interest(schedule) == 66_186
    assert total_paid(schedule) == 1_066_186
    assert [row.number for row in schedule] == list(range(1, 13))
    assert schedule[0].due_date == date(2025, 2, 15)
    assert schedule[-1].due_date == date(2026, 1, 15)


@pytest.mark.parametrize(
    ("amount", "rate", "months", "day_count", "start", "rows"),
    [
        # ¥10,000 at 12 % over 3 months: 1.01^3 = 1.030301,
        # A = 10,000 * 1.030301 / 0.030301 = 340,022.11 -> 340,022.
        # M1: hu(10,000) = 10,000, principal 330,022, balance 669,978.
        # M2: hu(6,699.78) = 6,700, principal 333,322, balance 336,656.
        # M3: the 336,656 left + hu(3,366.56) = 3,367 -> 340,023 (1 fen more than A).
        (1_000_000, "0.12", 3, M30, START, [(330_022, 10_000), (333_322, 6_700), (336_656, 3_367)]),
        # Zero rate: A = hu(100,000 / 3) = hu(33,333.33) = 33,333; the last takes 33,334.
        (100_000, "0", 3, M30, START, [(33_333, 0), (33_333, 0), (33_334, 0)]),
        # One month at 6 %: r = 0.005, A = 500,000 * 1.005 = 502,500: interest 2,500.
        (500_000, "0.06", 1, M30, START, [(500_000, 2_500)]),
        # Actual/365 at 3.65 % (0.01 % a day) from 2024-01-31: periods of 29 days (to Feb 29)
        # and 31 days (to Mar 31), r1 = 0.0029, r2 = 0.0031.
        # A = P(1+r1)(1+r2) / ((1+r2) + 1) = 1,000,000 * 1.00600899 / 2.0031 = 502,226.05
        # -> 502,226. M1: interest 2,900, principal 499,326, balance 500,674.
        # M2: 500,674 + hu(500,674 * 0.0031 = 1,552.09) = 1,552 -> 502,226.
        (
            1_000_000,
            "0.0365",
            2,
            A365,
            date(2024, 1, 31),
            [(499_326, 2_900), (500_674, 1_552)],
        ),
        # 5 fen over 8 months at 0 %: A = hu(5/8 = 0.625) = 1 repays it all by month 5;
        # a non-final installment never repays more than is owed, so months 6-8 are zero.
        (5, "0", 8, M30, START, [(1, 0)] * 5 + [(0, 0)] * 3),
    ],
)
def test_equal_installment_worked_examples(amount, rate, months, day_count, start, rows):
    schedule = _schedule(amount, rate, months, EI, day_count, start)
    assert _rows(schedule) == rows


def test_equal_installment_refuses_a_payment_below_a_months_interest():
    # Actual/365 at 99 % over 30 years: the level payment is about P * 0.0825 a month,
    # a 31-day month's interest P * 0.99 * 31 / 365 = P * 0.0841: the balance would grow.
    terms = LoanTerms(1_000_000, Decimal("0.99"), 360, EI, A365)
    with pytest.raises(InvalidInputError) as refused:
        build_schedule(terms, START)
    assert refused.value.field == "termMonths"
    # On 30/360 the payment always exceeds a month's interest on the whole amount.
    schedule = build_schedule(LoanTerms(1_000_000, Decimal("0.99"), 360, EI, M30), START)
    assert sum(row.principal_fen for row in schedule) == 1_000_000


# --- equal principal (等额本金) -----------------------------------------------------------


# Interest of the 12-month equal-principal example below, month by month.
EQUAL_PRINCIPAL_INTEREST = [
    *(10_000, 9_167, 8_333, 7_500, 6_667, 5_833),
    *(5_000, 4_167, 3_333, 2_500, 1_667, 833),
]


@pytest.mark.parametrize(
    ("amount", "rate", "months", "day_count", "start", "rows"),
    [
        # ¥10,000 at 12 % over 12 months: principal hu(1,000,000 / 12 = 83,333.33) = 83,333
        # for 11 months, the last 1,000,000 - 11 * 83,333 = 83,337. Interest hu(opening / 100):
        # 10,000; hu(9,166.67) = 9,167; hu(8,333.34) = 8,333; hu(7,500.01) = 7,500;
        # hu(6,666.68) = 6,667; 5,833; 5,000; 4,167; 3,333; 2,500; hu(1,666.70) = 1,667;
        # hu(833.37) = 833. Total 65,000 = 1,000,000 * 0.01 * (12 + 11 + ... + 1) / 12.
        (
            1_000_000,
            "0.12",
            12,
            M30,
            START,
            list(
                zip(
                    [83_333] * 11 + [83_337],
                    EQUAL_PRINCIPAL_INTEREST,
                    strict=True,
                )
            ),
        ),
        # ¥10,000.01 over 3 months at 6 % (r = 0.005): hu(1,000,001 / 3 = 333,333.67)
        # = 333,334 twice, the last 1,000,001 - 666,668 = 333,333 (the floor rule before
        # issue 13 gave 333,333 twice and 333,335). Interest hu(5,000.005) = 5,000;
        # hu(666,667 * 0.005 = 3,333.335) = 3,333; hu(333,333 * 0.005 = 1,666.665) = 1,667.
        (1_000_001, "0.06", 3, M30, START, [(333_334, 5_000), (333_334, 3_333), (333_333, 1_667)]),
        # One month at 10 %: interest hu(123,457 * 0.10 / 12 = 1,028.81) = 1,029.
        (123_457, "0.10", 1, M30, START, [(123_457, 1_029)]),
        # The fallback. Zero rate, 5 fen over 8 months: hu(5 / 8) = 1 would leave the last
        # 5 - 7 * 1 = -2 fen, so floor(5 / 8) = 0 for 7 months and the last takes all 5.
        (5, "0", 8, M30, START, [(0, 0)] * 7 + [(5, 0)]),
        # The fallback where half-up would leave exactly 0: 6 fen over 4 months at 12 %,
        # hu(1.5) = 2, 6 - 3 * 2 = 0; floor 1 x 3, the last 3. Interest hu(6 * 0.01) = 0,
        # then hu(0.05), hu(0.04), hu(0.03): all 0.
        (6, "0.12", 4, M30, START, [(1, 0), (1, 0), (1, 0), (3, 0)]),
        # Just above the fallback: 7 fen over 4 months, hu(1.75) = 2, 7 - 6 = 1 > 0.
        (7, "0", 4, M30, START, [(2, 0), (2, 0), (2, 0), (1, 0)]),
        # Actual/365 at 3.65 % (100 fen a day on ¥10,000) from 2023-01-31: 28, 31, 30 days.
        # Interest hu(1,000,000 * 0.0028) = 2,800; hu(666,667 * 0.0031 = 2,066.67) = 2,067;
        # hu(333,334 * 0.0030 = 1,000.002) = 1,000.
        (
            1_000_000,
            "0.0365",
            3,
            A365,
            date(2023, 1, 31),
            [(333_333, 2_800), (333_333, 2_067), (333_334, 1_000)],
        ),
    ],
)
def test_equal_principal_worked_examples(amount, rate, months, day_count, start, rows):
    schedule = _schedule(amount, rate, months, EP, day_count, start)
    assert _rows(schedule) == rows


def test_equal_principal_total_interest():
    assert total_interest(_schedule(1_000_000, "0.12", 12, EP)) == 65_000


def test_equal_principal_of_issue_13():
    """¥50,000.00 at 9.6 % over 36 months (r = 0.008 a month), the example of issue 13.

    Principal hu(5,000,000 / 36 = 138,888.89) = 138,889 for 35 months, the last
    5,000,000 - 35 * 138,889 = 5,000,000 - 4,861,115 = 138,885 (1,388.89 x 35, 1,388.85;
    the floor rule gave 1,388.88 x 35 and 1,389.20). Interest hu(opening * 8 / 1,000),
    the opening of month k being 5,000,000 - (k - 1) * 138,889: month 1 40,000; month 34
    hu(416,663 * 0.008 = 3,333.304) = 3,333 (under the floor rule the opening was
    416,696, hu(3,333.568) = 3,334: the 33.34 of the issue); month 36
    hu(138,885 * 0.008 = 1,111.08) = 1,111.
    """
    schedule = _schedule(5_000_000, "0.096", 36, EP)
    principals = [138_889] * 35 + [138_885]
    assert sum(principals) == 5_000_000
    openings = [5_000_000 - k * 138_889 for k in range(36)]
    interests = [(opening * 8 + 500) // 1_000 for opening in openings]  # hu(opening * 0.008)
    assert (interests[0], interests[33], interests[35]) == (40_000, 3_333, 1_111)
    assert _rows(schedule) == list(zip(principals, interests, strict=True))
    assert [row.balance_after_fen for row in schedule] == [*openings[1:], 0]
    # Σ opening * 0.008 = 0.008 * (36 * 5,000,000 - 138,889 * (0 + 1 + ... + 35))
    # = 0.008 * (180,000,000 - 87,500,070) = 739,999.44; the rounded months add to 740,000.
    assert total_interest(schedule) == sum(interests) == 740_000


def _equal_principal_falls_back(amount: int, months: int) -> bool:
    """The documented fallback, in its closed form: with amount = f * months + m, half-up
    rounds up (2m >= months) and f + m < months."""
    f, m = divmod(amount, months)
    return 2 * m >= months and f + m < months


@pytest.mark.parametrize("months", [1, 2, 3, 4, 7, 8, 36, 60])
def test_equal_principal_falls_back_exactly_on_the_documented_amounts(months):
    """Every amount up to a little past the largest fallback amount, (n - 1) * floor(n / 2):
    the fallback happens exactly where the closed form says, and everywhere else the
    first n - 1 principals are hu(P / n)."""
    largest = (months - 1) * (months // 2)
    fell_back = []
    for amount in range(1, largest + 2 * months + 1):
        schedule = _schedule(amount, "0", months, EP)
        principals = [row.principal_fen for row in schedule]
        part = _half_up(Fraction(amount, months))
        if principals[:-1] != [part] * (months - 1):
            assert principals[:-1] == [amount // months] * (months - 1)
            fell_back.append(amount)
        assert principals[-1] > 0
        assert sum(principals) == amount
    assert fell_back == [
        amount
        for amount in range(1, largest + 2 * months + 1)
        if _equal_principal_falls_back(amount, months)
    ]
    assert max(fell_back, default=0) == largest
    # Below n fen every schedule is 0 x (n - 1), then the amount.
    for amount in range(1, months):
        schedule = _schedule(amount, "0", months, EP)
        assert [row.principal_fen for row in schedule] == [0] * (months - 1) + [amount]


# --- interest first (先息后本) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "months", "day_count", "start", "rows"),
    [
        # 1 % a month on ¥10,000: 10,000 fen of interest each month, principal at the end.
        (1_000_000, "0.12", 12, M30, START, [(0, 10_000)] * 11 + [(1_000_000, 10_000)]),
        # 8.75 %: hu(250,000 * 0.0875 / 12 = 21,875 / 12 = 1,822.92) = 1,823 a month.
        (250_000, "0.0875", 6, M30, START, [(0, 1_823)] * 5 + [(250_000, 1_823)]),
        # The tie: hu(1,000,050 * 0.01 = 10,000.5) = 10,001 (half-even would give 10,000).
        (1_000_050, "0.12", 2, M30, START, [(0, 10_001), (1_000_050, 10_001)]),
        (300_000, "0", 3, M30, START, [(0, 0), (0, 0), (300_000, 0)]),
        (100_000, "0.12", 1, M30, START, [(100_000, 1_000)]),
        # Actual/365, 100 fen a day from 2023-01-31: 28, 31 and 30 days.
        (
            1_000_000,
            "0.0365",
            3,
            A365,
            date(2023, 1, 31),
            [(0, 2_800), (0, 3_100), (1_000_000, 3_000)],
        ),
    ],
)
def test_interest_first_worked_examples(amount, rate, months, day_count, start, rows):
    schedule = _schedule(amount, rate, months, IF, day_count, start)
    assert _rows(schedule) == rows


# --- lump sum (一次性还本付息) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "months", "day_count", "start", "due", "interest"),
    [
        # Simple interest: 1,000,000 * 0.12 * 12 / 12 = 120,000.
        (1_000_000, "0.12", 12, M30, START, date(2026, 1, 15), 120_000),
        # hu(333,333 * 0.0725 * 7 / 12 = 169,166.49975 / 12 = 14,097.21) = 14,097.
        (333_333, "0.0725", 7, M30, START, date(2025, 8, 15), 14_097),
        # Actual/365: 2024-01-15 to 2025-01-15 is 366 days (Feb 29): 100 fen * 366.
        (1_000_000, "0.0365", 12, A365, date(2024, 1, 15), date(2025, 1, 15), 36_600),
        (200_000, "0", 1, M30, START, date(2025, 2, 15), 0),
    ],
)
def test_lump_sum_worked_examples(amount, rate, months, day_count, start, due, interest):
    schedule = _schedule(amount, rate, months, LS, day_count, start)
    assert schedule == [
        Installment(
            number=1,
            due_date=due,
            principal_fen=amount,
            interest_fen=interest,
            total_fen=amount + interest,
            balance_after_fen=0,
        )
    ]


def test_the_day_count_changes_the_interest_not_the_dates():
    thirty = _schedule(1_000_000, "0.0365", 3, IF, M30, date(2023, 1, 31))
    actual = _schedule(1_000_000, "0.0365", 3, IF, A365, date(2023, 1, 31))
    assert [row.due_date for row in thirty] == [row.due_date for row in actual]
    # 30/360: hu(1,000,000 * 0.0365 / 12 = 3,041.67) = 3,042 every month.
    assert [row.interest_fen for row in thirty] == [3_042] * 3
    assert [row.interest_fen for row in actual] == [2_800, 3_100, 3_000]


# --- properties of every schedule -------------------------------------------------------

amounts = st.integers(1, 10**10)
rates = st.integers(0, 3600).map(lambda ten_thousandths: Decimal(ten_thousandths).scaleb(-4))
term_months = st.integers(1, 60)
starts = st.dates(date(2000, 1, 1), date(2100, 12, 31))


def loan_terms(method: st.SearchStrategy[RepaymentMethod]) -> st.SearchStrategy[LoanTerms]:
    return st.builds(
        LoanTerms,
        amount_fen=amounts,
        annual_rate=rates,
        term_months=term_months,
        method=method,
        day_count=st.sampled_from(DayCount),
    )


def _half_up(value: Fraction) -> int:
    """Reference half-up rounding of a non-negative exact fraction."""
    return int(value + Fraction(1, 2))  # int() floors a non-negative Fraction


def _exact_rates(terms: LoanTerms, start: date) -> list[Fraction]:
    """The rate of each monthly period, computed independently of the module."""
    annual = Fraction(terms.annual_rate)
    if terms.day_count is M30:
        return [annual / 12] * terms.term_months
    dates = [start] + [due_date(start, number) for number in range(1, terms.term_months + 1)]
    return [annual * (later - earlier).days / 365 for earlier, later in pairwise(dates)]


@SETTINGS
@given(loan_terms(st.sampled_from(RepaymentMethod)), starts)
@example(LoanTerms(1, Decimal(0), 60, EI), date(2024, 1, 31))
@example(LoanTerms(5, Decimal(0), 8, EP), date(2024, 1, 31))
@example(LoanTerms(10**10, Decimal("0.36"), 60, EI, A365), date(2023, 12, 31))
def test_every_schedule_repays_the_amount_exactly(terms, start):
    schedule = build_schedule(terms, start)

    assert len(schedule) == (1 if terms.method is LS else terms.term_months)
    assert [row.number for row in schedule] == list(range(1, len(schedule) + 1))
    assert sum(row.principal_fen for row in schedule) == terms.amount_fen
    balance = terms.amount_fen
    for row in schedule:
        assert row.principal_fen >= 0
        assert row.interest_fen >= 0
        assert row.total_fen == row.principal_fen + row.interest_fen
        assert row.balance_after_fen == balance - row.principal_fen <= balance
        balance = row.balance_after_fen
    assert balance == 0
    assert total_interest(schedule) == sum(row.interest_fen for row in schedule)
    assert total_paid(schedule) == terms.amount_fen + total_interest(schedule)
    assert schedule[-1].due_date == due_date(start, terms.term_months)


@SETTINGS
@given(loan_terms(st.sampled_from([EI, EP, IF])), starts)
@example(LoanTerms(100, Decimal(0), 13, EP), date(2024, 1, 31))
def test_due_dates_are_one_clamped_month_apart(terms, start):
    schedule = build_schedule(terms, start)
    previous = start
    for row in schedule:
        assert row.due_date > previous
        month_steps = (row.due_date.year - previous.year) * 12 + row.due_date.month
        assert month_steps - previous.month == 1
        last_day = calendar.monthrange(row.due_date.year, row.due_date.month)[1]
        assert row.due_date.day == min(start.day, last_day)
        previous = row.due_date


@SETTINGS
@given(loan_terms(st.sampled_from(RepaymentMethod)), starts)
def test_interest_is_the_half_up_of_the_exact_interest(terms, start):
    """Each period's interest, recomputed from exact fractions: on the opening balance
    (EI, EP), on the whole amount (IF), simple over the whole term (LS)."""
    schedule = build_schedule(terms, start)
    period_rates = _exact_rates(terms, start)
    if terms.method is LS:
        assert schedule[0].interest_fen == _half_up(terms.amount_fen * sum(period_rates))
        return
    opening = terms.amount_fen
    for row, rate in zip(schedule, period_rates, strict=True):
        on = terms.amount_fen if terms.method is IF else opening
        assert row.interest_fen == _half_up(on * rate)
        opening = row.balance_after_fen


@SETTINGS
@given(loan_terms(st.just(EI)), starts)
@example(LoanTerms(1_000_000, Decimal("0.12"), 12, EI), START)
@example(LoanTerms(2, Decimal(0), 4, EI), START)  # A = hu(0.5) = 1: repaid by month 2
@example(LoanTerms(10**10, Decimal("0.36"), 60, EI, A365), date(2024, 1, 31))
def test_equal_installments_are_level_and_the_last_is_close(terms, start):
    """Every installment but the last is the level payment A = hu(exact annuity).

    The bound on the last: let S = Σₖ Πⱼ>ₖ (1 + rⱼ), the value at maturity of 1 fen paid
    each period (S = n at a zero rate, ((1 + r)ⁿ - 1) / r at one rate r). Rounding A moves
    the final balance by at most ½·S, rounding each interest (each error grown to maturity)
    by at most ½·S too, so |last total - A| <= S. At 36 % over 60 months S ≈ 163 fen.

    A non-final installment is smaller than A only when a loan of a few fen per month is
    repaid early (the payment is capped at the balance); that needs A_exact < (1 + rₙ)·s,
    s the same sum over the first n - 1 periods (the final balance would go negative).
    """
    schedule = build_schedule(terms, start)
    period_rates = _exact_rates(terms, start)
    growth, grown_payments, grown_before_last = Fraction(1), Fraction(0), Fraction(0)
    for rate in period_rates:
        grown_before_last = grown_payments
        growth *= 1 + rate
        grown_payments = grown_payments * (1 + rate) + 1
    exact_payment = terms.amount_fen * growth / grown_payments
    payment = _half_up(exact_payment)

    repaid_early = False
    for row in schedule[:-1]:
        if repaid_early:
            assert (row.principal_fen, row.interest_fen) == (0, 0)
        elif row.total_fen != payment:
            assert row.total_fen < payment
            assert row.balance_after_fen == 0
            repaid_early = True
    if repaid_early:
        assert exact_payment < (1 + period_rates[-1]) * grown_before_last
    else:
        assert abs(schedule[-1].total_fen - payment) <= grown_payments


# Amounts up to a little past n(n - 1)/2 for the longest term, where the fallback lives,
# as well as the whole range.
small_amounts = st.integers(1, 2_000)


@SETTINGS
@given(
    st.builds(
        LoanTerms,
        amount_fen=st.one_of(amounts, small_amounts),
        annual_rate=rates,
        term_months=term_months,
        method=st.just(EP),
        day_count=st.sampled_from(DayCount),
    ),
    starts,
)
@example(LoanTerms(59, Decimal("0.2"), 60, EP), START)  # P < n: fallback, 0 x 59, then 59
@example(LoanTerms(630, Decimal("0.2"), 36, EP), START)  # the largest fallback at 36
@example(LoanTerms(631, Decimal("0.2"), 36, EP), START)  # hu(17.53) = 18, last 1
@example(LoanTerms(5_000_000, Decimal("0.096"), 36, EP), START)
def test_equal_principal_rounds_half_up_and_the_last_takes_the_rest(terms, start):
    schedule = build_schedule(terms, start)
    amount, months = terms.amount_fen, terms.term_months
    principals = [row.principal_fen for row in schedule]
    part = _half_up(Fraction(amount, months))
    falls_back = (months - 1) * part >= amount  # half-up would leave the last <= 0
    assert falls_back == _equal_principal_falls_back(amount, months)

    assert sum(principals) == amount
    assert all(principal >= 0 for principal in principals)
    assert principals[-1] > 0
    if falls_back:
        assert amount <= (months - 1) * (months // 2) <= months * (months - 1) / 2
        part, rest = divmod(amount, months)
        assert principals[:-1] == [part] * (months - 1)
        assert principals[-1] == part + rest >= part
    else:
        assert principals[:-1] == [part] * (months - 1)
        assert principals[-1] == amount - (months - 1) * part
        assert part - months / 2 <= principals[-1] < part + months / 2


# --- loans published before issue 13: the floor rule ----------------------------------


FLOOR = ScheduleRules.FLOOR


def _floor_schedule(amount: int, rate: str, months: int) -> list[Installment]:
    return build_schedule(LoanTerms(amount, Decimal(rate), months, EP, schedule_rules=FLOOR), START)


def test_equal_principal_under_the_floor_rule():
    """A loan published before issue 13 keeps its rule: floor(P / n) for n - 1 months, the
    last the rest. ¥50,000.00 over 36 months: floor(138,888.89) = 138,888 x 35, the last
    5,000,000 - 4,861,080 = 138,920 (1,388.88 x 35, 1,389.20); month 34's opening is
    5,000,000 - 33 * 138,888 = 416,696, hu(416,696 * 0.008 = 3,333.568) = 3,334.
    ¥10,000.01 over 3 months: 333,333 x 2, then 333,335."""
    schedule = _floor_schedule(5_000_000, "0.096", 36)
    openings = [5_000_000 - k * 138_888 for k in range(36)]
    interests = [(opening * 8 + 500) // 1_000 for opening in openings]
    assert interests[33] == 3_334
    assert _rows(schedule) == list(zip([138_888] * 35 + [138_920], interests, strict=True))
    assert [row.principal_fen for row in _floor_schedule(1_000_001, "0.12", 3)] == [
        333_333,
        333_333,
        333_335,
    ]
    # 2 * (1,000,001 mod 3) = 4 >= 3: the current rule rounds up (333,334 x 2, 333,333).
    assert [row.principal_fen for row in _schedule(1_000_001, "0.12", 3, EP)] == [
        333_334,
        333_334,
        333_333,
    ]


@SETTINGS
@given(
    st.builds(
        LoanTerms,
        amount_fen=st.one_of(amounts, small_amounts),
        annual_rate=rates,
        term_months=term_months,
        method=st.sampled_from(RepaymentMethod),
        day_count=st.sampled_from(DayCount),
    ),
    starts,
)
@example(LoanTerms(100_006, Decimal("0.12"), 12, EP), START)  # m = 10: they differ
@example(LoanTerms(100_004, Decimal("0.12"), 12, EP), START)  # m = 4: the same
@example(LoanTerms(15, Decimal("0.12"), 8, EP), START)  # f + m = 1 + 7 = 8: they differ
@example(LoanTerms(12, Decimal("0.12"), 8, EP), START)  # the fallback: the same
def test_the_rules_differ_only_in_equal_principal_and_only_where_documented(terms, start):
    """The floor rule gives floor(P / n) x (n - 1) and the rest, for every amount. The
    current rule's schedule differs from it only for equal principal, exactly when
    half-up rounds up without falling back: 2m >= n and f + m >= n (P = f·n + m)."""
    old = build_schedule(dataclasses.replace(terms, schedule_rules=FLOOR), start)
    new = build_schedule(dataclasses.replace(terms, schedule_rules=ScheduleRules.HALF_UP), start)
    amount, months = terms.amount_fen, terms.term_months
    f, m = divmod(amount, months)
    if terms.method is EP:
        part = amount // months
        assert [row.principal_fen for row in old] == [part] * (months - 1) + [part + m]
        assert (old != new) == (2 * m >= months and f + m >= months)
    else:
        assert old == new


@SETTINGS
@given(loan_terms(st.just(IF)), starts)
def test_interest_first_repays_principal_only_at_the_end(terms, start):
    schedule = build_schedule(terms, start)
    assert all(row.principal_fen == 0 for row in schedule[:-1])
    assert all(row.balance_after_fen == terms.amount_fen for row in schedule[:-1])
    assert schedule[-1].principal_fen == terms.amount_fen


# --- the all-in annual cost -------------------------------------------------------------


def test_cost_of_the_worked_example():
    schedule = _schedule(1_000_000, "0.12", 12, EI)
    flows = cash_flows(schedule)
    assert flows[0] == (date(2025, 2, 15), 88_849)
    # Monthly periods: 1 % a month compounded would be 1.01^12 - 1 = 0.1268250301; the
    # payment is rounded up from 88,848.79 to 88,849 fen (and the last is 88,847), which
    # lifts the monthly IRR a hair above 1 %: 0.1268263 -> 0.126826.
    assert annual_cost_rate(1_000_000, flows, start=START, periodic=True) == Decimal("0.126826")
    # Actual/365 (XIRR): the same payments on the calendar. Months 2-6 (Feb included)
    # come earlier than 365/12 days apart, so the cost is about 0.0006 higher.
    xirr = annual_cost_rate(1_000_000, flows, start=START)
    assert abs(xirr - (Decimal("1.01") ** 12 - 1)) < Decimal("0.001")
    assert xirr == Decimal("0.127383")
    _assert_is_the_rounded_root(1_000_000, flows, START, xirr)


def test_cost_of_interest_of_exactly_one_percent_a_month():
    # 10,000 fen on 1,000,000 every month and the principal at the end: the monthly IRR
    # is exactly 1 %, so the cost is 1.01^12 - 1 = 0.12682503... -> 0.126825.
    flows = cash_flows(_schedule(1_000_000, "0.12", 12, IF))
    assert annual_cost_rate(1_000_000, flows, start=START, periodic=True) == Decimal("0.126825")


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize("periodic", [False, True])
def test_a_zero_interest_loan_costs_nothing(method, periodic):
    flows = cash_flows(_schedule(1_000_001, "0", 7, method))
    assert annual_cost_rate(1_000_001, flows, start=START, periodic=periodic) == 0


@pytest.mark.parametrize(
    ("start", "flows", "cost"),
    [
        # A fee of 10 % paid with the principal a year (365 days) later: 1.1 / 1 - 1.
        (START, [(date(2026, 1, 15), 1_000_000), (date(2026, 1, 15), 100_000)], "0.100000"),
        # A fee of 50,000 taken on the day of the loan: the borrower effectively has
        # 950,000 for a year and repays 1,000,000: 1,000,000 / 950,000 - 1 = 0.0526315...
        (START, [(START, 50_000), (date(2026, 1, 15), 1_000_000)], "0.052632"),
        # Two years (730 days, no Feb 29): (1 + x)^2 = 1.21.
        (date(2025, 3, 1), [(date(2027, 3, 1), 1_210_000)], "0.100000"),
        # Paying back less than was lent is a negative cost: 0.9 - 1.
        (START, [(date(2026, 1, 15), 900_000)], "-0.100000"),
        # Exactly the amount back: 0, whenever it is paid.
        (START, [(date(2025, 2, 1), 400_000), (date(2025, 9, 9), 600_000)], "0.000000"),
    ],
)
def test_cost_worked_examples(start, flows, cost):
    result = annual_cost_rate(1_000_000, flows, start=start)
    assert result == Decimal(cost)
    assert str(result) == cost  # always six places


def test_cost_of_a_loan_with_a_monthly_fee_against_the_cap():
    # 24 % equal installments: A = hu(1,000,000 * 0.02 * 1.02^12 / (1.02^12 - 1)
    # = 94,559.60) = 94,560; compounded monthly just above 1.02^12 - 1 = 0.2682418.
    schedule = _schedule(1_000_000, "0.24", 12, EI)
    flows = cash_flows(schedule)
    cost = annual_cost_rate(1_000_000, flows, start=START, periodic=True)
    assert cost == Decimal("0.268243")
    assert not exceeds_cap(cost)
    # A service fee of 1 % of the amount every month: 104,560 a month, about 3.67 % a
    # month, 54 % a year compounded: over the 36 % cap of R3.
    fees = [(row.due_date, 10_000) for row in schedule]
    with_fees = annual_cost_rate(1_000_000, flows + fees, start=START, periodic=True)
    assert with_fees == Decimal("0.542221")
    assert exceeds_cap(with_fees)
    assert exceeds_cap(annual_cost_rate(1_000_000, flows + fees, start=START))


def test_a_nominal_36_percent_compounds_over_the_cap():
    # The cost is compounded: 3 % a month is 1.03^12 - 1 = 42.6 % a year, so a loan at a
    # nominal 36 % is over the cap on its own; about 31.1 % nominal is the most that fits.
    at_36 = cash_flows(_schedule(1_000_000, "0.36", 12, EI))
    assert annual_cost_rate(1_000_000, at_36, start=START, periodic=True) == Decimal("0.425760")
    at_31 = cash_flows(_schedule(1_000_000, "0.3108", 12, EI))
    assert not exceeds_cap(annual_cost_rate(1_000_000, at_31, start=START, periodic=True))


@pytest.mark.parametrize(
    ("rate", "cap", "over"),
    [
        ("0.36", None, False),  # exactly the cap is allowed
        ("0.360000", None, False),
        ("0.360001", None, True),
        ("0.359999", None, False),
        ("-0.1", None, False),
        ("0.25", "0.24", True),
        ("0.24", "0.24", False),
    ],
)
def test_exceeds_cap(rate, cap, over):
    if cap is None:
        assert exceeds_cap(Decimal(rate)) is over
    else:
        assert exceeds_cap(Decimal(rate), Decimal(cap)) is over


def test_the_cap_is_36_percent_and_takes_only_decimals():
    assert Decimal("0.36") == COST_CAP
    with pytest.raises(TypeError):
        exceeds_cap(0.37)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        exceeds_cap(Decimal("0.37"), 0.36)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "flows", "kwargs", "error"),
    [
        (0, [(date(2026, 1, 15), 100)], {}, ValueError),
        (-1, [(date(2026, 1, 15), 100)], {}, ValueError),
        (100.0, [(date(2026, 1, 15), 100)], {}, TypeError),
        (True, [(date(2026, 1, 15), 100)], {}, TypeError),
        (100, [(date(2026, 1, 15), 100.0)], {}, TypeError),
        (100, [(date(2026, 1, 15), Decimal(100))], {}, TypeError),
        (100, [(date(2026, 1, 15), -1), (date(2026, 1, 15), 200)], {}, ValueError),
        (100, [(date(2025, 1, 14), 100), (date(2026, 1, 15), 100)], {}, ValueError),
        (100, [], {}, ValueError),  # nothing paid back
        (100, [(date(2026, 1, 15), 0)], {}, ValueError),
        (100, [(START, 50)], {}, ValueError),  # nothing paid after the start
        (100, [(START, 100), (date(2026, 1, 15), 100)], {}, ValueError),  # unbounded
        (100, [(date(2025, 2, 14), 110)], {"periodic": True}, ValueError),  # not a due date
    ],
)
def test_cost_refuses_bad_input(amount, flows, kwargs, error):
    with pytest.raises(error):
        annual_cost_rate(amount, flows, start=START, **kwargs)


def _npv(rate: Decimal, flows: list[tuple[date, int]], start: date) -> Decimal:
    """Σ cf / (1 + rate)^(days / 365), with Decimal powers (ln/exp), independently of the
    polynomial the module solves."""
    with localcontext() as context:
        context.prec = 40
        return sum(
            (
                Decimal(fen) / (1 + rate) ** (Decimal((when - start).days) / 365)
                for when, fen in flows
            ),
            Decimal(0),
        )


def _assert_is_the_rounded_root(
    amount: int, flows: list[tuple[date, int]], start: date, cost: Decimal
) -> None:
    """`cost` is the root rounded half-up to 6 places: the present value at half a unit
    below it is at least the amount, at half a unit above at most (it falls as the rate
    rises)."""
    half = Decimal("0.0000005")
    assert _npv(cost - half, flows, start) >= amount >= _npv(cost + half, flows, start)
    assert cost == cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


fees = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 10**6)), max_size=3)


@SETTINGS
@given(loan_terms(st.sampled_from(RepaymentMethod)), starts, fees)
@example(LoanTerms(1_000_000, Decimal("0.12"), 12, EI), START, [])
def test_cost_is_the_rounded_root_and_fees_never_lower_it(terms, start, fee_list):
    flows = cash_flows(build_schedule(terms, start))
    cost = annual_cost_rate(terms.amount_fen, flows, start=start)
    _assert_is_the_rounded_root(terms.amount_fen, flows, start, cost)

    # Fees on days after the start (those on the start itself must stay below the amount).
    fee_flows = [
        (start + timedelta(days=day), fen)
        for day, fen in fee_list
        if day > 0 or fen < terms.amount_fen // 4
    ]
    with_fees = annual_cost_rate(terms.amount_fen, flows + fee_flows, start=start)
    assert with_fees >= cost
    if terms.annual_rate == 0:
        assert cost == 0


@SETTINGS
@given(st.integers(1, 10**5), st.integers(0, 3600), st.integers(1, 60))
def test_interest_first_costs_exactly_the_monthly_rate_compounded(multiple, rate, months):
    """With interest exact to the fen (amount a multiple of 120,000 fen, so amount * rate
    / 12 is whole fen for a rate of 4 places) the monthly IRR is exactly rate / 12."""
    annual = Decimal(rate).scaleb(-4)
    amount = 120_000 * multiple
    flows = cash_flows(_schedule(amount, str(annual), months, IF))
    exact = (1 + Fraction(annual) / 12) ** 12 - 1
    expected = Decimal(_half_up(exact * 10**6)).scaleb(-6)
    assert annual_cost_rate(amount, flows, start=START, periodic=True) == expected


# --- R3 as the regulator computes it: monthly IRR x 12, not compounded -----------------------


def test_nominal_cost_of_a_36_percent_loan_without_fees_is_36_percent():
    terms = LoanTerms(1_000_000, Decimal("0.36"), 12, RepaymentMethod.EQUAL_INSTALLMENT)
    flows = cash_flows(build_schedule(terms, START))
    cost = annual_cost_rate(1_000_000, flows, start=START, nominal=True)
    assert abs(cost - Decimal("0.36")) <= Decimal("1e-6")
    assert not exceeds_cap(cost)
    # The compounded periodic rate of the same flows is far higher.
    assert annual_cost_rate(1_000_000, flows, start=START, periodic=True) > Decimal("0.42")


def test_nominal_cost_counts_every_fee():
    terms = LoanTerms(1_000_000, Decimal("0.12"), 12, RepaymentMethod.EQUAL_INSTALLMENT)
    schedule = build_schedule(terms, START)
    flows = [(row.due_date, row.total_fen + 3_000) for row in schedule]  # 0.3 % a month
    cost = annual_cost_rate(1_000_000, flows, start=START, nominal=True)
    # 0.12 plus a flat 3.6 % a year on the original amount, on a balance that falls to
    # zero: about 0.12 + 0.0635.
    assert cost == Decimal("0.183546")
    with pytest.raises(ValueError, match="due date"):
        annual_cost_rate(100, [(date(2025, 2, 14), 110)], start=START, nominal=True)
