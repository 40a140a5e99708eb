"""Property test of the money core (hypothesis): random sequences of deposits,
withdrawals, freezes, unfreezes and transfers, with provider faults injected (errors,
timeouts, lost, duplicated callbacks). After every step every journal balances and no
member balance is negative; once the faults stop and the provider has settled, the
platform's balances equal the provider's, account by account, to the fen."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from models.messaging import OutgoingMessage
from models.payments import InstructionStatus, PaymentInstruction, ProviderAccount
from services.errors import DomainError
from services.identity.permissions import Actor
from services.money import accounts, ledger, movements, withdrawals
from services.operations import confirmation
from services.payments import instructions
from services.payments.provider import DepositChannel, WithdrawSpeed
from services.payments.sandbox.faults import FaultConfig
from services.platform.clock import system_now, today
from tests.factories import create_member, new_id_number

pytestmark = pytest.mark.asyncio(loop_scope="session")
CARD = "6222020200112233446"


async def _member(name: str) -> tuple[Actor, int]:
    user, _phone = await create_member(name=name)
    actor = Actor(
        user_id=user.id, kind="member", roles=frozenset({"member"}), label=f"member:{user.id}"
    )
    await accounts.open_account(actor=actor, real_name=name, id_number=new_id_number())
    card = await accounts.bind_card(actor=actor, card_number=CARD)
    assert card.status == "bound"
    return actor, card.id


async def _code_for(user_id: int) -> str:
    message = await OutgoingMessage.all().order_by("-id").first()
    assert message is not None
    return re.search(r"\b(\d{6})\b", message.body).group(1)  # type: ignore[union-attr]


async def _invariants() -> None:
    report = await ledger.check()
    assert report.ok, report


async def _settle_everything(sandbox: Any) -> None:
    await sandbox.set_faults(FaultConfig())
    for _ in range(30):
        await sandbox.redeliver_pending()
        await PaymentInstruction.filter(
            status__in=[
                InstructionStatus.PENDING,
                InstructionStatus.UNKNOWN,
                InstructionStatus.SENT,
            ]
        ).update(next_attempt_at=system_now())
        await instructions.send_due()
        await sandbox.settle(await today())
        await sandbox.drain()
        if not await instructions.pending_count():
            return
    raise AssertionError("instructions still open after the provider settled")


async def _provider_balance(sandbox: Any, owner: str) -> tuple[int, int]:
    account = await ProviderAccount.get(owner_code=owner)
    balance = await sandbox.balance(account.provider_account_id)
    return balance.available_fen, balance.frozen_fen


AMOUNT = st.integers(min_value=1, max_value=300_000)
STEP = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 1), AMOUNT),
    st.tuples(st.just("withdraw"), st.integers(0, 1), AMOUNT, st.sampled_from(["T0", "REALTIME"])),
    st.tuples(st.just("freeze"), st.integers(0, 1), AMOUNT),
    st.tuples(st.just("unfreeze"), st.integers(0, 1), AMOUNT),
    st.tuples(st.just("transfer"), st.integers(0, 1), AMOUNT, st.booleans()),
    st.tuples(
        st.just("faults"),
        st.sampled_from([0.0, 0.3]),
        st.sampled_from([0.0, 0.3]),
        st.sampled_from([0.0, 0.5]),
        st.sampled_from([0.0, 0.5]),
    ),
    st.tuples(st.just("dispatch")),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=3, max_size=14))
async def test_random_money_sequences_keep_ledger_and_provider_equal(app, steps):
    sandbox = app.state.sandbox.sandbox
    await sandbox.set_faults(FaultConfig())
    members = [await _member("Alpha Member"), await _member("Beta Member")]
    fee_before = await ledger.balance(ledger.FEE)
    for step in steps:
        name = step[0]
        try:
            if name == "deposit":
                actor, card_id = members[step[1]]
                await accounts.deposit(
                    actor=actor,
                    amount=step[2],
                    channel=DepositChannel.AUTO_DEBIT,
                    card_id=card_id,
                    idempotency_key=uuid.uuid4().hex,
                )
            elif name == "withdraw":
                actor, card_id = members[step[1]]
                operation = await withdrawals.withdraw(
                    actor=actor,
                    amount=step[2],
                    speed=WithdrawSpeed(step[3]),
                    card_id=card_id,
                    idempotency_key=uuid.uuid4().hex,
                )
                assert actor.user_id is not None
                await confirmation.confirm_operation(
                    actor=actor, operation_id=str(operation.id), code=await _code_for(actor.user_id)
                )
            elif name in ("freeze", "unfreeze", "transfer"):
                actor, _card = members[step[1]]
                assert actor.user_id is not None
                async with in_transaction():
                    if name == "freeze":
                        await movements.freeze(
                            user_id=actor.user_id, amount=step[2], reference=uuid.uuid4().hex
                        )
                    elif name == "unfreeze":
                        await movements.unfreeze(
                            user_id=actor.user_id, amount=step[2], reference=uuid.uuid4().hex
                        )
                    else:
                        other = members[1 - step[1]][0]
                        await movements.transfer(
                            from_user_id=actor.user_id,
                            to_user_id=other.user_id,
                            amount=step[2],
                            from_frozen=step[3],
                            reference=uuid.uuid4().hex,
                        )
                await instructions.send_due()
            elif name == "faults":
                await sandbox.set_faults(
                    FaultConfig(
                        error_rate=step[1],
                        timeout_rate=step[2],
                        drop_callback_rate=step[3],
                        duplicate_callback_rate=step[4],
                    )
                )
            else:
                await instructions.send_due()
        except DomainError as error:
            # Expected refusals (not enough money): nothing written, checked just below.
            refused = error.code
        else:
            refused = None
        assert refused in (None, "INSUFFICIENT_FUNDS"), refused
        await _invariants()

    await _settle_everything(sandbox)
    await _invariants()
    for actor, _card in members:
        assert actor.user_id is not None
        balances = await ledger.member_balances(actor.user_id)
        assert balances["withdrawing"] == 0
        assert await _provider_balance(sandbox, f"m:{actor.user_id}") == (
            balances["available"],
            balances["frozen"],
        )
    fee_provider, _ = await _provider_balance(sandbox, ledger.FEE)
    assert fee_provider == await ledger.balance(ledger.FEE)
    assert await ledger.balance(ledger.FEE) >= fee_before
