"""The live dashboard's figures (M12.4) against a hand-built book: the risk figures'
book of tests/analytics/test_figures.py (business today 2026-12-03), a loan paid out at
00:00 today, and listed, full and failed loans with bids accepted a few seconds, two
minutes and two hours before now. Rows are written directly: the flows that make them
have their own tests (tests/api/test_dashboard.py runs a bid through the API)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from models.bids import Bid, BidSource, BidStatus
from models.loans import Loan, LoanStatus
from models.members import User
from services.analytics import dashboard, risk
from services.analytics.dashboard import HotLoan
from services.analytics.dashboard_feed import READER
from services.platform import clock
from tests.analytics.test_figures import TODAY, _book, _member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _loan(status: LoanStatus, amount: int, funded: int, disbursed: datetime | None) -> Loan:
    borrower = await _member(TODAY - timedelta(days=30))
    listed = datetime.combine(TODAY - timedelta(days=1), time(9), tzinfo=UTC)
    return await Loan.create(
        borrower_id=borrower.id,
        amount_fen=amount,
        funded_fen=funded,
        annual_rate=Decimal("0.12"),
        term_months=6,
        method="EQUAL_PRINCIPAL",
        day_count="MONTHLY_30_360",
        purpose="dashboard test",
        bid_window_days=5,
        min_bid_fen=5_000,
        max_bid_fen=amount,
        status=status,
        listed_at=listed,
        disbursed_at=disbursed,
        required_levels=[1],
        all_in_cost=Decimal("0.12"),
        fee_terms={},
        created_at=listed,
    )


async def _bid(
    loan: Loan, lender: User, amount: int, at: datetime, status: BidStatus = BidStatus.ACCEPTED
) -> Bid:
    decided = status != BidStatus.AWAITING_CONFIRMATION
    return await Bid.create(
        loan_id=loan.id,
        lender_id=lender.id,
        requested_fen=amount,
        amount_fen=amount if status != BidStatus.REFUSED else 0,
        status=status,
        source=BidSource.AUTO,
        created_at=at,
        decided_at=at if decided else None,
    )


async def _dashboard_book() -> dict[str, Loan]:
    await _book()
    lender = await _member(TODAY - timedelta(days=30))
    now = await clock.now()
    midnight = datetime.combine(TODAY, time(), tzinfo=UTC)
    loans = {
        # paid out at 00:00 today (no installments yet: outstanding, not overdue)
        "F": await _loan(LoanStatus.REPAYING, 100_000, 100_000, midnight),
        "G": await _loan(LoanStatus.LISTED, 500_000, 250_000, None),
        "H": await _loan(LoanStatus.LISTED, 300_000, 60_000, None),
        "K": await _loan(LoanStatus.LISTED, 200_000, 20_000, None),
        "J": await _loan(LoanStatus.FULL, 100_000, 100_000, None),
        "E": await _loan(LoanStatus.FAILED, 400_000, 0, None),
    }
    seconds = timedelta(seconds=1)
    await _bid(loans["G"], lender, 100_000, now - 10 * seconds)
    await _bid(loans["G"], lender, 100_000, now - 20 * seconds)
    await _bid(loans["G"], lender, 50_000, now - 120 * seconds)  # in the hour only
    await _bid(loans["G"], lender, 70_000, now - 3 * seconds, BidStatus.AWAITING_CONFIRMATION)
    await _bid(loans["H"], lender, 60_000, now - 5 * seconds)
    await _bid(loans["H"], lender, 80_000, now - 4 * seconds, BidStatus.REFUSED)
    await _bid(loans["K"], lender, 20_000, now - timedelta(hours=2))  # before the hour
    await _bid(loans["J"], lender, 100_000, now - 15 * seconds)  # filled it: not listed
    # frozen 25 s ago, released since (the listing failed): it was a bid of the minute
    await _bid(loans["E"], lender, 30_000, now - 25 * seconds, BidStatus.RELEASED)
    return loans


async def test_the_figures_of_the_minute_the_hour_and_the_day():
    loans = await _dashboard_book()

    figures = await dashboard.compute(READER)

    assert figures.today == TODAY
    # F at 00:00 today; D (paid out yesterday at 10:00) is not today's
    assert (figures.volume_today, figures.loans_disbursed_today) == (100_000, 1)
    # G 1,000.00 + 1,000.00, H 600.00, J 1,000.00, E 300.00: not the bid of two minutes
    # ago, the refused one or the one waiting for its SMS code
    assert (figures.bids_last_minute, figures.bid_amount_last_minute) == (5, 390_000)
    assert figures.hot_loans == (
        HotLoan(loan_id=loans["G"].id, amount=500_000, funded=250_000, bids_last_hour=3),
        HotLoan(loan_id=loans["H"].id, amount=300_000, funded=60_000, bids_last_hour=1),
    )
    assert [(loan.remaining, str(loan.progress)) for loan in figures.hot_loans] == [
        (250_000, "0.5000"),
        (240_000, "0.2000"),
    ]
    # Overdue by bucket as tests/analytics/test_figures.py works them out by hand.
    assert [(b.bucket, b.loans, b.amount, b.principal) for b in figures.overdue] == [
        ("M1", 0, 0, 0),
        ("M2", 1, 207_000, 200_000),
        ("M3_PLUS", 1, 151_250, 150_000),
        ("OVER_90", 1, 151_250, 150_000),
    ]
    # The three cohorts; December's with F beside D.
    assert [(c.cohort, c.loans, c.principal) for c in figures.vintages] == [
        ("2026-06", 2, 1_500_000),
        ("2026-07", 1, 600_000),
        ("2026-12", 2, 340_000),
    ]
    assert figures.vintages[1].points == [Decimal(p) for p in ("0", "0", "0", "1", "1")]
    found = await risk.risk_figures(READER, TODAY)
    assert figures.overdue == tuple(found.buckets)
    assert figures.vintages == tuple(found.vintages)


async def test_the_hot_loans_and_the_cohorts_are_cut_to_their_limits(monkeypatch):
    loans = await _dashboard_book()
    monkeypatch.setattr(dashboard, "HOT_LOANS", 1)
    monkeypatch.setattr(dashboard, "VINTAGE_COHORTS", 2)

    figures = await dashboard.compute(READER)

    assert [loan.loan_id for loan in figures.hot_loans] == [loans["G"].id]
    assert [curve.cohort for curve in figures.vintages] == ["2026-07", "2026-12"]


async def test_a_reading_of_the_risk_part_is_reused_on_the_same_day_only():
    await _dashboard_book()
    slow = dashboard.SlowFigures(today=TODAY, overdue=(), vintages=())
    reused = await dashboard.compute(READER, slow)
    assert (reused.overdue, reused.vintages) == ((), ())
    yesterday = dashboard.SlowFigures(today=TODAY - timedelta(days=1), overdue=(), vintages=())
    fresh = await dashboard.compute(READER, yesterday)
    assert [b.loans for b in fresh.overdue] == [0, 1, 1, 1]


async def test_equal_figures_read_at_two_moments_are_equal():
    """What the feed compares: the moment of reading is not a figure."""
    await _dashboard_book()
    first = await dashboard.compute(READER)
    second = await dashboard.compute(READER)
    assert second.business_time > first.business_time
    assert second == first
