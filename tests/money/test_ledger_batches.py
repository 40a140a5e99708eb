"""Journals written together (`ledger.post_many`): the same
postings, running balances and checks as one `post` after another, all or nothing, in a
number of statements that does not grow with the journals; and a repayment settled to
six holders costs the statements of one settled to two."""

from __future__ import annotations

from typing import Any

import pytest

from models.ledger import Journal, Posting
from models.payments import PaymentInstruction
from models.repayments import Receipt, Repayment
from services.money import ledger
from services.money.ledger import FEE, InsufficientFundsError, JournalLines, LedgerError
from services.repayments.due import RepayMode
from tests.lending import repay_confirmed, repaying_loan, settle_everything
from tests.money.test_ledger import _member_with
from tests.statements import recording_statements

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]


def _pay(payer: int, payees: list[int], amount: int, prefix: str) -> list[JournalLines]:
    return [
        JournalLines(
            f"{prefix}:{payee}",
            "repayment",
            [(ledger.available(payer), -amount), (ledger.available(payee), amount)],
        )
        for payee in payees
    ]


async def test_journals_written_together_are_those_written_one_after_another():
    payer = await _member_with(1_000)
    payees = [await _member_with(0) for _ in range(2)]
    journals = [
        *_pay(payer, payees, 300, "together"),
        JournalLines("together:fee", "fee", [(ledger.available(payer), -100), (FEE, 100)]),
    ]
    fee_before = await ledger.balance(FEE)
    written = await ledger.post_many(journals)
    assert [journal.idempotency_key for journal in written] == [j.key for j in journals]
    payer_rows = (
        await Posting.filter(
            account__code=ledger.available(payer), journal_id__in=[j.id for j in written]
        )
        .order_by("id")
        .values_list("amount", "balance_after")
    )
    assert payer_rows == [(-300, 700), (-300, 400), (-100, 300)]
    assert [await ledger.balance(ledger.available(p)) for p in payees] == [300, 300]
    assert await ledger.balance(ledger.available(payer)) == 300
    assert await ledger.balance(FEE) == fee_before + 100
    assert (await ledger.check()).ok


async def test_an_overdraft_anywhere_in_the_sequence_writes_none_of_them():
    payer = await _member_with(500)
    payees = [await _member_with(0) for _ in range(2)]
    with pytest.raises(InsufficientFundsError):
        await ledger.post_many(_pay(payer, payees, 300, "short"))
    assert not await Journal.filter(idempotency_key__startswith="short:").exists()
    assert await ledger.balance(ledger.available(payer)) == 500
    assert [await ledger.balance(ledger.available(p)) for p in payees] == [0, 0]


async def test_written_again_the_journals_move_nothing_twice_and_the_new_ones_are_added():
    payer = await _member_with(1_000)
    payees = [await _member_with(0) for _ in range(3)]
    first = await ledger.post_many(_pay(payer, payees[:2], 100, "again"))
    again = await ledger.post_many(_pay(payer, payees, 100, "again"))
    assert [j.id for j in again[:2]] == [j.id for j in first]
    assert await ledger.balance(ledger.available(payer)) == 700
    assert [await ledger.balance(ledger.available(p)) for p in payees] == [100, 100, 100]
    with pytest.raises(LedgerError):  # a key used again for other postings
        await ledger.post_many(_pay(payer, payees[:1], 999, "again"))
    with pytest.raises(LedgerError):
        await ledger.post_many(
            [*_pay(payer, payees[:1], 1, "twice"), *_pay(payer, payees[:1], 1, "twice")]
        )


async def test_the_statements_do_not_grow_with_the_journals():
    payer = await _member_with(100_000)
    few = [await _member_with(0) for _ in range(2)]
    many = [await _member_with(0) for _ in range(12)]
    with recording_statements() as for_few:
        await ledger.post_many(_pay(payer, few, 10, "few"))
    with recording_statements() as for_many:
        await ledger.post_many(_pay(payer, many, 10, "many"))
    assert len(for_many) == len(for_few)


async def _settled_first_installment(app: Any, scripted: Any, holders: int) -> int:
    """Statements of the borrower's confirmed repayment of a loan with `holders` holders."""
    sandbox = app.state.sandbox.sandbox
    repaying = await repaying_loan(scripted, sandbox, shares=[120_000] * holders)
    await settle_everything(sandbox)
    with recording_statements() as seen:
        await repay_confirmed(
            repaying.borrower.id, repaying.borrower_phone, repaying.loan.id, RepayMode.NEXT
        )
    receipts = await Receipt.filter(loan_id=repaying.loan.id, to_reserve=False).count()
    assert receipts == holders
    [paid] = await Repayment.filter(loan_id=repaying.loan.id)
    [split] = await PaymentInstruction.filter(business_ref=f"movement:repayment:{paid.id}")
    holder_parts = [j for j in split.params["journals"] if ":holder:" in j["key"]]
    assert len(holder_parts) == holders
    await settle_everything(sandbox)
    assert (await ledger.check()).ok
    return len(seen)


async def test_a_repayment_to_six_holders_costs_the_statements_of_one_to_two(app, scripted):
    two = await _settled_first_installment(app, scripted, 2)
    six = await _settled_first_installment(app, scripted, 6)
    assert six == two


async def test_many_journals_without_an_answer_are_written_once_with_their_running_balances():
    """A day's batch: more journals than one SQL text should list (found by an array
    parameter on PostgreSQL), written with `answer=False` (one statement there)."""
    payer = await _member_with(100_000)
    payees = [await _member_with(0) for _ in range(3)]
    journals = [
        JournalLines(
            f"many:{n}",
            "repayment",
            [(ledger.available(payer), -10), (ledger.available(payees[n % 3]), 10)],
        )
        for n in range(150)
    ]
    assert await ledger.post_many(journals[:60], answer=False) == []
    assert await ledger.post_many(journals, answer=False) == []  # 60 known, 90 new
    payer_rows = (
        await Posting.filter(account__code=ledger.available(payer))
        .order_by("id")
        .values_list("amount", "balance_after")
    )
    assert payer_rows[-150:] == [(-10, 100_000 - 10 * n) for n in range(1, 151)]
    assert await Journal.filter(idempotency_key__startswith="many:").count() == 150
    assert [await ledger.balance(ledger.available(p)) for p in payees] == [500, 500, 500]
    with pytest.raises(LedgerError):  # one of the 150 keys again, other postings
        await ledger.post_many(
            [*journals[:149], JournalLines("many:149", "repayment", [(FEE, -1), (FEE, 1)])],
            answer=False,
        )
    assert (await ledger.check()).ok
