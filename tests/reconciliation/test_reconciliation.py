"""M4.6: reconciliation against the sandbox provider, per transaction and daily (statement
lines and balances). Every difference is exactly one break; re-runs add none."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from tortoise.transactions import in_transaction

from models.finance import (
    BreakState,
    InstructionOutcome,
    ReconciliationBreak,
    ReconciliationRun,
    RunStatus,
)
from models.payments import Deposit, InstructionStatus, PaymentInstruction, ProviderAccount
from services import jobs, reconciliation
from services.errors import InvalidInputError
from services.identity.permissions import Actor
from services.money import accounts, ledger
from services.payments import instructions
from services.payments.gateway import get_provider
from services.payments.instructions import Outcome
from services.payments.provider import (
    DepositChannel,
    ProviderStatus,
    TransactionKind,
)
from services.payments.sandbox.faults import FaultConfig
from services.platform import clock
from tests.factories import create_funded_member, withdraw_confirmed

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _provider_account(owner: str) -> str:
    account_id = (await ProviderAccount.get(owner_code=owner)).provider_account_id
    assert account_id
    return account_id


async def _breaks() -> list[tuple[str, str, str, int | None, int | None]]:
    rows = await ReconciliationBreak.all().order_by("id")
    return [
        (str(row.kind), row.request_id, row.account, row.platform_amount, row.provider_amount)
        for row in rows
    ]


async def _deposit_request_id(user_id: int) -> str:
    return (await Deposit.filter(user_id=user_id).order_by("-id").first()).request_id


async def test_a_clean_day_has_no_breaks_even_with_a_withdrawal_in_flight(app):
    user, _phone, card_id = await create_funded_member(100000)
    _other, _phone, _card = await create_funded_member(2500, name="Other Member")
    await withdraw_confirmed(user.id, card_id, 30000, "T0")  # fee 1.00, pending settlement
    today = await clock.today()

    # The withdrawal is accepted (the provider took it from available) but not settled:
    # the ledger keeps it in `withdrawing`. In flight, so no break.
    first = await reconciliation.run_daily(day=today)

    assert first.status == RunStatus.COMPLETED
    assert await _breaks() == []
    # Two auto-debit deposits and the withdrawal fee transfer settled today.
    assert (first.statement_lines, first.matched, first.breaks_found) == (3, 3, 0)
    assert first.accounts_checked == 6  # two members, four platform accounts

    await app.state.sandbox.sandbox.settle(today)
    second = await reconciliation.run_daily(day=today)

    assert (second.statement_lines, second.matched, second.breaks_found) == (4, 4, 0)
    assert await _breaks() == []
    assert await ledger.member_balances(user.id) == {
        "available": 100000 - 30000 - 100,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert (await ledger.check()).ok


async def test_an_altered_statement_line_is_exactly_one_amount_mismatch(app):
    user, _phone, _card = await create_funded_member(100000)
    request_id = await _deposit_request_id(user.id)
    await app.state.sandbox.sandbox.set_faults(FaultConfig(alter_statement={request_id: 99999}))
    today = await clock.today()

    run = await reconciliation.run_daily(day=today)

    # The file misreports the amount; the balances show 1000.00 moved, as in the ledger.
    assert await _breaks() == [
        ("AMOUNT_MISMATCH", request_id, ledger.available(user.id), 100000, 99999)
    ]
    assert (run.statement_lines, run.matched, run.breaks_found, run.breaks_known) == (1, 0, 1, 0)
    found = await ReconciliationBreak.get(request_id=request_id)
    assert (found.state, found.run_id, found.day) == (BreakState.OPEN, run.id, today)

    again = await reconciliation.run_daily(day=today)

    assert len(await _breaks()) == 1
    assert (again.breaks_found, again.breaks_known) == (0, 1)
    assert await ReconciliationRun.filter(day=today).count() == 2


async def test_a_movement_the_platform_never_recorded_is_missing_at_platform(app):
    user, _phone, _card = await create_funded_member(100000)
    member_account = await _provider_account(f"m:{user.id}")
    fee_account = await _provider_account(ledger.FEE)
    rogue = f"rogue-{uuid.uuid4().hex}"
    moved = await get_provider().transfer(
        request_id=rogue, from_account_id=member_account, to_account_id=fee_account, amount_fen=777
    )
    assert moved.status == ProviderStatus.SUCCEEDED
    today = await clock.today()

    run = await reconciliation.run_daily(day=today)

    # One break: the member's and the fee account's balances differ by exactly this
    # movement, which the open break explains.
    assert await _breaks() == [("MISSING_AT_PLATFORM", rogue, ledger.available(user.id), None, 777)]
    assert run.breaks_found == 1
    await reconciliation.run_daily(day=today)
    assert len(await _breaks()) == 1


async def test_a_movement_the_provider_never_made_is_missing_at_provider(app):
    user, _phone, _card = await create_funded_member(50000)
    # The platform wrote and "settled" a transfer the provider never received.
    async with in_transaction():
        await ledger.post(
            key="test:phantom",
            kind="transfer",
            entries=[(ledger.available(user.id), -300), (ledger.FEE, 300)],
        )
        phantom = await instructions.create(
            kind=TransactionKind.TRANSFER,
            business_ref="test:phantom",
            amount=300,
            params={
                "from_account_id": await _provider_account(f"m:{user.id}"),
                "to_account_id": await _provider_account(ledger.FEE),
                "from_frozen": False,
            },
        )
    await instructions.apply(phantom.request_id, Outcome(ProviderStatus.SUCCEEDED, amount_fen=300))

    await reconciliation.run_daily(day=await clock.today())

    assert await _breaks() == [
        ("MISSING_AT_PROVIDER", phantom.request_id, ledger.available(user.id), 300, None)
    ]


async def test_success_at_the_provider_and_failure_here_is_a_status_mismatch(app):
    user, _phone, _card = await create_funded_member(50000)
    async with in_transaction():
        instruction = await instructions.create(
            kind=TransactionKind.TRANSFER,
            business_ref="test:split",
            amount=200,
            params={
                "from_account_id": await _provider_account(f"m:{user.id}"),
                "to_account_id": await _provider_account(ledger.FEE),
                "from_frozen": False,
            },
        )
    # The provider did it, but the platform recorded a failure (say, a forged answer).
    await get_provider().transfer(
        request_id=instruction.request_id,
        from_account_id=instruction.params["from_account_id"],
        to_account_id=instruction.params["to_account_id"],
        amount_fen=200,
    )
    await instructions.apply(instruction.request_id, Outcome(ProviderStatus.FAILED))

    await reconciliation.run_daily(day=await clock.today())

    assert await _breaks() == [
        ("STATUS_MISMATCH", instruction.request_id, ledger.available(user.id), 0, 200)
    ]


async def test_a_lost_callback_is_found_again_by_the_daily_run(app):
    user, _phone, _card = await create_funded_member()
    actor = Actor(user_id=user.id, kind="member")
    await app.state.sandbox.sandbox.set_faults(FaultConfig(drop_callback_rate=1.0))
    row = await accounts.deposit(
        actor=actor, amount=12345, channel=DepositChannel.GATEWAY, idempotency_key="gw-0000001"
    )
    await app.state.sandbox.sandbox.bank_pay(row.request_id)
    assert (await Deposit.get(id=row.id)).status == "PENDING"  # the callback never came

    run = await reconciliation.run_daily(day=await clock.today())

    assert (await Deposit.get(id=row.id)).status == "PAID"
    assert await ledger.balance(ledger.available(user.id)) == 12345
    assert (run.matched, run.breaks_found) == (1, 0)
    assert await _breaks() == []


async def test_a_pending_deposit_is_in_flight_not_a_break(app):
    user, _phone, _card = await create_funded_member()
    actor = Actor(user_id=user.id, kind="member")
    await accounts.deposit(
        actor=actor, amount=5000, channel=DepositChannel.POS, idempotency_key="pos-0000001"
    )

    run = await reconciliation.run_daily(day=await clock.today())

    assert run.breaks_found == 0
    assert await _breaks() == []


async def test_an_outcome_with_another_amount_is_a_break_at_once(app):
    user, _phone, _card = await create_funded_member()
    actor = Actor(user_id=user.id, kind="member")
    row = await accounts.deposit(
        actor=actor, amount=50000, channel=DepositChannel.GATEWAY, idempotency_key="gw-0000002"
    )

    # The provider's answer (call, callback or query) says 499.00 arrived, not 500.00.
    await instructions.apply(row.request_id, Outcome(ProviderStatus.SUCCEEDED, amount_fen=49900))

    assert await _breaks() == [
        ("AMOUNT_MISMATCH", row.request_id, ledger.available(user.id), 50000, 49900)
    ]
    found = await ReconciliationBreak.get(request_id=row.request_id)
    assert found.run_id is None
    outcome = await InstructionOutcome.get(request_id=row.request_id)
    assert (outcome.platform_amount, outcome.provider_amount) == (50000, 49900)
    # Repeated outcomes change nothing, and neither does a later provider answer.
    await instructions.apply(row.request_id, Outcome(ProviderStatus.SUCCEEDED, amount_fen=1))
    assert len(await _breaks()) == 1


async def test_a_ledger_the_provider_does_not_mirror_is_a_balance_mismatch(app):
    user, _phone, _card = await create_funded_member(100000)
    # A journal with no provider movement behind it (a bug, or a hand edit).
    await ledger.post(
        key="test:drift",
        kind="deposit_paid",
        entries=[(ledger.available(user.id), 100), (ledger.BANK, -100)],
    )
    today = await clock.today()

    run = await reconciliation.run_daily(day=today)

    assert await _breaks() == [("BALANCE_MISMATCH", "", ledger.available(user.id), 100100, 100000)]
    assert run.breaks_found == 1
    again = await reconciliation.run_daily(day=today)
    assert (again.breaks_found, again.breaks_known) == (0, 1)
    assert len(await _breaks()) == 1


async def test_a_day_still_to_come_is_refused_and_writes_nothing(app):
    tomorrow = (await clock.today()).toordinal() + 1

    with pytest.raises(InvalidInputError):
        await reconciliation.run_daily(day=date.fromordinal(tomorrow))
    assert await ReconciliationRun.all().count() == 0


async def test_the_daily_job_reconciles_yesterday_once(app):
    job = jobs.registered()["daily_reconciliation"]
    yesterday = (await clock.today()).toordinal() - 1

    # (The embedded job loop may have run it already as the app started: either way
    # there is exactly one run of yesterday afterwards.)
    first = await job.run()
    second = await job.run()

    assert first in ([], [f"{date.fromordinal(yesterday).isoformat()}:COMPLETED"])
    assert second == []
    runs = await ReconciliationRun.all()
    assert [(run.day.toordinal(), run.status) for run in runs] == [(yesterday, RunStatus.COMPLETED)]


async def test_account_openings_and_card_bindings_are_no_movements(app):
    await create_funded_member()
    # Four platform accounts opened at start-up, then the member's account and card.
    assert (
        await PaymentInstruction.filter(
            status=InstructionStatus.SUCCEEDED, kind__in=["OPEN_ACCOUNT", "BIND_CARD"]
        ).count()
        == 6
    )
    assert await InstructionOutcome.all().count() == 0
    run = await reconciliation.run_daily(day=await clock.today())
    assert (run.statement_lines, run.breaks_found) == (0, 0)


async def test_a_provider_outage_fails_the_run_and_records_nothing(app):
    await create_funded_member(1000)
    await app.state.sandbox.sandbox.set_faults(FaultConfig(error_rate=1.0))

    run = await reconciliation.run_daily(day=await clock.today())

    assert run.status == RunStatus.FAILED
    assert run.error.startswith("provider: provider answered 503")
    assert run.finished_at is not None
    assert await _breaks() == []
