"""Platform and risk figures (M12.1, M12.2) against a hand-built book: every figure to
the fen or to four places, as of today and as of a past day, a vintage curve, the bad
inputs, and who may read them.

The book (rows written directly: the flows that make them have their own tests), with
business today pinned to 2026-12-03:

- loan A: B1 borrows 12,000.00 at 10 % for 3 months, disbursed 2026-06-10; installments
  due 07-10, 08-10, 09-10 (4,000.00 principal each; interest 100.00, 67.00, 33.00), each
  paid on its due day (the second a day early): settled 2026-09-10. Claim: L3.
- loan B: B1 borrows 6,000.00 at 12 % for 6 months, disbursed 2026-07-24; installments
  due the 24th from August (1,000.00 principal each; interest 60, 50, 40, 30, 20, 10
  yuan); the first two paid on time, the third (10-24) not: 40 days overdue on 12-03.
  Claims: L1 and L2.
- loan C: B2 borrows 3,000.00 at 15 % for 3 months, disbursed 2026-06-01; installments
  due 07-01, 08-01, 09-01 (1,000.00 principal each; interest 37.50, 25.00, 12.50); the
  first paid, the second paid in part on 10-05 (500.00 principal and its 25.00
  interest), so 124 days overdue on 12-03. Claim: L2, of which the risk reserve advanced
  512.50 on 09-05 and recovered 262.50 on 10-05.
- loan D: B2 borrows 2,400.00 at 9 % for 12 months, disbursed 2026-12-02; twelve
  installments from 2027-01-02 (200.00 principal each; interest 24.00, 22.00, ... 2.00:
  156.00 in all). Claim: L1.
- loan E: listed and failed, never disbursed (counted nowhere).
- members: B1, B2, L1, L2, L3 registered 2026-05-01, M5 on 2026-11-20, M6 on 2025-06-01
  (the platform's first day).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.members import User
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
    ReserveAdvance,
)
from services.platform import clock
from tests.factories import create_member, create_staff, error_codes, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

TODAY = date(2026, 12, 3)
_bids = itertools.count(1)

PLATFORM = """query ($asOf: Date, $since: Date) { platformFigures(asOf: $asOf, since: $since) {
  asOf since cumulativeVolume cumulativeLoanCount periodVolume periodLoanCount
  outstandingPrincipal outstandingInterest outstandingLoanCount membersRegistered
  activeBorrowers activeLenders averageAnnualRate averageTermMonths top10BorrowersShare
  largestBorrowerShare relatedPartyLoanCount relatedPartyOutstanding } }"""
RISK = """query ($asOf: Date) { riskFigures(asOf: $asOf) {
  asOf buckets { bucket loanCount amount principal } overdueLoanCount overdueAmount
  overduePrincipal outstandingLoanCount outstandingPrincipal overdueRateByCount
  overdueRateByAmount badDebtPrincipal badDebtRate
  vintages { cohort loanCount principal points }
  reserveAdvanceCount reserveAdvanced reserveRecovered } }"""


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _member(registered: date) -> User:
    user, _phone = await create_member()
    await User.filter(id=user.id).update(created_at=_at(registered, 9))
    return user


async def _loan(borrower: User, amount: int, rate: str, term: int, disbursed: date | None) -> Loan:
    created = (disbursed or date(2026, 11, 1)) - timedelta(days=10)
    return await Loan.create(
        borrower_id=borrower.id,
        amount_fen=amount,
        annual_rate=Decimal(rate),
        term_months=term,
        method="EQUAL_PRINCIPAL",
        day_count="MONTHLY_30_360",
        purpose="figures test",
        bid_window_days=5,
        min_bid_fen=5_000,
        max_bid_fen=amount,
        status=LoanStatus.REPAYING if disbursed else LoanStatus.FAILED,
        listed_at=_at(created),
        closed_at=_at(created),
        disbursed_at=_at(disbursed) if disbursed else None,
        required_levels=[1],
        all_in_cost=Decimal(rate),
        fee_terms={},
        created_at=_at(created),
    )


async def _installments(
    loan: Loan, dues: list[date], principal: int, interests: list[int], paid: dict[int, date]
) -> list[LoanInstallment]:
    """Installment n (from 1) is paid in full on paid[n] when given, else unpaid."""
    rows = []
    for number, (due, interest) in enumerate(zip(dues, interests, strict=True), 1):
        paid_on = paid.get(number)
        rows.append(
            await LoanInstallment.create(
                loan_id=loan.id,
                number=number,
                due_date=due,
                principal_fen=principal,
                interest_fen=interest,
                fee_fen=0,
                status=InstallmentStatus.PAID
                if paid_on
                else (InstallmentStatus.OVERDUE if due < TODAY else InstallmentStatus.PENDING),
                paid_principal_fen=principal if paid_on else 0,
                paid_interest_fen=interest if paid_on else 0,
                paid_on=paid_on,
                paid_late=bool(paid_on and paid_on > due),
            )
        )
    return rows


async def _repaid(loan: Loan, day: date, principal: int, interest: int) -> Repayment:
    return await Repayment.create(
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        kind=RepaymentKind.INSTALLMENTS,
        status=RepaymentStatus.DONE,
        amount_fen=principal + interest,
        principal_fen=principal,
        interest_fen=interest,
        created_at=_at(day, 8),
        done_at=_at(day),
    )


async def _claim(loan: Loan, holder: User, principal: int) -> Claim:
    assert loan.disbursed_at is not None
    return await Claim.create(
        loan_id=loan.id,
        holder_id=holder.id,
        bid_id=next(_bids),
        principal_fen=principal,
        created_at=loan.disbursed_at,
    )


def _month(day: int, month: int, year: int = 2026) -> date:
    return date(year, month, day)


async def _book() -> None:
    await clock.start_at(TODAY)
    b1, b2, l1, l2, l3 = [await _member(date(2026, 5, 1)) for _ in range(5)]
    await _member(date(2026, 11, 20))  # M5
    await _member(date(2025, 6, 1))  # M6: the platform's first day

    a = await _loan(b1, 1_200_000, "0.10", 3, date(2026, 6, 10))
    await _installments(
        a,
        [_month(10, 7), _month(10, 8), _month(10, 9)],
        400_000,
        [10_000, 6_700, 3_300],
        {1: _month(10, 7), 2: _month(9, 8), 3: _month(10, 9)},
    )
    await _repaid(a, _month(10, 7), 400_000, 10_000)
    await _repaid(a, _month(9, 8), 400_000, 6_700)
    await _repaid(a, _month(10, 9), 400_000, 3_300)
    await _claim(a, l3, 1_200_000)

    b = await _loan(b1, 600_000, "0.12", 6, date(2026, 7, 24))
    await _installments(
        b,
        [_month(24, m) for m in (8, 9, 10, 11, 12)] + [date(2027, 1, 24)],
        100_000,
        [6_000, 5_000, 4_000, 3_000, 2_000, 1_000],
        {1: _month(24, 8), 2: _month(24, 9)},
    )
    await _repaid(b, _month(24, 8), 100_000, 6_000)
    await _repaid(b, _month(24, 9), 100_000, 5_000)
    await _claim(b, l1, 300_000)
    await _claim(b, l2, 300_000)

    c = await _loan(b2, 300_000, "0.15", 3, date(2026, 6, 1))
    c_rows = await _installments(
        c,
        [_month(1, 7), _month(1, 8), _month(1, 9)],
        100_000,
        [3_750, 2_500, 1_250],
        {1: _month(1, 7)},
    )
    await _repaid(c, _month(1, 7), 100_000, 3_750)
    partial = await _repaid(c, _month(5, 10), 50_000, 2_500)
    await LoanInstallment.filter(id=c_rows[1].id).update(
        paid_principal_fen=50_000, paid_interest_fen=2_500
    )
    c_claim = await _claim(c, l2, 300_000)
    await ReserveAdvance.create(
        loan_id=c.id,
        installment_id=c_rows[1].id,
        claim_id=c_claim.id,
        holder_id=l2.id,
        principal_fen=50_000,
        interest_fen=1_250,
        created_at=_at(_month(5, 9)),
    )
    await Receipt.create(
        repayment_id=partial.id,
        claim_id=c_claim.id,
        holder_id=l2.id,
        loan_id=c.id,
        principal_fen=25_000,
        interest_fen=1_250,
        penalty_fen=0,
        to_reserve=True,
        recoverer="p:risk_reserve",
        created_at=_at(_month(5, 10)),
    )

    d = await _loan(b2, 240_000, "0.09", 12, date(2026, 12, 2))
    await _installments(
        d,
        [date(2027 + (m > 12), (m - 1) % 12 + 1, 2) for m in range(13, 25)],
        20_000,
        [200 * (13 - k) for k in range(1, 13)],  # 24.00, 22.00 ... 2.00
        {},
    )
    await _claim(d, l1, 240_000)

    await _loan(b1, 500_000, "0.20", 6, None)  # E: failed, never disbursed


async def _staff_token(role: str = "finance") -> str:
    _staff, phone = await create_staff(role)
    return await token_for(phone)


async def _platform(client: Any, token: str, **variables: str) -> dict[str, Any]:
    body = await gql(client, PLATFORM, variables, token=token)
    assert "errors" not in body, body
    return dict(body["data"]["platformFigures"])


async def _risk(client: Any, token: str, **variables: str) -> dict[str, Any]:
    body = await gql(client, RISK, variables, token=token)
    assert "errors" not in body, body
    return dict(body["data"]["riskFigures"])


async def test_platform_figures_today(client):
    await _book()
    figures = await _platform(client, await _staff_token())
    assert figures == {
        "asOf": "2026-12-03",
        "since": "2026-12-01",  # the first of the month
        # A 12,000 + B 6,000 + C 3,000 + D 2,400 (E never disbursed)
        "cumulativeVolume": "23400.00",
        "cumulativeLoanCount": 4,
        "periodVolume": "2400.00",  # D, disbursed 12-02
        "periodLoanCount": 1,
        # A 0 + B (6,000 - 2,000) + C (3,000 - 1,000 - 500) + D 2,400
        "outstandingPrincipal": "7900.00",
        # B 40 + 30 + 20 + 10; C (37.50 + 25.00 + 12.50) - (37.50 + 25.00); D 156.00
        "outstandingInterest": "268.50",
        "outstandingLoanCount": 3,  # B, C, D
        "membersRegistered": 7,  # B1 B2 L1 L2 L3 M5 M6, not the staff caller
        "activeBorrowers": 2,  # B1 (B), B2 (C, D)
        "activeLenders": 2,  # L1 (B, D), L2 (B, C); L3 held only settled A
        # (12,000 x 0.10 + 6,000 x 0.12 + 3,000 x 0.15 + 2,400 x 0.09) / 23,400
        # = 2,586 / 23,400 = 0.110512...
        "averageAnnualRate": "0.1105",
        # (12,000 x 3 + 6,000 x 6 + 3,000 x 3 + 2,400 x 12) / 23,400 = 109,800 / 23,400
        # = 4.6923...
        "averageTermMonths": "4.69",
        "top10BorrowersShare": "1.0000",  # two borrowers owe everything
        "largestBorrowerShare": "0.5063",  # B1 4,000 / 7,900 = 0.506329...
        "relatedPartyLoanCount": 0,
        "relatedPartyOutstanding": "0.00",
    }


async def test_platform_figures_as_of_a_past_day(client):
    await _book()
    figures = await _platform(client, await _staff_token(), asOf="2026-08-31", since="2026-07-01")
    assert figures == {
        "asOf": "2026-08-31",
        "since": "2026-07-01",
        "cumulativeVolume": "21000.00",  # A 12,000 + B 6,000 + C 3,000
        "cumulativeLoanCount": 3,
        "periodVolume": "6000.00",  # B, disbursed 07-24
        "periodLoanCount": 1,
        # A 12,000 - 8,000 (07-10, 08-09); B 6,000 - 1,000 (08-24); C 3,000 - 1,000;
        # C's part payment of 10-05 not yet made
        "outstandingPrincipal": "11000.00",
        # A 33.00; B 210 - 60 = 150.00; C 75.00 - 37.50 = 37.50
        "outstandingInterest": "220.50",
        "outstandingLoanCount": 3,
        "membersRegistered": 6,  # M5 registered later
        "activeBorrowers": 2,
        "activeLenders": 3,  # L3 (A), L1 (B), L2 (B, C)
        # (1,200 + 720 + 450) / 21,000 = 0.112857...
        "averageAnnualRate": "0.1129",
        # (36,000 + 36,000 + 9,000) / 21,000 = 3.857...
        "averageTermMonths": "3.86",
        "top10BorrowersShare": "1.0000",
        "largestBorrowerShare": "0.8182",  # B1 (4,000 + 5,000) / 11,000 = 0.81818...
        "relatedPartyLoanCount": 0,
        "relatedPartyOutstanding": "0.00",
    }


async def test_risk_figures_today_and_as_of_a_past_day(client):
    await _book()
    token = await _staff_token("risk_l1")
    today = await _risk(client, token)
    assert today == {
        "asOf": "2026-12-03",
        "buckets": [
            {"bucket": "M1", "loanCount": 0, "amount": "0.00", "principal": "0.00"},
            # B: 10-24 -> 12-03 is 40 days; installments 3 and 4 unpaid: 2,000 + 40 + 30
            {"bucket": "M2", "loanCount": 1, "amount": "2070.00", "principal": "2000.00"},
            # C: 08-01 -> 12-03 is 124 days; (2,000 - 500) + (37.50 - 25.00)... in full:
            # due principal 3,000 - paid 1,500; due interest 75.00 - paid 62.50
            {"bucket": "M3_PLUS", "loanCount": 1, "amount": "1512.50", "principal": "1500.00"},
            {"bucket": "OVER_90", "loanCount": 1, "amount": "1512.50", "principal": "1500.00"},
        ],
        "overdueLoanCount": 2,
        "overdueAmount": "3582.50",  # 2,070.00 + 1,512.50
        "overduePrincipal": "3500.00",
        "outstandingLoanCount": 3,
        "outstandingPrincipal": "7900.00",
        "overdueRateByCount": "0.6667",  # 2 / 3
        "overdueRateByAmount": "0.4430",  # 3,500 / 7,900 = 0.443037...
        "badDebtPrincipal": "1500.00",  # C, over 90 days: its outstanding principal
        "badDebtRate": "0.1899",  # 1,500 / 7,900 = 0.189873...
        "vintages": [
            # A + C; C went over 30 days on 09-01 (08-01 + 31): month 3 on book (Sep - Jun)
            {
                "cohort": "2026-06",
                "loanCount": 2,
                "principal": "15000.00",
                "points": ["0.0000", "0.0000", "0.2000", "0.2000", "0.2000", "0.2000"],
            },
            # B went over 30 days on 11-24 (10-24 + 31): month 4 on book (Nov - Jul)
            {
                "cohort": "2026-07",
                "loanCount": 1,
                "principal": "6000.00",
                "points": ["0.0000", "0.0000", "0.0000", "1.0000", "1.0000"],
            },
            {"cohort": "2026-12", "loanCount": 1, "principal": "2400.00", "points": []},
        ],
        "reserveAdvanceCount": 1,
        "reserveAdvanced": "512.50",  # 500.00 + 12.50
        "reserveRecovered": "262.50",  # 250.00 + 12.50
    }

    past = await _risk(client, token, asOf="2026-08-31")
    assert past == {
        "asOf": "2026-08-31",
        "buckets": [
            # C: 08-01 -> 08-31 is 30 days; principal due 2,000 - paid 1,000, interest
            # 62.50 - 37.50
            {"bucket": "M1", "loanCount": 1, "amount": "1025.00", "principal": "1000.00"},
            {"bucket": "M2", "loanCount": 0, "amount": "0.00", "principal": "0.00"},
            {"bucket": "M3_PLUS", "loanCount": 0, "amount": "0.00", "principal": "0.00"},
            {"bucket": "OVER_90", "loanCount": 0, "amount": "0.00", "principal": "0.00"},
        ],
        "overdueLoanCount": 1,
        "overdueAmount": "1025.00",
        "overduePrincipal": "1000.00",
        "outstandingLoanCount": 3,
        "outstandingPrincipal": "11000.00",
        "overdueRateByCount": "0.3333",  # 1 / 3
        "overdueRateByAmount": "0.0909",  # 1,000 / 11,000 = 0.090909...
        "badDebtPrincipal": "0.00",
        "badDebtRate": "0.0000",
        "vintages": [
            # C goes over 30 days only on 09-01
            {
                "cohort": "2026-06",
                "loanCount": 2,
                "principal": "15000.00",
                "points": ["0.0000", "0.0000"],
            },
            {"cohort": "2026-07", "loanCount": 1, "principal": "6000.00", "points": ["0.0000"]},
        ],
        "reserveAdvanceCount": 0,
        "reserveAdvanced": "0.00",
        "reserveRecovered": "0.00",
    }


async def test_the_day_c_reaches_31_days_starts_its_vintage_and_moves_its_bucket(client):
    await _book()
    token = await _staff_token("auditor")
    before = await _risk(client, token, asOf="2026-08-31")  # 30 days: M1
    after = await _risk(client, token, asOf="2026-09-01")  # 31 days: M2
    assert [b["loanCount"] for b in before["buckets"]] == [1, 0, 0, 0]
    assert [b["loanCount"] for b in after["buckets"]] == [0, 1, 0, 0]
    assert before["vintages"][0]["points"] == ["0.0000", "0.0000"]
    # month 3 on book (September) reached on 09-01: 3,000 of 15,000
    assert after["vintages"][0]["points"] == ["0.0000", "0.0000", "0.2000"]


BAD_INPUTS = [
    ({"asOf": "2025-05-31"}, "asOf"),  # the day before the first member registered
    ({"asOf": "2026-12-04"}, "asOf"),  # tomorrow
    ({"asOf": "2026-08-31", "since": "2026-09-01"}, "since"),  # since after asOf
    ({"asOf": "2026-06-03", "since": "2025-06-01"}, "since"),  # 368 days
    ({"asOf": "2026-06-01", "since": "2025-05-31"}, "since"),  # before the first day
]


@pytest.mark.parametrize(("variables", "field"), BAD_INPUTS)
async def test_bad_dates_are_bad_user_input(client, variables, field):
    await _book()
    body = await gql(client, PLATFORM, variables, token=await _staff_token())
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field
    assert body["data"] is None


async def test_the_longest_period_and_the_first_day_are_accepted(client):
    await _book()
    token = await _staff_token()
    # 2025-06-02 .. 2026-06-02 is 366 days with both ends
    figures = await _platform(client, token, asOf="2026-06-02", since="2025-06-02")
    assert (figures["periodVolume"], figures["periodLoanCount"]) == ("3000.00", 1)  # C
    first = await _platform(client, token, asOf="2025-06-01")
    assert (first["since"], first["membersRegistered"], first["cumulativeLoanCount"]) == (
        "2025-06-01",
        1,
        0,
    )


@pytest.mark.parametrize("document", [PLATFORM, RISK])
@pytest.mark.parametrize("variables", [{"asOf": "2025-05-31"}, {"asOf": "2026-12-04"}])
async def test_both_fields_refuse_days_outside_the_platform_life(client, document, variables):
    await _book()
    body = await gql(client, document, variables, token=await _staff_token("admin"))
    assert error_codes(body) == ["BAD_USER_INPUT"], body


@pytest.mark.parametrize("document", [PLATFORM, RISK])
async def test_members_and_staff_without_the_permission_are_forbidden(client, document):
    await _book()
    _member_user, phone = await create_member()
    assert error_codes(await gql(client, document, token=await token_for(phone))) == ["FORBIDDEN"]
    assert error_codes(await gql(client, document, token=await _staff_token("cs"))) == ["FORBIDDEN"]
