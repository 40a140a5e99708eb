"""Repaying a loan never pays twice and never writes half, under real concurrency.

On PostgreSQL every confirmation below runs in its own transaction on its own pooled
connection (asyncio.gather, as tests/e2e/test_bidding_concurrency.py does), so the
loan's row lock (`select_for_update`) is what keeps them apart: the real concurrency
is proven there. SQLite runs one writer at a time (`select_for_update` is a no-op): the
same tests run on it too, serialised, and check the same outcomes for whichever order
the requests are served in; they skip nothing.

What a borrower and the lenders would notice is checked, to the fen: the borrower's
available balance, the lenders' balances, the receipts, the installments, the
repayments as recorded, the card debits, and, after the provider settled everything,
the ledger balanced and equal to the provider. The app's own outbox dispatcher runs
alongside (the `app` fixture), so nothing assumes which of them published an event.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from models.ledger import Journal
from models.loans import Loan, LoanStatus
from models.messaging import Notice
from models.payments import BankCard, Deposit, PaymentInstruction, PendingOperation
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.errors import DomainError
from services.money import ledger, withdrawals
from services.operations import confirmation
from services.payments.provider import WithdrawSpeed
from services.repayments import autodebit, overdue, service
from services.repayments.due import RepayMode
from tests.factories import withdraw_confirmed
from tests.lending import (
    RepayingLoan,
    assert_ledger_matches_provider,
    code_for,
    deposit_by_card,
    member_actor,
    move_clock_to,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

# What the second confirmation of one operation may answer: the code was spent by the
# first (verified in a transaction of its own, before the operation is claimed), or the
# operation was claimed by it.
LOST_SAME_OPERATION = {"CODE_INVALID", "OPERATION_CLOSED"}


# --- what the members see ---------------------------------------------------------------


def _users(repaying: RepayingLoan) -> list[int]:
    return [repaying.borrower.id, *(user.id for user, _phone in repaying.lenders)]


@dataclass(frozen=True)
class Seen:
    """The money every party of the loan can see, and its installments."""

    available: dict[int, int]  # user id -> available balance
    installments: dict[int, str]  # number -> status
    receipts: int
    journals: int  # every repayment's journals

    @classmethod
    async def of(cls, repaying: RepayingLoan) -> Seen:
        rows = await LoanInstallment.filter(loan_id=repaying.loan.id).order_by("number")
        return cls(
            available={
                user_id: (await ledger.member_balances(user_id))["available"]
                for user_id in _users(repaying)
            },
            installments={row.number: str(row.status) for row in rows},
            receipts=await Receipt.filter(loan_id=repaying.loan.id).count(),
            journals=await Journal.filter(idempotency_key__startswith="repayment:").count(),
        )


async def _ask(repaying: RepayingLoan) -> tuple[Repayment, str]:
    """The borrower asks to repay the next installment: the repayment and the SMS code
    bound to it."""
    asked = await service.repay(
        actor=member_actor(repaying.borrower.id),
        loan_id=repaying.loan.id,
        mode=RepayMode.NEXT,
        idempotency_key=f"repay-{uuid.uuid4().hex[:16]}",
    )
    return asked, await code_for(repaying.borrower_phone)


async def _confirm(asked: Repayment, code: str) -> Repayment | DomainError:
    """Confirm with the code: the repayment as confirmed, or the error answered."""
    try:
        confirmed = await confirmation.confirm_operation(
            actor=member_actor(asked.borrower_id), operation_id=str(asked.operation_id), code=code
        )
    except DomainError as error:
        return error
    assert isinstance(confirmed.target, Repayment)
    return confirmed.target


async def _at_once(*requests: Awaitable[Any]) -> list[Any]:
    """Start every request together (no head start for the first one written)."""
    gate = asyncio.Event()

    async def held(request: Awaitable[Any]) -> Any:
        await gate.wait()
        return await request

    tasks = [asyncio.ensure_future(held(request)) for request in requests]
    await asyncio.sleep(0)
    gate.set()
    return await asyncio.gather(*tasks)


async def _assert_paid_once(
    repaying: RepayingLoan, before: Seen, paid: Repayment, *, topped_up: int = 0
) -> None:
    """`paid` is the one repayment of the race: the borrower's balance (plus what the
    card `topped_up`) fell by its amount once, each lender's rose by what their receipts
    say once, one receipt per claim, the installment it paid is PAID and no other one
    changed, and every movement of it is one journal and one instruction."""
    after = await Seen.of(repaying)
    assert paid.status == RepaymentStatus.DONE
    done = await Repayment.filter(loan_id=repaying.loan.id, status=RepaymentStatus.DONE)
    assert [r.id for r in done if set(r.installments) & set(paid.installments)] == [paid.id]
    borrower = repaying.borrower.id
    assert after.available[borrower] == before.available[borrower] + topped_up - paid.amount_fen
    receipts = await Receipt.filter(repayment_id=paid.id)
    assert len(receipts) == len(repaying.lenders)
    assert after.receipts == before.receipts + len(receipts)
    for lender, _phone in repaying.lenders:
        got = sum(
            r.principal_fen + r.interest_fen + r.penalty_fen
            for r in receipts
            if r.holder_id == lender.id
        )
        assert got > 0
        assert after.available[lender.id] == before.available[lender.id] + got
    [number] = paid.installments
    changed = {n: s for n, s in after.installments.items() if s != before.installments[n]}
    assert changed == {number: InstallmentStatus.PAID}
    journals = await Journal.filter(idempotency_key__startswith=f"repayment:{paid.id}:").count()
    [split] = await PaymentInstruction.filter(business_ref=f"movement:repayment:{paid.id}")
    assert journals == len(split.params["journals"]) > len(repaying.lenders)  # and the fee
    assert after.journals == before.journals + journals
    check = await ledger.check()
    assert check.ok, check


async def _assert_books_match(app: Any, repaying: RepayingLoan) -> None:
    """After the provider settled everything: nothing negative, the ledger balanced and
    equal to the provider for every party."""
    sandbox = app.state.sandbox.sandbox
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, _users(repaying))
    for user_id in _users(repaying):
        assert all(amount >= 0 for amount in (await ledger.member_balances(user_id)).values())


# --- the tests ------------------------------------------------------------------------------


async def test_one_repayment_confirmed_by_two_requests_at_once_pays_once(app, scripted):
    sandbox = app.state.sandbox.sandbox
    repaying = await repaying_loan(scripted, sandbox)
    asked, code = await _ask(repaying)
    before = await Seen.of(repaying)

    outcomes = await _at_once(_confirm(asked, code), _confirm(asked, code))

    [paid] = [o for o in outcomes if isinstance(o, Repayment)]
    [lost] = [o for o in outcomes if isinstance(o, DomainError)]
    assert lost.code in LOST_SAME_OPERATION, lost
    assert paid.id == asked.id
    assert paid.amount_fen == asked.amount_fen
    await _assert_paid_once(repaying, before, paid)
    assert (await PendingOperation.get(id=asked.operation_id)).status == "CONFIRMED"
    notices = Notice.filter(user_id=repaying.borrower.id, title="Repayment received")
    assert await notices.count() == 1
    await _assert_books_match(app, repaying)


async def test_two_repayments_of_one_installment_confirmed_at_once_pay_it_once(app, scripted):
    sandbox = app.state.sandbox.sandbox
    repaying = await repaying_loan(scripted, sandbox)
    first, first_code = await _ask(repaying)
    second, second_code = await _ask(repaying)
    assert first.installments == second.installments == [1]
    assert first.amount_fen == second.amount_fen
    before = await Seen.of(repaying)

    outcomes = await _at_once(_confirm(first, first_code), _confirm(second, second_code))

    [paid] = [o for o in outcomes if isinstance(o, Repayment)]
    [lost] = [o for o in outcomes if isinstance(o, DomainError)]
    assert lost.code == "NOTHING_DUE", lost  # not "the next installment" paid instead
    await _assert_paid_once(repaying, before, paid)
    refused = await Repayment.get(id=({first.id, second.id} - {paid.id}).pop())
    assert (refused.status, refused.refusal) == (RepaymentStatus.REFUSED, lost.code)
    assert await Receipt.filter(repayment_id=refused.id).count() == 0
    await _assert_books_match(app, repaying)


# --- on the due date: the borrower, the auto-debit job and the daily overdue run ------------


@dataclass(frozen=True)
class Round:
    installment: int
    days_late: int  # 1: a day overdue, the daily run ages the loan under its lock
    first: str | None  # who gets a head start: "borrower", "auto_debit" or nobody


ROUNDS = (
    Round(1, 0, None),
    Round(2, 0, "borrower"),
    Round(3, 0, "auto_debit"),
    Round(4, 1, None),
)
HEAD_START = 0.01  # seconds: about one settlement's first queries on PostgreSQL


async def _set_available(user_id: int, target: int) -> None:
    """Bring the member's available balance to `target` (a T0 withdrawal or a card
    deposit, both settled at once in the ledger)."""
    available = (await ledger.member_balances(user_id))["available"]
    fee = withdrawals.withdraw_fee(WithdrawSpeed.T0)
    if available > target + fee:
        card = await BankCard.get(user_id=user_id, status="bound")
        await withdraw_confirmed(user_id, card.id, available - target - fee)
    elif available != target:
        await deposit_by_card(user_id, target - available)
    assert (await ledger.member_balances(user_id))["available"] == target


async def _delayed(request: Awaitable[Any], delay: float) -> Any:
    await asyncio.sleep(delay)
    return await request


async def _card_debits(user_id: int, after_id: int) -> list[int]:
    """The amounts of the card deposits (signed auto-debit) made after `after_id`."""
    rows = await Deposit.filter(user_id=user_id, channel="AUTO_DEBIT", id__gt=after_id)
    assert all(row.status == "PAID" for row in rows)
    return [row.amount for row in rows]


async def _last_id(model: Any) -> int:
    row = await model.all().order_by("-id").first()
    return int(row.id) if row is not None else 0


async def _race_on_the_due_date(repaying: RepayingLoan, step: Round, short_fen: int) -> None:
    """The borrower asks to repay installment `step.installment` on its due date (or
    the day after) and confirms it while the auto-debit job and the daily overdue run
    start; their available balance is `short_fen` short of it, the card covers that
    (on the due date only: the job pays installments on their due date, so a day late
    the balance covers it)."""
    borrower = repaying.borrower.id
    short_fen = 0 if step.days_late else short_fen
    row = await LoanInstallment.get(loan_id=repaying.loan.id, number=step.installment)
    await move_clock_to(row.due_date + timedelta(days=step.days_late))
    asked, code = await _ask(repaying)
    assert asked.installments == [step.installment]
    await _set_available(borrower, asked.amount_fen - short_fen)
    before = await Seen.of(repaying)
    deposits, notices = await _last_id(Deposit), await _last_id(Notice)
    delays = {
        name: HEAD_START if step.first not in (None, name) else 0.0
        for name in ("borrower", "auto_debit", "overdue")
    }

    confirmed, auto_paid, _report = await _at_once(
        _delayed(_confirm(asked, code), delays["borrower"]),
        _delayed(autodebit.auto_debit_due(), delays["auto_debit"]),
        _delayed(overdue.run_daily(), delays["overdue"]),
    )

    [paid] = [
        r
        for r in await Repayment.filter(loan_id=repaying.loan.id, status=RepaymentStatus.DONE)
        if r.installments == [step.installment]
    ]
    if isinstance(confirmed, DomainError):
        refused = {"NOTHING_DUE", "INSUFFICIENT_FUNDS"} if short_fen else {"NOTHING_DUE"}
        assert confirmed.code in refused, confirmed
        assert (paid.kind, auto_paid) == (RepaymentKind.AUTO_DEBIT, 1)
        lost = await Repayment.get(id=asked.id)
        assert (lost.status, lost.refusal) == (RepaymentStatus.REFUSED, confirmed.code)
    else:
        assert (paid.id, auto_paid) == (asked.id, 0)
    assert paid.amount_fen == asked.amount_fen
    assert await _card_debits(borrower, deposits) == ([short_fen] if short_fen else [])
    await _assert_paid_once(repaying, before, paid, topped_up=short_fen)
    assert (await ledger.member_balances(borrower))["available"] == 0
    # The borrower hears of the payment once, and no reminder of it comes after it.
    titles = await Notice.filter(user_id=borrower, id__gt=notices).order_by("id")
    heard = [notice.title for notice in titles if notice.kind == "repayment"]
    assert heard.count("Repayment received") == 1, heard
    assert heard[heard.index("Repayment received") + 1 :] == [], heard


@pytest.mark.parametrize("short_fen", [0, 100_00], ids=["balance-covers-it", "card-tops-up"])
async def test_on_the_due_date_the_borrower_the_auto_debit_and_the_daily_run_pay_once(
    app, scripted, short_fen
):
    sandbox = app.state.sandbox.sandbox
    repaying = await repaying_loan(scripted, sandbox)
    for step in ROUNDS:
        await _race_on_the_due_date(repaying, step, short_fen)
    statuses = (await Seen.of(repaying)).installments
    assert [n for n, s in statuses.items() if s == InstallmentStatus.PAID] == [1, 2, 3, 4]
    assert (await Loan.get(id=repaying.loan.id)).status == LoanStatus.REPAYING
    await _assert_books_match(app, repaying)


async def test_a_repayment_confirmed_after_the_job_listed_the_installment_costs_no_card_debit(
    app, scripted, monkeypatch
):
    """The auto-debit job reads the installments due today, then the borrower's
    confirmation commits, then the job decides whether the card must top up: it must
    see the installment paid, not a balance emptied by that payment."""
    sandbox = app.state.sandbox.sandbox
    repaying = await repaying_loan(scripted, sandbox)
    borrower = repaying.borrower.id
    first = await LoanInstallment.get(loan_id=repaying.loan.id, number=1)
    await move_clock_to(first.due_date)
    asked, code = await _ask(repaying)
    await _set_available(borrower, asked.amount_fen)
    before = await Seen.of(repaying)
    deposits = await _last_id(Deposit)
    listed = autodebit._due_today

    async def the_borrower_confirms_meanwhile(today: date) -> list[LoanInstallment]:
        due = await listed(today)
        assert [row.id for row in due] == [first.id]
        assert isinstance(await _confirm(asked, code), Repayment)
        return due

    monkeypatch.setattr(autodebit, "_due_today", the_borrower_confirms_meanwhile)
    assert await autodebit.auto_debit_due() == 0

    assert await _card_debits(borrower, deposits) == []
    await _assert_paid_once(repaying, before, await Repayment.get(id=asked.id))
    assert not await Repayment.filter(kind=RepaymentKind.AUTO_DEBIT).exists()
    assert (await ledger.member_balances(borrower))["available"] == 0
    await _assert_books_match(app, repaying)
