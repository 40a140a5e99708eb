"""How payments are shared among claim holders, and what a repayment pays (pure code):
every part adds up to the fen, and over a whole loan each holder gets exactly their
principal and their largest-remainder share of the interest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.loans.schedule import DayCount, LoanTerms, RepaymentMethod, build_schedule
from services.money.money import allocate
from services.repayments import quote, split
from services.repayments.policy import Part

claims = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=8)


def _whole_loan(principals: list[int], schedule: list[tuple[int, int, int]]) -> list[list[int]]:
    """Pay every (principal, interest, penalty) in turn; per claim Σ principal, interest,
    penalty received, checking each payment's parts as it goes."""
    total_interest = sum(interest for _p, interest, _q in schedule)
    got_principal = [0] * len(principals)
    got_interest = [0] * len(principals)
    got_penalty = [0] * len(principals)
    for principal, interest, penalty in schedule:
        shares = split.split_payment(
            principal_fen=principal,
            interest_fen=interest,
            penalty_fen=penalty,
            principals=principals,
            received_principal=got_principal,
            received_interest=got_interest,
            total_interest_fen=total_interest,
        )
        assert sum(s.principal_fen for s in shares) == principal
        assert sum(s.interest_fen for s in shares) == interest
        assert sum(s.penalty_fen for s in shares) == penalty
        assert all(min(s.principal_fen, s.interest_fen, s.penalty_fen) >= 0 for s in shares)
        for index, share in enumerate(shares):
            got_principal[index] += share.principal_fen
            got_interest[index] += share.interest_fen
            got_penalty[index] += share.penalty_fen
            # Never more than the claim's principal, at any point.
            assert got_principal[index] <= principals[index]
    return [got_principal, got_interest, got_penalty]


