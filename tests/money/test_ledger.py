"""The ledger: balanced journals, idempotent keys, no member balance below zero."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError

from models.ledger import Journal, LedgerAccount, Posting
from services.money import ledger
from services.money.ledger import BANK, FEE, InsufficientFundsError, LedgerError
from tests.factories import create_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _member_with(amount: int) -> int:
    user, _phone = await create_member()
    await ledger.ensure_member_accounts(user.id)
    if amount:
        await ledger.post(
            key=f"seed:{user.id}",
            kind="deposit_paid",
            entries=[(ledger.available(user.id), amount), (BANK, -amount)],
        )
    return user.id


async def test_a_deposit_journal_moves_money_from_the_bank_to_the_member():
    user = await _member_with(0)
    journal = await ledger.post(
        key="dep:1",
        kind="deposit_paid",
        entries=[(ledger.available(user), 123456), (BANK, -123456)],
    )
    assert await ledger.member_balances(user) == {
        "available": 123456,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert await ledger.balance(BANK) == -123456
    rows = (
        await Posting.filter(journal=journal)
        .order_by("id")
        .values_list("account__code", "amount", "balance_after")
    )
    assert rows == [(ledger.available(user), 123456, 123456), (BANK, -123456, -123456)]
    assert (await ledger.check()).ok


async def test_an_unbalanced_journal_is_refused_and_writes_nothing():
    user = await _member_with(1000)
    with pytest.raises(LedgerError):
        await ledger.post(key="bad", kind="x", entries=[(ledger.available(user), -100), (FEE, 99)])
    assert not await Journal.filter(idempotency_key="bad").exists()
    assert await ledger.balance(ledger.available(user)) == 1000


async def test_overdrawing_a_member_is_refused_and_writes_nothing():
    user = await _member_with(1000)
    postings_before = await Posting.all().count()
    with pytest.raises(InsufficientFundsError):
        await ledger.post(
            key="too-much",
            kind="withdrawal_confirmed",
            entries=[(ledger.available(user), -1001), (ledger.withdrawing(user), 1001)],
        )
    assert await ledger.member_balances(user) == {"available": 1000, "frozen": 0, "withdrawing": 0}
    assert await Posting.all().count() == postings_before


async def test_a_replayed_key_returns_the_first_journal_and_moves_nothing_twice():
    user = await _member_with(5000)
    entries = [(ledger.available(user), -2000), (ledger.frozen(user), 2000)]
    first = await ledger.post(key="bid:7", kind="bid_confirmed", entries=entries)
    again = await ledger.post(key="bid:7", kind="bid_confirmed", entries=entries)
    assert again.id == first.id
    assert await ledger.member_balances(user) == {
        "available": 3000,
        "frozen": 2000,
        "withdrawing": 0,
    }
    with pytest.raises(LedgerError):
        await ledger.post(
            key="bid:7",
            kind="bid_confirmed",
            entries=[(ledger.available(user), -1), (ledger.frozen(user), 1)],
        )


async def test_the_database_refuses_a_negative_member_balance():
    user = await _member_with(10)
    with pytest.raises((IntegrityError, OperationalError)):
        await connections.get("default").execute_query(
            "UPDATE ledger_accounts SET balance = -1 WHERE code = $1"
            if connections.get("default").capabilities.dialect == "postgres"
            else "UPDATE ledger_accounts SET balance = -1 WHERE code = ?",
            [ledger.available(user)],
        )
    assert (await LedgerAccount.get(code=ledger.available(user))).balance == 10


async def test_concurrent_debits_never_overdraw():
    """20 journals of 1.00 race for 10.00: exactly 10 succeed (row locks on PostgreSQL,
    the single-writer lock on SQLite)."""
    user = await _member_with(1000)

    async def spend(index: int) -> bool:
        try:
            await ledger.post(
                key=f"spend:{index}",
                kind="transfer",
                entries=[(ledger.available(user), -100), (FEE, 100)],
            )
        except InsufficientFundsError:
            return False
        return True

    results = await asyncio.gather(*(spend(i) for i in range(20)))
    assert results.count(True) == 10
    assert await ledger.balance(ledger.available(user)) == 0
    assert await ledger.balance(FEE) == 1000
    assert (await ledger.check()).ok


async def test_the_check_never_reports_drift_while_journals_are_being_written():
    """The check reads balances and the sums of postings from one snapshot: journals
    committed while it runs (provider callbacks, other workers) show whole or not at all,
    never as a balance ahead of its postings."""
    user = await _member_with(0)
    done = asyncio.Event()

    async def deposits() -> None:
        for index in range(60):
            await ledger.post(
                key=f"race:{index}",
                kind="deposit_paid",
                entries=[(ledger.available(user), 100), (BANK, -100)],
            )
            await asyncio.sleep(0)
        done.set()

    writer = asyncio.create_task(deposits())
    reports = []
    while not done.is_set():
        reports.append(await ledger.check())
    await writer
    assert len(reports) > 1
    assert [report for report in reports if not report.ok] == []
    assert await ledger.balance(ledger.available(user)) == 6000


async def test_the_check_names_a_balance_that_left_its_postings():
    user = await _member_with(500)
    assert (await ledger.check()).ok
    await LedgerAccount.filter(code=ledger.available(user)).update(balance=501)
    report = await ledger.check()
    assert report.drifted_accounts == [ledger.available(user)]
    assert report.unbalanced_journals == []
    assert not report.ok
