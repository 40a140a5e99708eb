"""One source paying several targets as one SPLIT at the provider (`movements.split`, a
repayment's settlement): each target gets its part to the fen, once; a refused split is
undone in the ledger journal by journal; reconciliation reads the split's statement
line with its parts."""

from __future__ import annotations

import uuid

import pytest
from tortoise.transactions import in_transaction

from models.finance import ReconciliationBreak
from models.payments import InstructionStatus, PaymentInstruction, ProviderAccount
from services import reconciliation
from services.money import ledger, movements
from services.payments import instructions
from services.payments.gateway import get_provider
from services.payments.provider import ProviderStatus, SplitPart, TransactionKind
from services.platform import clock
from tests.factories import create_funded_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _account(owner: str) -> str:
    account_id = (await ProviderAccount.get(owner_code=owner)).provider_account_id
    assert account_id
    return account_id


async def _available_at_provider(app, owner: str) -> int:
    balance = await app.state.sandbox.sandbox.balance(await _account(owner))
    assert balance is not None
    return balance.available_fen


def _moves(payer: int, first: int, second: int, tag: str) -> list[movements.Transfer]:
    return [
        movements.Transfer(
            from_user_id=payer, to_user_id=first, amount=12_345, reference=f"{tag}:a"
        ),
        movements.Transfer(
            from_user_id=payer, to_user_id=second, amount=2_346, reference=f"{tag}:b"
        ),
        movements.Transfer(
            from_user_id=payer, to_platform=ledger.FEE, amount=100, reference=f"{tag}:fee"
        ),
        movements.Transfer(
            from_user_id=payer, to_platform=ledger.RISK_RESERVE, amount=50, reference=f"{tag}:r1"
        ),
        movements.Transfer(
            from_user_id=payer, to_platform=ledger.RISK_RESERVE, amount=7, reference=f"{tag}:r2"
        ),
    ]


async def _split(payer: int, first: int, second: int) -> PaymentInstruction:
    tag = f"test:split:{uuid.uuid4().hex[:8]}"
    async with in_transaction():
        await movements.split(_moves(payer, first, second, tag), reference=tag)
    return await PaymentInstruction.get(business_ref=f"movement:{tag}")


async def test_a_split_pays_each_target_its_part_once_and_reconciles(app):
    payer, _p, _c = await create_funded_member(100_000, name="Payer")
    first, _p, _c = await create_funded_member(0, name="First")
    second, _p, _c = await create_funded_member(0, name="Second")
    fee_before = await _available_at_provider(app, ledger.FEE)
    reserve_before = await _available_at_provider(app, ledger.RISK_RESERVE)

    split = await _split(payer.id, first.id, second.id)

    # One instruction; the two parts to the reserve are one credit there.
    assert (split.kind, split.amount) == (TransactionKind.SPLIT, 14_848)
    assert sorted(part["amount"] for part in split.params["parts"]) == [57, 100, 2_346, 12_345]
    assert len(split.params["journals"]) == 5
    await instructions.send_due()
    assert (await PaymentInstruction.get(id=split.id)).status == InstructionStatus.SUCCEEDED
    for owner, expected in (
        (f"m:{payer.id}", 100_000 - 14_848),
        (f"m:{first.id}", 12_345),
        (f"m:{second.id}", 2_346),
        (ledger.FEE, fee_before + 100),
        (ledger.RISK_RESERVE, reserve_before + 57),
    ):
        assert await _available_at_provider(app, owner) == expected, owner
    assert await ledger.balance(ledger.available(payer.id)) == 100_000 - 14_848
    assert await ledger.balance(ledger.available(first.id)) == 12_345
    assert await ledger.balance(ledger.available(second.id)) == 2_346

    # Sent again with the same request id (a retry after a lost answer): moved once.
    again = await get_provider().split(
        request_id=split.request_id,
        from_account_id=split.params["from_account_id"],
        parts=[
            SplitPart(to_account_id=part["to_account_id"], amount_fen=part["amount"])
            for part in split.params["parts"]
        ],
    )
    assert (again.status, again.amount_fen) == (ProviderStatus.SUCCEEDED, 14_848)
    assert await _available_at_provider(app, f"m:{first.id}") == 12_345
    assert await _available_at_provider(app, f"m:{payer.id}") == 100_000 - 14_848

    run = await reconciliation.run_daily(day=await clock.today())
    assert await ReconciliationBreak.all().count() == 0
    assert run.breaks_found == 0
    assert (await ledger.check()).ok


async def test_a_split_the_provider_refuses_is_undone_journal_by_journal(app):
    payer, _p, _c = await create_funded_member(20_000, name="Payer")
    first, _p, _c = await create_funded_member(0, name="First")
    second, _p, _c = await create_funded_member(0, name="Second")
    # The provider holds less than the ledger believes (money taken there behind the
    # platform's back): the split is refused whole.
    await get_provider().transfer(
        request_id=f"rogue-{uuid.uuid4().hex}",
        from_account_id=await _account(f"m:{payer.id}"),
        to_account_id=await _account(ledger.FEE),
        amount_fen=10_000,
    )

    split = await _split(payer.id, first.id, second.id)
    assert await ledger.balance(ledger.available(first.id)) == 12_345  # posted, in flight
    await instructions.send_due()

    assert (await PaymentInstruction.get(id=split.id)).status == InstructionStatus.FAILED
    assert await ledger.balance(ledger.available(payer.id)) == 20_000
    assert await ledger.balance(ledger.available(first.id)) == 0
    assert await ledger.balance(ledger.available(second.id)) == 0
    assert await _available_at_provider(app, f"m:{payer.id}") == 10_000
    assert await _available_at_provider(app, f"m:{first.id}") == 0
    assert (await ledger.check()).ok


async def test_a_split_the_provider_never_made_is_missing_at_provider(app):
    payer, _p, _c = await create_funded_member(50_000, name="Payer")
    first, _p, _c = await create_funded_member(0, name="First")
    second, _p, _c = await create_funded_member(0, name="Second")
    split = await _split(payer.id, first.id, second.id)
    # The platform records success for a split the provider never received.
    await instructions.apply(
        split.request_id,
        instructions.Outcome(ProviderStatus.SUCCEEDED, amount_fen=split.amount),
    )

    await reconciliation.run_daily(day=await clock.today())

    found = await ReconciliationBreak.all()
    assert {(str(row.kind), row.request_id) for row in found} == {
        ("MISSING_AT_PROVIDER", split.request_id)
    }
    assert {row.platform_amount for row in found} == {split.amount}
