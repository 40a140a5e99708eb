"""The loan state machine (one table, every pair), the loan policy parameters, working
days, the automatic review interpreter and R3 pricing (monthly IRR x 12, fees included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.errors import DomainError, InvalidInputError
from services.loans import policy
from services.loans.pricing import monthly_fee_fen, price
from services.loans.requests import Facts, evaluate_rules
from services.loans.schedule import LoanTerms, RepaymentMethod
from services.loans.states import TRANSITIONS, LoanEvent, LoanStatus, allowed, transition


@dataclass
class _Loan:
    status: LoanStatus


@pytest.mark.parametrize("status", list(LoanStatus))
@pytest.mark.parametrize("event", list(LoanEvent))
def test_every_pair_of_the_table_moves_and_every_other_is_refused(status, event):
    loan = _Loan(status)
    target = TRANSITIONS.get((event, status))
    if target is None:
        assert not allowed(status, event)
        with pytest.raises(DomainError) as refused:
            transition(loan, event)
        assert refused.value.code == "ILLEGAL_TRANSITION"
        assert loan.status is status
    else:
        assert allowed(status, event)
        assert transition(loan, event) is target
        assert loan.status is target


def test_the_table_reaches_every_status_and_final_ones_go_nowhere():
    reached = {LoanStatus.DRAFT} | set(TRANSITIONS.values())
    assert reached == set(LoanStatus)
    final = {LoanStatus.REJECTED, LoanStatus.FAILED, LoanStatus.SETTLED, LoanStatus.CANCELLED}
    assert not [pair for pair in TRANSITIONS if pair[1] in final]
    # Listing needs a level approved first: at least two levels (M6.2).
    assert [pair[1] for pair in TRANSITIONS if pair[0] is LoanEvent.LIST] == [LoanStatus.IN_REVIEW]


def test_a_happy_life_from_draft_to_settled():
    loan = _Loan(LoanStatus.DRAFT)
    for event in (
        LoanEvent.AUTO_APPROVE,
        LoanEvent.APPROVE_LEVEL,
        LoanEvent.LIST,
        LoanEvent.FILL,
        LoanEvent.DISBURSE,
        LoanEvent.START_REPAYING,
        LoanEvent.FALL_OVERDUE,
        LoanEvent.CURE,
        LoanEvent.SETTLE,
    ):
        transition(loan, event)
    assert loan.status is LoanStatus.SETTLED


# --- parameters --------------------------------------------------------------------------


def test_review_levels_by_amount_and_their_validation():
    levels = policy.LEVELS.default
    assert levels.levels_for(5_000_000) == [1, 2]
    assert levels.levels_for(5_000_001) == [1, 2, 3]
    for bad in (
        {"bands": [{"up_to_fen": None, "levels": [1]}]},  # one level only
        {"bands": [{"up_to_fen": None, "levels": [2, 3]}]},  # not from 1
        {"bands": [{"up_to_fen": None, "levels": [1, 3]}]},  # a gap
        {"bands": [{"up_to_fen": 100, "levels": [1, 2]}]},  # no open band
        {
            "bands": [
                {"up_to_fen": 500, "levels": [1, 2]},
                {"up_to_fen": 100, "levels": [1, 2]},
                {"up_to_fen": None, "levels": [1, 2, 3]},
            ]
        },
    ):
        with pytest.raises(InvalidInputError):
            policy.LEVELS.parse(bad)


def test_r2_and_r3_bound_the_parameters():
    with pytest.raises(InvalidInputError):
        policy.BIDDING_WINDOW.parse({"min_working_days": 1, "max_working_days": 21})
    with pytest.raises(InvalidInputError):
        policy.RATE_RANGE.parse({"min": "0.0500", "max": "0.3700"})
    with pytest.raises(InvalidInputError):
        policy.AUTO_REVIEW.parse({"rules": [{"kind": "MIN_GRADE"}]})
    with pytest.raises(InvalidInputError):
        policy.AUTO_REVIEW.parse({"rules": [{"kind": "NOT_FROZEN", "share": "0.5"}]})


def test_working_days_skip_weekends():
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert policy.add_working_days(friday, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert policy.add_working_days(saturday, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    # 20 working days from a Monday: four weeks, on the Monday 28 days later.
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert policy.add_working_days(monday, 20) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)


# --- the automatic review as data ----------------------------------------------------------


def _facts(**changes: object) -> Facts:
    base = {
        "grade": "C",
        "frozen": False,
        "blacklisted": False,
        "available_fen": 3_000_000,
        "amount_fen": 1_000_000,
        "annual_rate": Decimal("0.1200"),
    }
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


def test_every_rule_is_evaluated_and_recorded():
    rules = policy.AUTO_REVIEW.default
    assert all(outcome["passed"] for outcome in evaluate_rules(rules, _facts()))
    outcomes = evaluate_rules(rules, _facts(blacklisted=True, grade="HR"))
    assert [o["rule"] for o in outcomes if not o["passed"]] == ["NOT_BLACKLISTED", "MIN_GRADE"]
    strict = policy.AUTO_REVIEW.parse(
        {
            "rules": [
                {"kind": "MAX_AMOUNT_SHARE_OF_AVAILABLE", "share": "0.5000"},
                {"kind": "RATE_RANGE", "min": "0.0800", "max": "0.1000"},
                {"kind": "NOT_FROZEN"},
            ]
        }
    )
    failed = [
        o["rule"]
        for o in evaluate_rules(strict, _facts(frozen=True, amount_fen=2_000_000))
        if not o["passed"]
    ]
    assert failed == ["MAX_AMOUNT_SHARE_OF_AVAILABLE", "RATE_RANGE", "NOT_FROZEN"]
    # Exactly half of the available limit is allowed.
    at_half = evaluate_rules(strict, _facts(amount_fen=1_500_000, annual_rate=Decimal("0.09")))
    assert all(outcome["passed"] for outcome in at_half)


# --- R3 pricing --------------------------------------------------------------------------

START = date(2025, 1, 15)


def test_fees_are_charged_with_each_installment_and_count_in_the_cost():
    terms = LoanTerms(1_000_000, Decimal("0.12"), 12, RepaymentMethod.EQUAL_INSTALLMENT)
    priced = price(terms, Decimal("0.003"), START)
    assert [row.fee_fen for row in priced.installments] == [3_000] * 12
    assert priced.total_interest_fen == 66_186
    assert priced.total_fees_fen == 36_000
    assert priced.total_paid_fen == 1_000_000 + 66_186 + 36_000
    assert priced.all_in_cost == Decimal("0.183546")
    assert not priced.exceeds_cap
    lump = price(
        LoanTerms(1_000_000, Decimal("0.12"), 12, RepaymentMethod.LUMP_SUM), Decimal("0.003"), START
    )
    assert [row.fee_fen for row in lump.installments] == [36_000]


def test_thirty_percent_with_the_default_fee_is_over_the_cap():
    terms = LoanTerms(1_000_000, Decimal("0.30"), 12, RepaymentMethod.EQUAL_INSTALLMENT)
    priced = price(terms, Decimal("0.003"), START)
    assert priced.all_in_cost == Decimal("0.360503")
    assert priced.exceeds_cap


def test_monthly_fee_rounds_half_up():
    assert monthly_fee_fen(1_000_050, Decimal("0.003"), 1) == 3_000  # 3000.15
    assert monthly_fee_fen(500, Decimal("0.003"), 1) == 2  # 1.5
