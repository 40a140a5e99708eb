"""Issue 13, found by the simulation with provider faults: the provider must see an
account's movements in the order the ledger wrote them.

A lender's bid freezes money (one instruction), the full loan transfers the frozen money
to the borrower (a later one). The freeze's call met a 503 (UNKNOWN, retried later) and
the transfer, sent in the same pass, was refused "insufficient frozen balance": FAILED,
its movement reversed, and part of the loan was never paid out. Now an instruction
waits while an earlier one on one of its accounts has not been taken by the provider.
"""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.payments import InstructionStatus, PaymentInstruction
from services.money import ledger, movements
from services.payments import gateway, instructions
from services.payments.provider import ProviderUnavailableError
from tests.factories import create_funded_member
from tests.lending import assert_ledger_matches_provider, settle_everything
from tests.statements import recording_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FirstFreezeUnavailable:
    """The real provider, except that its first freeze call answers 503."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def freeze(self, **kwargs: Any) -> Any:
        self.calls.append("freeze")
        if self.calls.count("freeze") == 1:
            raise ProviderUnavailableError("503 (injected)")
        return await self.real.freeze(**kwargs)

    async def transfer(self, **kwargs: Any) -> Any:
        self.calls.append("transfer")
        return await self.real.transfer(**kwargs)


async def _freeze_then_pay(
    lender_id: int, borrower_id: int, suffix: str
) -> tuple[PaymentInstruction, PaymentInstruction]:
    """A bid's freeze and the loan's transfer of the frozen money, in one transaction."""
    async with in_transaction():
        frozen = await movements.freeze(user_id=lender_id, amount=30_000, reference=f"bid-{suffix}")
        paid = await movements.transfer(
            from_user_id=lender_id,
            to_user_id=borrower_id,
            amount=30_000,
            reference=f"disburse-{suffix}",
            kind="disbursement",
            from_frozen=True,
        )
    return frozen, paid


async def test_a_transfer_of_frozen_money_waits_for_the_freeze_the_provider_missed(app):
    sandbox = app.state.sandbox.sandbox
    lender, _phone, _card = await create_funded_member(50_000, name="Lender")
    borrower, _phone, _card = await create_funded_member(0, name="Borrower")
    flaky = FirstFreezeUnavailable(gateway.get_provider())
    gateway.set_provider(flaky)
    try:
        frozen, paid = await _freeze_then_pay(lender.id, borrower.id, "1")
        await instructions.send_due()

        # The freeze met the 503; the transfer was not sent before it.
        assert flaky.calls == ["freeze"]
        await frozen.refresh_from_db()
        await paid.refresh_from_db()
        assert frozen.status == InstructionStatus.UNKNOWN
        assert (paid.status, paid.attempts) == (InstructionStatus.PENDING, 0)

        await settle_everything(sandbox)
    finally:
        gateway.set_provider(flaky.real)

    assert flaky.calls == ["freeze", "freeze", "transfer"]
    statuses = await PaymentInstruction.filter(id__in=[frozen.id, paid.id]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {InstructionStatus.SUCCEEDED}
    assert await ledger.member_balances(lender.id) == {
        "available": 20_000,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert (await ledger.member_balances(borrower.id))["available"] == 30_000
    await assert_ledger_matches_provider(sandbox, [lender.id, borrower.id])


async def test_a_backlog_of_one_account_goes_out_in_order_in_one_wake_of_the_dispatcher(app):
    """120 transfers from one account (more than two batches): one wake of the
    dispatcher sends them all, in the order written, each after the one before was
    taken; the account's order is read once a pass, not once an instruction."""
    payer, _phone, _card = await create_funded_member(120 * 100, name="Payer")
    payees = [await create_funded_member(0, name=f"Payee {n}") for n in range(3)]
    calls: list[str] = []
    real = gateway.get_provider()

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        async def transfer(self, **kwargs: Any) -> Any:
            calls.append(kwargs["request_id"])
            return await real.transfer(**kwargs)

    gateway.set_provider(Recording())
    try:
        async with in_transaction():
            for n in range(120):
                await movements.transfer(
                    from_user_id=payer.id,
                    to_user_id=payees[n % 3][0].id,
                    amount=100,
                    reference=f"backlog-{n}",
                )
        await instructions._send_all()
    finally:
        gateway.set_provider(real)
    written = await PaymentInstruction.filter(
        business_ref__startswith="movement:backlog-"
    ).order_by("id")
    assert calls == [instruction.request_id for instruction in written]
    assert all(instruction.status != InstructionStatus.PENDING for instruction in written)
    await settle_everything(app.state.sandbox.sandbox)
    await assert_ledger_matches_provider(
        app.state.sandbox.sandbox, [payer.id, *(payee.id for payee, _p, _c in payees)]
    )


async def test_an_open_instructions_parameters_are_read_once_however_many_passes_wait(
    quiet_app,
):
    """The dispatcher's passes read the open instructions on every pass; each one's
    accounts are decoded from its parameters once (a day's SPLITs carry a part per
    holder), and the waits are the same on the second pass as on the first."""
    lender, _phone, _card = await create_funded_member(50_000, name="Lender")
    borrower, _phone, _card = await create_funded_member(0, name="Borrower")
    frozen, paid = await _freeze_then_pay(lender.id, borrower.id, "2")
    first = await instructions._Holds.read(paid.id)
    with recording_statements() as again:
        second = await instructions._Holds.read(paid.id)
    assert len(again) == 1  # the open instructions; no parameters decoded again
    assert first.waits(paid.id)
    assert second.waits(paid.id)
    assert not second.waits(frozen.id)
    assert instructions._MOVES[paid.request_id][0] == instructions._MOVES[frozen.request_id][0]