@st.composite
def loans(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Claims, and any schedule paying exactly their principal in 1-36 installments."""
    principals = draw(claims)
    amount = sum(principals)
    count = draw(st.integers(min_value=1, max_value=36))
    cuts = sorted(draw(st.lists(st.integers(0, amount), min_size=count - 1, max_size=count - 1)))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
    interest = draw(st.lists(st.integers(0, 5_000_000), min_size=count, max_size=count))
    penalty = draw(st.lists(st.integers(0, 50_000), min_size=count, max_size=count))
    return principals, list(zip(parts, interest, penalty, strict=True))


@settings(max_examples=300, deadline=None)
@given(loans())
@example(([1, 1, 1], [(1, 1, 0), (1, 1, 0), (1, 1, 0)]))  # per-payment rounding would drift
@example(([333_333, 333_333, 333_334], [(83_333, 10_000, 1), (916_667, 1, 0)]))
def test_parts_add_up_and_each_holder_gets_exactly_their_principal_and_interest_share(loan):
    principals, schedule = loan
    principal, interest, penalty = _whole_loan(principals, schedule)
    assert principal == principals
    total_interest = sum(i for _p, i, _q in schedule)
    assert interest == allocate(total_interest, principals)
    total_penalty = sum(q for _p, _i, q in schedule)
    assert sum(penalty) == total_penalty


@settings(max_examples=100, deadline=None)
@given(
    claims,
    st.sampled_from(list(RepaymentMethod)),
    st.integers(1, 36),
    st.sampled_from(["0.0500", "0.1200", "0.2400", "0.3600"]),
)
def test_a_real_schedule_splits_exactly(principals, method, months, rate):
    terms = LoanTerms(
        amount_fen=sum(principals),
        annual_rate=Decimal(rate),
        term_months=months,
        method=method,
    )
    schedule = [
        (row.principal_fen, row.interest_fen, 0) for row in build_schedule(terms, date(2026, 1, 31))
    ]
    principal, interest, _penalty = _whole_loan(principals, schedule)
    assert principal == principals
    assert interest == allocate(sum(i for _p, i, _q in schedule), principals)


def test_toward_completes_every_target_with_the_last_payment():
    assert split.toward(3, [1, 1, 1], [0, 0, 0]) == [1, 1, 1]
    assert split.toward(1, [1, 1, 1], [1, 0, 0]) == [0, 1, 0]
    assert split.toward(0, [5], [0]) == [0]
    # Nobody lacks anything: the targets are the weights.
    assert split.toward(2, [1, 1], [1, 1]) == [1, 1]


def _rows(start: date, months: int = 12) -> list[quote.Row]:
    terms = LoanTerms(
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        term_months=months,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
    )
    return [
        quote.Row(
            number=row.number,
            due_date=row.due_date,
            principal_fen=row.principal_fen,
            interest_fen=row.interest_fen,
            fee_fen=3_000,
        )
        for row in build_schedule(terms, start)
    ]


def test_early_repayment_charges_interest_to_the_day_and_the_fee():
    start = date(2026, 1, 15)
    rows = _rows(start)
    # The first three installments paid on their due dates.
    paid = [quote.Row(**{**row.__dict__, "paid": True}) if row.number <= 3 else row for row in rows]
    flows = [(row.due_date, row.principal_fen + row.interest_fen + 3_000) for row in rows[:3]]
    today = date(2026, 4, 25)  # 10 days after the third due date (April 15)
    found = quote.early_full(
        paid,
        today=today,
        start=start,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        day_count=DayCount.MONTHLY_30_360,
        early_fee_share=Decimal("0.01"),
        paid_flows=flows,
    )
    remaining = sum(row.principal_fen for row in rows[3:])
    assert [line.number for line in found.lines] == list(range(4, 13))
    assert sum(line.principal_fen for line in found.lines) == remaining
    # 30/360: 10 days of 12 % on what is left, half-up.
    assert found.accrued_days == 10
    assert found.lines[0].interest_fen == (remaining * 12 * 10 * 2 + 100 * 360) // (2 * 100 * 360)
    assert all(line.interest_fen == 0 and line.fee_fen == 0 for line in found.lines[1:])
    assert found.early_fee_asked_fen == found.early_fee_fen == (remaining + 50) // 100
    assert found.total_fen == remaining + found.lines[0].interest_fen + found.early_fee_fen

    # Actual/365 counts calendar days.
    actual = quote.early_full(
        paid,
        today=today,
        start=start,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        day_count=DayCount.ACTUAL_365,
        early_fee_share=Decimal("0.01"),
        paid_flows=flows,
    )
    assert actual.lines[0].interest_fen == (remaining * 12 * 10 * 2 + 100 * 365) // (2 * 100 * 365)


def test_the_early_fee_is_capped_by_r3():
    start = date(2026, 1, 15)
    rows = _rows(start)
    # Repaid two days after the start: a 1 % fee would cost far more than 36 % a year.
    found = quote.early_full(
        rows,
        today=date(2026, 1, 17),
        start=start,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        day_count=DayCount.ACTUAL_365,
        early_fee_share=Decimal("0.01"),
        paid_flows=[],
    )
    assert found.early_fee_asked_fen == 10_000
    assert 0 < found.early_fee_fen < found.early_fee_asked_fen
    payoff = found.total_fen - found.early_fee_fen

    def cost(fee: int) -> Decimal | None:
        return quote.cost_with(
            fee,
            amount_fen=1_000_000,
            start=start,
            today=date(2026, 1, 17),
            flows=[],
            payoff_fen=payoff,
        )

    within, over = cost(found.early_fee_fen), cost(found.early_fee_fen + 1)
    assert within is not None
    assert within <= Decimal("0.36")
    assert over is not None
    assert over > Decimal("0.36")
    # On the start day itself the cost is unbounded: no fee at all.
    same_day = quote.early_full(
        rows,
        today=start,
        start=start,
        amount_fen=1_000_000,
        annual_rate=Decimal("0.12"),
        day_count=DayCount.ACTUAL_365,
        early_fee_share=Decimal("0.01"),
        paid_flows=[],
    )
    assert same_day.early_fee_fen == 0
    assert same_day.total_fen == 1_000_000


def test_allocation_order_settles_parts_in_turn():
    line = quote.Line(
        number=1,
        due_date=date(2026, 2, 1),
        principal_fen=100,
        interest_fen=10,
        fee_fen=5,
        penalty_fen=2,
    )
    order = [Part.PENALTY, Part.INTEREST, Part.PRINCIPAL, Part.FEE]
    assert quote.apply(117, line, order) == line
    partial = quote.apply(50, line, order)
    assert (partial.penalty_fen, partial.interest_fen, partial.principal_fen, partial.fee_fen) == (
        2,
        10,
        38,
        0,
    )
    fee_first = quote.apply(6, line, [Part.FEE, Part.PENALTY, Part.INTEREST, Part.PRINCIPAL])
    assert (fee_first.fee_fen, fee_first.penalty_fen, fee_first.interest_fen) == (5, 1, 0)


def test_30e_360_days():
    assert quote.days_30e_360(date(2026, 1, 31), date(2026, 2, 28)) == 28
    assert quote.days_30e_360(date(2026, 1, 15), date(2026, 2, 15)) == 30
    assert quote.days_30e_360(date(2025, 12, 15), date(2026, 1, 5)) == 20
