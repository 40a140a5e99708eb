"""The rules of a partial repayment, as pure code: an amount towards what has fallen due,
the penalty of an installment paid in parts, the reserve's recovery per claim, its
share of a fee paid in parts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.repayments import overdue, quote, reserve, split
from services.repayments.policy import Part
from services.repayments.settlement_split import _back_to_recoverer, _reserve_part

ORDER = [Part.PENALTY, Part.INTEREST, Part.PRINCIPAL, Part.FEE]
DUE = date(2026, 3, 10)


def _row(number: int, due: date, **paid: int) -> quote.Row:
    return quote.Row(
        number=number,
        due_date=due,
        principal_fen=1_000,
        interest_fen=100,
        fee_fen=30,
        penalty_accrued_fen=20 if due < DUE else 0,
        **paid,
    )


def test_an_amount_pays_the_installments_fallen_due_oldest_first_in_the_order():
    rows = [
        _row(1, DUE - timedelta(days=31), paid_interest_fen=100, penalty_paid_fen=5),
        _row(2, DUE),
        _row(3, DUE + timedelta(days=30)),
    ]
    lines = quote.fallen_due(rows, DUE)
    assert [(line.number, line.total_fen) for line in lines] == [(1, 1_045), (2, 1_130)]
    found = quote.towards_due(lines, 1_045 + 150, ORDER)
    assert [(line.number, line.settles) for line in found.lines] == [(1, True), (2, False)]
    assert found.lines[0] == lines[0]
    second = found.lines[1]
    assert (second.penalty_fen, second.interest_fen, second.principal_fen, second.fee_fen) == (
        0,
        100,
        50,
        0,
    )
    assert found.total_fen == 1_195
    everything = quote.towards_due(lines, 2_175, ORDER)
    assert everything.lines == quote.next_installments(rows, 2).lines
    assert all(line.settles for line in everything.lines)
    # Fewer than all: the installments the amount does not reach are left out.
    assert [line.number for line in quote.towards_due(lines, 10, ORDER).lines] == [1]
    for amount in (0, -1, 2_176):
        with pytest.raises(ValueError, match="at most what has fallen due"):
            quote.towards_due(lines, amount, ORDER)
    # Another order: the fee first.
    fee_first = quote.towards_due(
        lines, 40, [Part.FEE, Part.PENALTY, Part.INTEREST, Part.PRINCIPAL]
    )
    assert (fee_first.lines[0].fee_fen, fee_first.lines[0].penalty_fen) == (30, 10)


@settings(max_examples=300, deadline=None)
@given(
    unpaid=st.integers(min_value=0, max_value=50_000_000),
    late=st.integers(min_value=1, max_value=400),
    payments=st.lists(
        st.tuples(st.integers(min_value=-3, max_value=400), st.integers(0, 1_000_000)),
        max_size=6,
    ),
    runs=st.sets(st.integers(min_value=1, max_value=400), max_size=10),
    rate=st.sampled_from([Decimal("0.0005"), Decimal("0.0009"), Decimal("0.000123")]),
)
def test_the_penalty_rule_is_what_the_daily_run_accrues_however_often_it_runs(
    unpaid, late, payments, runs, rate
):
    """The run accrues, on each run day and before every payment, the days since it last
    accrued on the base of that moment: the pure rule gives the same fen."""
    first_day = DUE + timedelta(days=1)
    through = DUE + timedelta(days=late)
    paid_on: list[tuple[date, int]] = []
    left = unpaid
    for offset, amount in sorted(payments):
        part = min(amount, left)
        left -= part
        paid_on.append((DUE + timedelta(days=offset), part))
    micro = 0
    base = unpaid
    accrued_through = DUE

    def accrue(day: date) -> None:
        nonlocal micro, accrued_through
        if day > accrued_through:
            micro += overdue.penalty_micro_fen(base, rate, (day - accrued_through).days)
            accrued_through = day

    stops = sorted(
        [(day, part) for day, part in paid_on if day <= through]
        + [(DUE + timedelta(days=run), 0) for run in runs if DUE + timedelta(days=run) <= through]
    )
    for day, part in stops:
        accrue(day)  # the payment day counts on the old base
        base -= part
    accrue(through)
    expected = overdue.penalty_fen(micro)
    assert expected == overdue.penalty_with_payments(
        principal_interest_fen=unpaid,
        first_day=first_day,
        through=through,
        daily_rate=rate,
        payments=paid_on,
    )
    if not paid_on:
        assert expected == overdue.penalty_fen(overdue.penalty_micro_fen(unpaid, rate, late))


def test_the_penalty_rule_by_hand():
    paid_on_day_10 = [(DUE + timedelta(days=10), 98_300)]
    assert (
        overdue.penalty_with_payments(
            principal_interest_fen=340_022,
            first_day=DUE + timedelta(days=1),
            through=DUE + timedelta(days=15),
            daily_rate=Decimal("0.0005"),
            payments=paid_on_day_10,
        )
        == 2_304  # (340,022 x 10 + 241,722 x 5) x 0.0005 = 2,304.415
    )
    # Paid before it fell overdue (on the due date): every day on the rest.
    assert (
        overdue.penalty_with_payments(
            principal_interest_fen=340_022,
            first_day=DUE + timedelta(days=1),
            through=DUE + timedelta(days=1),
            daily_rate=Decimal("0.0005"),
            payments=[(DUE, 50_000)],
        )
        == 145
    )
    assert (
        overdue.penalty_with_payments(
            principal_interest_fen=1,
            first_day=DUE + timedelta(days=1),
            through=DUE,
            daily_rate=Decimal("0.0005"),
        )
        == 0
    )


def test_the_reserve_recovers_towards_what_it_advanced_of_each_claim():
    advanced = [300, 200, 1]
    recovered = [0, 0, 0]
    for payment in (100, 250, 151):
        back = _back_to_recoverer(payment, advanced, recovered)
        assert sum(back) == payment
        recovered = [a + b for a, b in zip(recovered, back, strict=True)]
        assert all(0 <= got <= gave for got, gave in zip(recovered, advanced, strict=True))
    assert recovered == advanced
    # Beyond what it lacks, the rest is not the reserve's; not advanced, nothing.
    assert _back_to_recoverer(50, [10, 20], [10, 0]) == [0, 20]
    assert _back_to_recoverer(50, [0, 0], [0, 0]) == [0, 0]
    assert split.toward(7, [3, 4], [0, 0]) == [3, 4]


def test_what_the_reserve_recovered_of_each_installment_is_read_from_the_receipts():
    advanced = {
        10: {1: (300, 30), 2: (200, 20)},  # paid back whole
        11: {1: (150, 15), 2: (100, 10)},  # paid back in part
        12: {1: (60, 6), 2: (40, 4)},  # not begun
    }
    unpaid = {10: (0, 0), 11: (100, 0), 12: (100, 10)}
    recovered = {1: (300 + 90, 30 + 15), 2: (200 + 60, 20 + 10)}
    assert reserve.recovered_by_installment(
        advanced=advanced, unpaid=unpaid, recovered=recovered
    ) == {
        10: {1: (300, 30), 2: (200, 20)},
        11: {1: (90, 15), 2: (60, 10)},
        12: {1: (0, 0), 2: (0, 0)},
    }
    with pytest.raises(RuntimeError, match="disagrees"):
        reserve.recovered_by_installment(
            advanced=advanced, unpaid=unpaid, recovered={1: (390, 45), 2: (259, 30)}
        )
    with pytest.raises(RuntimeError, match="several"):
        reserve.recovered_by_installment(
            advanced=advanced, unpaid={**unpaid, 12: (50, 10)}, recovered=recovered
        )
    with pytest.raises(RuntimeError, match="disagree"):
        reserve.recovered_by_installment(
            advanced={10: advanced[10]}, unpaid={10: (0, 0)}, recovered={1: (301, 30)}
        )


@given(
    fee=st.integers(min_value=0, max_value=10_000_000),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000_000), max_size=5),
    share=st.sampled_from([Decimal("0"), Decimal("0.3333"), Decimal("0.5"), Decimal("1")]),
)
def test_the_reserves_share_of_a_fee_paid_in_parts_is_that_of_the_whole_fee(fee, cuts, share):
    points = sorted({0, fee, *(min(cut, fee) for cut in cuts)})
    parts = [b - a for a, b in pairwise(points)]
    paid = total = 0
    for part in parts:
        total += _reserve_part(paid, part, share)
        paid += part
    assert total == int(fee * share)
