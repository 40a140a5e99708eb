"""Issue 16: a bid touches the loan row once, last. When another bid takes the room
between its read of the loan and that update, the bid is trimmed to what is left under
the row's lock and the rest of its freeze is released (`bid:<id>:trim`); when nothing is
left it is refused LOAN_FULL with nothing kept. Here the other bid is made to land
exactly in that gap, so the path runs on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from models.bids import Bid, BidSource, BidStatus
from models.ledger import Journal
from models.loans import Loan, LoanStatus
from services.errors import DomainError
from services.loans import bid_checks, bidding, funding
from services.money import ledger
from tests.lending import (
    assert_ledger_matches_provider,
    listed_loan,
    ready_lender,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]


def _other_bid_first(monkeypatch: pytest.MonkeyPatch, loan_id: int, lender_id: int, amount: int):
    """The first time `fund` is called, another lender's whole bid is accepted just
    before it (in its own savepoint): the room read by the first bid is gone."""
    real = funding.fund
    state = {"done": False}

    async def fund(target: int, fen: int, *, new_bidder: bool) -> Any:
        if not state["done"]:
            state["done"] = True
            await bidding.accept(
                loan_id=loan_id, lender_id=lender_id, requested=amount, source=BidSource.AUTO
            )
        return await real(target, fen, new_bidder=new_bidder)

    monkeypatch.setattr(funding, "fund", fund)


async def _loan_and_two_lenders(
    scripted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, amount: int
) -> tuple[Loan, Any, Any]:
    """A listed loan of `amount`, two lenders with 5,000.00 each; the other one's bid of
    2,000.00 lands between the first one's read and update."""
    borrower, _ = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, amount, min_bid_fen=500_00, max_bid_fen=amount)
    first, _ = await ready_lender(5_000_00, name="First Lender")
    other, _ = await ready_lender(5_000_00, name="Other Lender")
    _other_bid_first(monkeypatch, loan.id, other.id, 2_000_00)
    return loan, first, other


async def test_room_taken_between_read_and_update_trims_and_releases(app, scripted, monkeypatch):
    sandbox = app.state.sandbox.sandbox
    loan, first, other = await _loan_and_two_lenders(scripted, monkeypatch, 3_000_00)

    accepted = await bidding.accept(
        loan_id=loan.id, lender_id=first.id, requested=2_000_00, source=BidSource.AUTO
    )

    assert accepted.trimmed
    assert accepted.bid.amount_fen == 1_000_00
    assert accepted.bid.requested_fen == 2_000_00
    loan = await Loan.get(id=loan.id)
    assert (loan.funded_fen, loan.bidder_count, loan.status) == (3_000_00, 2, LoanStatus.FULL)
    # The first lender froze 2,000.00, then released the 1,000.00 that did not fit.
    assert await Journal.filter(idempotency_key=f"bid:{accepted.bid.id}:trim").count() == 1
    balances = await ledger.member_balances(first.id)
    assert (balances["available"], balances["frozen"]) == (4_000_00, 1_000_00)
    assert await bid_checks.lender_outstanding(first.id) == 1_000_00
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [first.id, other.id])


async def test_nothing_left_after_the_read_refuses_and_keeps_nothing(app, scripted, monkeypatch):
    sandbox = app.state.sandbox.sandbox
    loan, first, other = await _loan_and_two_lenders(scripted, monkeypatch, 2_000_00)

    with pytest.raises(DomainError) as refused:
        await bidding.accept(
            loan_id=loan.id, lender_id=first.id, requested=1_000_00, source=BidSource.AUTO
        )

    assert refused.value.code == "LOAN_FULL"
    assert not await Bid.filter(loan_id=loan.id, lender_id=first.id).exists()
    balances = await ledger.member_balances(first.id)
    assert (balances["available"], balances["frozen"]) == (5_000_00, 0)
    assert not await Journal.filter(idempotency_key__startswith="bid:").exists()
    # (The other bid ran in a savepoint of the refused one's transaction, so it went
    # with it: here the loan is as it was.)
    loan = await Loan.get(id=loan.id)
    assert (loan.funded_fen, loan.status) == (0, LoanStatus.LISTED)
    assert not await Bid.filter(status=BidStatus.ACCEPTED).exists()
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [first.id, other.id])


async def test_a_lenders_second_bid_does_not_count_them_twice(app, scripted):
    borrower, _ = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 5_000_00, min_bid_fen=500_00, max_bid_fen=3_000_00)
    lender, _ = await ready_lender(5_000_00, name="Twice Lender")
    for amount in (1_000_00, 1_500_00):
        await bidding.accept(
            loan_id=loan.id, lender_id=lender.id, requested=amount, source=BidSource.AUTO
        )
    loan = await Loan.get(id=loan.id)
    assert (loan.funded_fen, loan.bidder_count) == (2_500_00, 1)


async def test_only_a_deadlock_is_told_as_the_loan_closing():
    class Raw(Exception):
        sqlstate = "40P01"

    wrapped = RuntimeError("driver")
    wrapped.__cause__ = Raw("deadlock detected")
    assert funding._deadlock(wrapped)
    assert funding._deadlock(Exception("ERROR: deadlock detected DETAIL: ..."))
    assert not funding._deadlock(Exception("duplicate key value"))
