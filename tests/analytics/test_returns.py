"""Investor returns (M12.3): the XIRR solver's properties, a hand-built book read to the
fen and its XIRR against an independent bisection, and who may read what."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strawberry import relay

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
    ReserveAdvance,
)
from services.analytics import returns
from services.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from services.identity.permissions import Actor, Permission
from services.money.xirr import npv, xirr
from services.platform import clock
from tests.factories import create_member, create_staff, error_codes, gql, token_for

START = date(2020, 1, 1)

# --- 1. The solver ---------------------------------------------------------------------

rates = st.floats(min_value=-0.9, max_value=5.0, allow_nan=False)
amounts = st.floats(min_value=1.0, max_value=1e10, allow_nan=False)
days = st.integers(min_value=1, max_value=3650)


@given(rate=rates, amount=amounts, after=days)
def test_a_flow_grown_at_a_known_rate_gives_that_rate(rate, amount, after):
    grown = amount * (1.0 + rate) ** (after / 365)
    found = xirr([(START, -amount), (START + timedelta(days=after), grown)])
    assert found is not None
    assert abs(found - rate) < 1e-6


flow_sets = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2000).map(lambda d: START + timedelta(days=d)),
        st.integers(min_value=-(10**9), max_value=10**9).filter(lambda a: a != 0),
    ),
    min_size=2,
    max_size=12,
)


@given(flows=flow_sets, order=st.randoms(use_true_random=False))
def test_the_answer_zeroes_the_npv_and_ignores_sign_and_order(flows, order):
    found = xirr(flows)
    if found is None:
        return
    # Near -100 % the NPV moves fast with the rate: measure it against the flows'
    # discounted size, not their face value.
    first = min(day for day, _a in flows)
    scale = sum(abs(a) * (1 + found) ** -((day - first).days / 365) for day, a in flows)
    assert abs(npv(found, flows)) <= 1e-6 * scale
    negated = xirr([(day, -amount) for day, amount in flows])
    shuffled = list(flows)
    order.shuffle(shuffled)
    again = xirr(shuffled)
    assert negated is not None
    assert again is not None
    assert abs(negated - found) < 1e-8
    assert abs(again - found) < 1e-8


@given(
    flows=st.lists(
        st.tuples(st.just(START), st.integers(min_value=1, max_value=10**9)), max_size=5
    ),
    sign=st.sampled_from([1, -1]),
)
def test_undefined_when_all_flows_have_one_sign(flows, sign):
    assert xirr([(day, sign * amount) for day, amount in flows]) is None


def test_undefined_for_fewer_than_two_flows():
    assert xirr([]) is None
    assert xirr([(START, -100.0)]) is None


def test_a_year_at_ten_percent():
    assert abs(xirr([(START, -1000.0), (START + timedelta(days=365), 1100.0)]) - 0.1) < 1e-10


# --- 2. A hand-built book ----------------------------------------------------------------

pytestmark_db = pytest.mark.asyncio(loop_scope="session")
_bids = itertools.count(1)


def _reference_xirr(flows: list[tuple[date, int]]) -> float:
    """An independent bisection on [-0.99, 10]: the NPV of these flows falls as the rate
    rises (money out first), so the sign change is unique."""
    start = min(day for day, _a in flows)

    def value(rate: float) -> float:
        return sum(a / (1 + rate) ** ((day - start).days / 365) for day, a in flows)

    low, high = -0.99, 10.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if value(middle) > 0 else (low, middle)
    return (low + high) / 2


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 30), tzinfo=UTC)


async def _loan(borrower_id: int, amount: int, disbursed: date, status: LoanStatus) -> Loan:
    return await Loan.create(
        borrower_id=borrower_id,
        amount_fen=amount,
        annual_rate=Decimal("0.12"),
        term_months=12,
        method="EQUAL_INSTALLMENT",
        day_count="MONTHLY_30_360",
        purpose="Working capital",
        bid_window_days=10,
        min_bid_fen=5_000,
        max_bid_fen=amount,
        status=status,
        funded_fen=amount,
        required_levels=[1],
        all_in_cost=Decimal("0.15"),
        fee_terms={"monthly_service_fee_rate": "0.003"},
        created_at=_at(disbursed - timedelta(days=5)),
        disbursed_at=_at(disbursed),
    )


async def _claim(loan: Loan, holder_id: int, principal: int, day: date) -> Claim:
    return await Claim.create(
        loan_id=loan.id,
        holder_id=holder_id,
        bid_id=next(_bids),
        principal_fen=principal,
        created_at=_at(day),
    )


async def _installment(
    loan: Loan, number: int, due: date, principal: int, interest: int, paid_on: date | None
) -> LoanInstallment:
    return await LoanInstallment.create(
        loan_id=loan.id,
        number=number,
        due_date=due,
        principal_fen=principal,
        interest_fen=interest,
        fee_fen=0,
        status=InstallmentStatus.PAID if paid_on else InstallmentStatus.OVERDUE,
        paid_principal_fen=principal if paid_on else 0,
        paid_interest_fen=interest if paid_on else 0,
        paid_on=paid_on,
    )


async def _receipt(
    claim: Claim, day: date, principal: int, interest: int, penalty: int = 0, **extra: Any
) -> None:
    loan = await Loan.get(id=claim.loan_id)
    repayment = await Repayment.create(
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        kind=RepaymentKind.INSTALLMENTS,
        status=RepaymentStatus.DONE,
        created_at=_at(day),
        done_at=_at(day),
    )
    await Receipt.create(
        repayment_id=repayment.id,
        claim_id=claim.id,
        holder_id=claim.holder_id,
        loan_id=claim.loan_id,
        principal_fen=principal,
        interest_fen=interest,
        penalty_fen=penalty,
        created_at=_at(day),
        **extra,
    )


async def _book(today: date) -> dict[str, Any]:
    """Lender L holds three claims, lender O one; `today` is the business day.

    - loan 1 (10,000.00): L 6,000.00 and O 4,000.00, disbursed today-200; four
      installments of 2,500.00 principal with 300.00/200.00/100.00/50.00 interest, the
      first three paid on their due dates (today-140, -80, -20), the fourth due today+40.
    - loan 2 (5,000.00): L alone, disbursed today-100; installment 1 (2,500.00 + 150.00)
      due today-50 paid today-45 with 5.00 penalty, installment 2 (2,500.00 + 80.00) due
      today+10.
    - loan 3 (2,000.00): L alone, disbursed today-300; its one installment (2,000.00 +
      80.00) due today-150 is unpaid (in default from today-59 on); the risk reserve
      advanced L 500.00 + 20.00 on today-140 and the borrower repaid the reserve that
      much on today-130 (a `to_reserve` receipt: the reserve's, not L's).
    """
    borrower, borrower_phone = await create_member(name="Borrower")
    lender, lender_phone = await create_member(name="Lender L")
    other, other_phone = await create_member(name="Lender O")
    d = lambda n: today + timedelta(days=n)  # noqa: E731

    one = await _loan(borrower.id, 1_000_000, d(-200), LoanStatus.REPAYING)
    l_one = await _claim(one, lender.id, 600_000, d(-200))
    o_one = await _claim(one, other.id, 400_000, d(-200))
    for number, (due, interest) in enumerate(
        [(-140, 30_000), (-80, 20_000), (-20, 10_000), (40, 5_000)], 1
    ):
        paid = d(due) if due < 0 else None
        await _installment(one, number, d(due), 250_000, interest, paid)
        if paid:
            await _receipt(l_one, paid, 150_000, interest * 6 // 10)
            await _receipt(o_one, paid, 100_000, interest * 4 // 10)

    two = await _loan(borrower.id, 500_000, d(-100), LoanStatus.REPAYING)
    l_two = await _claim(two, lender.id, 500_000, d(-100))
    await _installment(two, 1, d(-50), 250_000, 15_000, d(-45))
    await _installment(two, 2, d(10), 250_000, 8_000, None)
    await _receipt(l_two, d(-45), 250_000, 15_000, 500)

    three = await _loan(borrower.id, 200_000, d(-300), LoanStatus.OVERDUE)
    l_three = await _claim(three, lender.id, 200_000, d(-300))
    overdue = await _installment(three, 1, d(-150), 200_000, 8_000, None)
    await ReserveAdvance.create(
        loan_id=three.id,
        installment_id=overdue.id,
        claim_id=l_three.id,
        holder_id=lender.id,
        principal_fen=50_000,
        interest_fen=2_000,
        created_at=_at(d(-140)),
    )
    await _receipt(l_three, d(-130), 50_000, 2_000, to_reserve=True, recoverer="p:risk_reserve")
    return {
        "lender": lender.id,
        "other": other.id,
        "borrower": borrower.id,
        "phones": {"lender": lender_phone, "other": other_phone, "borrower": borrower_phone},
    }


def _member(user_id: int) -> Actor:
    return Actor(user_id=user_id, kind="member", permissions=frozenset())


STAFF = Actor(user_id=10**9 + 7, kind="staff", permissions=frozenset({Permission.ANALYTICS_READ}))


@pytestmark_db
async def test_a_lenders_returns_to_the_fen_and_their_xirr():
    today = await clock.today()
    ids = await _book(today)
    got = await returns.lender_returns(actor=_member(ids["lender"]))

    d = lambda n: today + timedelta(days=n)  # noqa: E731
    assert got.as_of == today
    assert got.invested_fen == 600_000 + 500_000 + 200_000
    # loan 1: 1,500.00+180.00, 1,500.00+120.00, 1,500.00+60.00; loan 2: 2,500.00+150.00+5.00;
    # loan 3: the reserve's advance 500.00+20.00 (its recovery is not L's).
    assert got.received_fen == 168_000 + 162_000 + 156_000 + 265_500 + 52_000
    assert got.outstanding_principal_fen == 1_300_000 - 450_000 - 250_000 - 50_000
    had = [
        (d(-300), -200_000),
        (d(-200), -600_000),
        (d(-140), 168_000 + 52_000),
        (d(-100), -500_000),
        (d(-80), 162_000),
        (d(-45), 265_500),
        (d(-20), 156_000),
    ]
    realised = _reference_xirr([*had, (today, 550_000)])
    # Still to come: loan 1's 4th installment x 60 % (2,550.00 x 0.6) and loan 2's 2nd;
    # loan 3 is in default (unpaid 150 days): nothing more expected of it.
    expected = _reference_xirr([*had, (d(10), 258_000), (d(40), 153_000)])
    assert got.realised_xirr is not None
    assert got.expected_xirr is not None
    assert abs(float(got.realised_xirr) - realised) <= 0.00005
    assert abs(float(got.expected_xirr) - expected) <= 0.00005
    # The default is priced in: expected is well below realised (par on loan 3).
    assert got.expected_xirr < got.realised_xirr


@pytestmark_db
async def test_as_of_a_past_day_counts_only_what_had_happened():
    today = await clock.today()
    ids = await _book(today)
    as_of = today - timedelta(days=90)
    got = await returns.lender_returns(actor=_member(ids["lender"]), as_of=as_of)

    d = lambda n: today + timedelta(days=n)  # noqa: E731
    assert got.invested_fen == 1_300_000
    assert got.received_fen == 220_000
    assert got.outstanding_principal_fen == 1_100_000
    had = [(d(-300), -200_000), (d(-200), -600_000), (d(-140), 220_000), (d(-100), -500_000)]
    # On today-90 loan 3 was 60 days late, not yet in default: its 2,080.00 less the
    # 520.00 advanced is owed on the day itself. Loan 1's installments 2-4 x 60 %, loan
    # 2's two installments on their due dates.
    to_come = [
        (as_of, 208_000 - 52_000),
        (d(-80), 162_000),
        (d(-50), 265_000),
        (d(-20), 156_000),
        (d(10), 258_000),
        (d(40), 153_000),
    ]
    assert abs(float(got.expected_xirr or 0) - _reference_xirr(had + to_come)) <= 0.00005
    assert abs(float(got.realised_xirr or 0) - _reference_xirr([*had, (as_of, 1_100_000)])) <= (
        0.00005
    )


@pytestmark_db
async def test_platform_returns_pool_every_lender():
    today = await clock.today()
    await _book(today)
    got = await returns.platform_returns(actor=STAFF)
    assert got.lender_id is None
    assert got.invested_fen == 1_700_000
    assert got.received_fen == 803_500 + 112_000 + 108_000 + 104_000
    assert got.outstanding_principal_fen == 550_000 + 100_000


@pytestmark_db
async def test_who_may_read_what():
    today = await clock.today()
    ids = await _book(today)
    with pytest.raises(PermissionDeniedError):
        await returns.lender_returns(actor=_member(ids["other"]), lender_id=ids["lender"])
    with pytest.raises(PermissionDeniedError):  # an unknown id is not told apart
        await returns.lender_returns(actor=_member(ids["other"]), lender_id=10**9)
    with pytest.raises(PermissionDeniedError):
        await returns.platform_returns(actor=_member(ids["lender"]))
    with pytest.raises(NotFoundError):
        await returns.lender_returns(actor=STAFF, lender_id=10**9)
    with pytest.raises(InvalidInputError):
        await returns.lender_returns(actor=STAFF, as_of=today + timedelta(days=1))
    staff = await returns.lender_returns(actor=STAFF, lender_id=ids["lender"])
    own = await returns.lender_returns(actor=_member(ids["lender"]), lender_id=ids["lender"])
    assert staff == own
    assert staff.received_fen == 803_500
    nothing = await returns.lender_returns(actor=_member(ids["borrower"]))
    assert (nothing.invested_fen, nothing.received_fen, nothing.realised_xirr) == (0, 0, None)


# --- 3. Through the API ----------------------------------------------------------------------

QUERY = """query ($lender: ID, $asOf: Date) { lenderReturns(lenderId: $lender, asOf: $asOf) {
  lenderId asOf invested received outstandingPrincipal realisedXirr expectedXirr } }"""


def _global(user_id: int) -> str:
    return str(relay.GlobalID("User", str(user_id)))


@pytestmark_db
async def test_the_api_shows_own_returns_and_refuses_others(client):
    today = await clock.today()
    ids = await _book(today)
    own = await gql(client, QUERY, token=await token_for(ids["phones"]["lender"]))
    figures = own["data"]["lenderReturns"]
    assert figures["lenderId"] == _global(ids["lender"])
    assert figures["asOf"] == today.isoformat()
    assert (figures["invested"], figures["received"], figures["outstandingPrincipal"]) == (
        "13000.00",
        "8035.00",
        "5500.00",
    )
    mine = await returns.lender_returns(actor=_member(ids["lender"]))
    assert figures["realisedXirr"] == f"{mine.realised_xirr:f}"
    # With loan 3 in default L expects a loss: a negative rate, carried by SignedRate.
    assert mine.expected_xirr is not None
    assert mine.expected_xirr < 0
    assert figures["expectedXirr"] == f"{mine.expected_xirr:.4f}"
    assert figures["expectedXirr"].startswith("-0.")

    other_token = await token_for(ids["phones"]["other"])
    refused = await gql(client, QUERY, {"lender": _global(ids["lender"])}, token=other_token)
    assert error_codes(refused) == ["FORBIDDEN"]
    assert refused["data"] is None
    platform = await gql(client, "{ platformReturns { invested } }", token=other_token)
    assert error_codes(platform) == ["FORBIDDEN"]

    _staff, phone = await create_staff("finance")
    staff_token = await token_for(phone)
    read = await gql(client, QUERY, {"lender": _global(ids["lender"])}, token=staff_token)
    assert read["data"]["lenderReturns"] == figures
    unknown = await gql(client, QUERY, {"lender": _global(10**9)}, token=staff_token)
    assert error_codes(unknown) == ["BAD_USER_INPUT"]
    assert unknown["errors"][0]["extensions"]["field"] == "lenderId"
    future = (today + timedelta(days=1)).isoformat()
    late = await gql(client, QUERY, {"asOf": future}, token=staff_token)
    assert error_codes(late) == ["BAD_USER_INPUT"]
    pooled = await gql(
        client, "{ platformReturns { lenderId invested received } }", token=staff_token
    )
    assert pooled["data"]["platformReturns"] == {
        "lenderId": None,
        "invested": "17000.00",
        "received": "11275.00",
    }
