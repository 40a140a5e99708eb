"""A platform process killed with SIGKILL in the middle of a money movement, then
restarted: the movement completes exactly once and reconciliation finds no break.

Each test runs real API processes (uvicorn, as in production) on the test database,
with the sandbox provider embedded in them as usual. The provider's books are an SQLite
file outside the platform, shared by both runs, so they survive the platform's crash
as a real provider's would.

Crashpoints (services/kit/crashpoints.py) are armed by LENDBRIDGE_CRASHPOINT in the first
process only, qualified by the instruction kind (`instruction.after_call:DEPOSIT`), so
the account opening, card binding and the deposit before a withdrawal go through:

- `instruction.after_claim`: the business transaction and its instruction are
  committed and claimed, nothing was sent ("between commit and send");
- `instruction.after_call`: the provider moved the money and answered, the answer was
  never applied ("between send and callback").

The first send happens inside the member's API request, so the request itself dies.
While the first process runs, the provider holds its callbacks (the
`reorder_callbacks` fault: they wait for its redelivery loop, every 5 s, instead of
being sent at once), so a callback cannot race the kill and the crash lands exactly
between send and callback. The hold is lifted before the restart: the restarted
dispatcher re-sends the instruction with the same request id, the provider answers
with its stored record, and the held callback arrives about 5 s later as a duplicate.

Each test then checks, on both sides: one business row, one instruction with one
request id, one journal, one provider transaction, balances equal to the fen, no open
instruction or outbox event, the ledger's invariants, and the day's reconciliation
(the provider's statement against the platform's instructions, balances per account).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.ledger import Journal
from models.messaging import Notice, OutboxEvent
from models.payments import (
    Deposit,
    IdempotencyRecord,
    InstructionStatus,
    PaymentInstruction,
    ProcessedCallback,
    ProviderAccount,
    Withdrawal,
)
from services.kit import crashpoints
from services.kit.settings import Environment, get_settings
from services.money import idempotency, ledger
from services.payments.gateway import set_provider
from services.payments.http_provider import HttpPaymentProvider
from services.payments.provider import ProviderStatus, TransactionKind
from services.payments.sandbox import FaultConfig, Sandbox, create_sandbox_app
from services.platform import clock
from services.platform.clock import system_now
from tests.e2e.processes import (
    dies,
    eventually,
    gql,
    outbox_drained,
    platform_process,
    provider_books,
    refuse_delivery,
)
from tests.factories import PASSWORD, create_member, new_id_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

AFTER_CLAIM = "instruction.after_claim"
AFTER_CALL = "instruction.after_call"
CARD = "6222020200112233446"  # Luhn-valid, generated
NAME = "Crash Test"

LOGIN = """mutation ($phone: String!, $password: String!) {
  login(input: {phone: $phone, password: $password}) {
    __typename ... on AuthPayload { accessToken } ... on LoginError { code } } }"""
OPEN = """mutation ($name: String!, $id: String!) {
  openAccount(input: {realName: $name, idNumber: $id}) {
    __typename ... on AccountOpened { custody { status } } ... on OpenAccountError { code } } }"""
BIND = """mutation ($card: String!) { bindBankCard(input: {cardNumber: $card}) {
  __typename ... on BankCardBound { card { id status } } ... on BindBankCardError { code } } }"""
DEPOSIT = """mutation ($amount: Money!, $key: String!, $card: ID) {
  deposit(input: {amount: $amount, channel: AUTO_DEBIT, cardId: $card, idempotencyKey: $key}) {
    __typename ... on DepositStarted { deposit { id status } } ... on DepositError { code } } }"""
WITHDRAW = """mutation ($amount: Money!, $card: ID!, $key: String!) {
  withdraw(input: {amount: $amount, speed: REALTIME, cardId: $card, idempotencyKey: $key}) {
    __typename ... on ConfirmationRequired { operationId fee } ... on WithdrawError { code } } }"""
CONFIRM = """mutation ($op: ID!, $code: String!) {
  confirmOperation(input: {operationId: $op, code: $code}) {
    __typename ... on OperationConfirmed { withdrawal { id status } }
    ... on ConfirmOperationError { code } } }"""
ACCOUNT = "{ myAccount { available frozen pendingWithdrawal } }"
OUTBOX = "{ devOutbox(first: 1) { body } }"


# --- the provider's books, read with the sandbox's own classes -----------------------------


async def _hold_callbacks(sandbox_file: Path, hold: bool) -> None:
    """With `hold`, the provider keeps every callback for its redelivery loop (every
    5 s) instead of sending it at once; the setting is stored in its books."""
    async with provider_books(sandbox_file) as sandbox:
        await sandbox.set_faults(FaultConfig(reorder_callbacks=hold))


async def _provider_movements(sandbox: Sandbox, account_id: str) -> dict[str, list[str]]:
    """kind -> request ids of every transaction the provider recorded for an account."""
    async with sandbox.store.transaction() as tx:
        rows = await tx.all(
            "SELECT kind, request_id FROM transactions"
            " WHERE account_id = ? OR counter_account_id = ? ORDER BY rowid",
            (account_id, account_id),
        )
    movements: dict[str, list[str]] = {}
    for row in rows:
        movements.setdefault(row["kind"], []).append(row["request_id"])
    return movements


# --- the member, through the API ----------------------------------------------------------


async def _login_open_bind(http: httpx.AsyncClient, phone: str) -> tuple[str, str]:
    """Log in, open the custody account and bind a card; (token, card id)."""
    login = (await gql(http, LOGIN, {"phone": phone, "password": PASSWORD}))["login"]
    assert login["__typename"] == "AuthPayload", login
    token: str = login["accessToken"]
    opened = await gql(http, OPEN, {"name": NAME, "id": new_id_number()}, token)
    assert opened["openAccount"]["custody"]["status"] == "OPEN", opened
    bound = (await gql(http, BIND, {"card": CARD}, token))["bindBankCard"]
    assert bound.get("card", {}).get("status") == "BOUND", bound
    return token, bound["card"]["id"]


async def _callback_processed(request_id: str) -> bool:
    return await ProcessedCallback.filter(request_id=request_id).exists()


# --- what "at the crash" and "after recovery" must look like ------------------------------


async def _assert_crashed_between(
    point: str, instruction: PaymentInstruction, sandbox_file: Path, amount: int
) -> None:
    """The instruction was claimed once and never resolved; the provider has not seen
    it (after_claim) or has done it once (after_call)."""
    assert instruction.status == InstructionStatus.PENDING
    assert instruction.attempts == 1
    assert not await ProcessedCallback.filter(request_id=instruction.request_id).exists()
    async with provider_books(sandbox_file) as sandbox:
        record = await sandbox.query(request_id=instruction.request_id)
        if point == AFTER_CLAIM:
            assert record is None, record
        else:
            assert record is not None
            assert (record.status, record.amount_fen) == (ProviderStatus.SUCCEEDED, amount)
            # Its callback waits in the provider's outbox: nothing reached the platform.
            held = [c for c in await sandbox.callbacks() if c.request_id == record.request_id]
            assert [(c.delivered, c.attempts) for c in held] == [(False, 0)]


async def _reconciliation_finds_no_break(sandbox_file: Path, user_id: int) -> None:
    """The day's reconciliation (services.reconciliation.run_daily, when that module
    exists) records no break; and, checked directly, the ledger mirrors the provider:
    balances per account, and every movement on both sides exactly once with the same
    amount (the provider's statement of the day against the platform's instructions)."""
    day: date = await clock.today()
    reconciliation = _reconciliation_module()
    if reconciliation is not None:
        await _run_daily_reconciliation(reconciliation, sandbox_file, day)
    async with provider_books(sandbox_file) as sandbox:
        # (owner at the provider, its available and frozen in the ledger)
        for owner, available, frozen in (
            (f"m:{user_id}", ledger.available(user_id), ledger.frozen(user_id)),
            (ledger.FEE, ledger.FEE, None),
        ):
            account = await ProviderAccount.get(owner_code=owner)
            balance = await sandbox.balance(account.provider_account_id)
            assert balance is not None, owner
            at_provider = (balance.available_fen, balance.frozen_fen)
            in_ledger = (
                await ledger.balance(available),
                await ledger.balance(frozen) if frozen else 0,
            )
            assert at_provider == in_ledger, (owner, at_provider, in_ledger)
        statement = await sandbox.statement_lines(day)
    listed: dict[str, list[int]] = {}
    for line in statement:
        listed.setdefault(line.request_id, []).append(line.amount_fen)
    movement_kinds = [
        str(kind)
        for kind in (
            TransactionKind.DEPOSIT,
            TransactionKind.WITHDRAW,
            TransactionKind.FREEZE,
            TransactionKind.UNFREEZE,
            TransactionKind.TRANSFER,
        )
    ]
    succeeded = await PaymentInstruction.filter(
        status=InstructionStatus.SUCCEEDED, kind__in=movement_kinds
    )
    ours = {i.request_id: [i.amount] for i in succeeded}
    assert listed == ours, f"statement {listed} != succeeded instructions {ours}"


def _reconciliation_module() -> Any | None:
    """services.reconciliation, when it exists and has `run_daily`."""
    try:
        module = importlib.import_module("services.reconciliation")
    except ModuleNotFoundError as error:
        if error.name != "services.reconciliation":
            raise
        return None
    return module if hasattr(module, "run_daily") else None


async def _run_daily_reconciliation(module: Any, sandbox_file: Path, day: date) -> None:
    """Run the daily reconciliation in this process against the provider's books, the
    way the platform reaches the embedded sandbox (its HTTP API over an ASGI transport)."""
    from models.finance import ReconciliationBreak, RunStatus

    settings = get_settings()
    box = create_sandbox_app(settings, database=str(sandbox_file), deliver=refuse_delivery)
    await box.start()
    provider = HttpPaymentProvider(app=box, settings=settings)
    set_provider(provider)
    try:
        run = await module.run_daily(day=day)
    finally:
        set_provider(None)
        await provider.aclose()
        await box.aclose()
    breaks = await ReconciliationBreak.all().values("kind", "account", "request_id", "note")
    assert (run.status, run.error, breaks) == (RunStatus.COMPLETED, "", []), (run, breaks)
    assert (run.breaks_found, run.breaks_known, run.in_flight) == (0, 0, 0)
    assert run.matched == run.statement_lines > 0


async def _assert_nothing_left_behind() -> None:
    """No instruction or outbox event is left open (the notices were published after the
    restart), and the ledger's own invariants hold."""
    assert (
        await PaymentInstruction.exclude(
            status__in=[InstructionStatus.SUCCEEDED, InstructionStatus.FAILED]
        ).count()
        == 0
    )
    assert await PaymentInstruction.filter(status=InstructionStatus.FAILED).count() == 0
    assert await OutboxEvent.filter(published_at__isnull=True).count() == 0
    check = await ledger.check()
    assert check.ok, check


# --- the tests ----------------------------------------------------------------------------


@dataclass
class CrashedDeposit:
    user_id: int
    token: str
    variables: dict[str, Any]  # of the DEPOSIT request that died
    deposit: Deposit
    instruction: PaymentInstruction


DEPOSIT_AMOUNT = 1234_56


async def _crash_a_deposit(point: str, sandbox_file: Path) -> CrashedDeposit:
    """A member opens an account, binds a card and starts an AUTO_DEBIT deposit in a
    process that dies at `point` of the DEPOSIT instruction, inside that request."""
    await _hold_callbacks(sandbox_file, True)
    user, phone = await create_member(name=NAME)
    crashpoint = f"{point}:{TransactionKind.DEPOSIT}"
    async with platform_process(sandbox_file, crashpoint) as first:
        async with first.client() as http:
            token, card_id = await _login_open_bind(http, phone)
            variables = {"amount": "1234.56", "key": "crash-deposit-0001", "card": card_id}
            await dies(
                http.post(
                    "/graphql",
                    json={"query": DEPOSIT, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
        await first.expect_sigkill(crashpoint)

    # Killed with the deposit and its instruction committed, the money unposted.
    deposit = await Deposit.get(user_id=user.id)
    instruction = await PaymentInstruction.get(business_ref=f"deposit:{deposit.id}")
    assert (deposit.status, deposit.amount) == ("PENDING", DEPOSIT_AMOUNT)
    assert await Journal.filter(idempotency_key=f"deposit:{deposit.id}").count() == 0
    await _assert_crashed_between(point, instruction, sandbox_file, DEPOSIT_AMOUNT)
    # The provider behaves normally again after the crash (a held callback stays held
    # until its redelivery loop sends it).
    await _hold_callbacks(sandbox_file, False)
    return CrashedDeposit(user.id, token, variables, deposit, instruction)


@pytest.mark.parametrize("point", [AFTER_CLAIM, AFTER_CALL])
async def test_deposit_killed_mid_flight_completes_exactly_once(point: str, tmp_path: Path):
    sandbox_file = tmp_path / "sandbox-provider.sqlite3"
    crashed = await _crash_a_deposit(point, sandbox_file)
    user_id, deposit, instruction = crashed.user_id, crashed.deposit, crashed.instruction
    key = f"deposit:{deposit.id}"

    async with platform_process(sandbox_file, None) as second:

        async def paid() -> bool:
            return (await Deposit.get(id=deposit.id)).status == "PAID"

        await eventually(paid, "the deposit is PAID", second)
        # The provider's callback arrives too (for after_call, late: after the restarted
        # dispatcher applied the re-sent instruction's answer) and changes nothing.
        await eventually(
            lambda: _callback_processed(instruction.request_id), "the callback", second
        )
        async with second.client() as http:
            # The member, whose request failed, retries it with the same key: the answer
            # committed with the deposit comes back, and no second deposit starts.
            replay = await gql(http, DEPOSIT, crashed.variables, crashed.token)
            assert replay["deposit"] == {
                "__typename": "DepositStarted",
                "deposit": {"id": str(deposit.id), "status": "PAID"},
            }
            seen = (await gql(http, ACCOUNT, token=crashed.token))["myAccount"]
            assert seen == {"available": "1234.56", "frozen": "0.00", "pendingWithdrawal": "0.00"}
        # The notice the outcome wrote is published by the restarted process.
        await eventually(outbox_drained, "the outbox is published", second)

    # Exactly once, on both sides.
    assert await Deposit.filter(user_id=user_id).count() == 1
    assert await PaymentInstruction.filter(business_ref=key).count() == 1
    resolved = await PaymentInstruction.get(business_ref=key)
    assert (resolved.status, resolved.request_id) == (
        InstructionStatus.SUCCEEDED,
        instruction.request_id,
    )
    assert resolved.attempts == 2  # the killed attempt and the one after the restart
    assert await Journal.filter(idempotency_key=key).count() == 1
    assert await ledger.member_balances(user_id) == {
        "available": DEPOSIT_AMOUNT,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert await Notice.filter(user_id=user_id, title="Deposit received").count() == 1
    account = await ProviderAccount.get(owner_code=f"m:{user_id}")
    async with provider_books(sandbox_file) as sandbox:
        movements = await _provider_movements(sandbox, account.provider_account_id)
        assert {kind: len(ids) for kind, ids in movements.items()} == {
            TransactionKind.OPEN_ACCOUNT: 1,
            TransactionKind.BIND_CARD: 1,
            TransactionKind.DEPOSIT: 1,
        }
        assert movements[TransactionKind.DEPOSIT] == [instruction.request_id]
        callbacks = [c for c in await sandbox.callbacks() if c.request_id == instruction.request_id]
        assert [(c.status, c.delivered) for c in callbacks] == [(ProviderStatus.SUCCEEDED, True)]
    await _assert_nothing_left_behind()
    await _reconciliation_finds_no_break(sandbox_file, user_id)


async def test_client_retry_after_the_crash_starts_no_second_deposit(tmp_path: Path):
    sandbox_file = tmp_path / "sandbox-provider.sqlite3"
    crashed = await _crash_a_deposit(AFTER_CLAIM, sandbox_file)

    async with platform_process(sandbox_file, None) as second:

        async def paid() -> bool:
            return (await Deposit.get(id=crashed.deposit.id)).status == "PAID"

        await eventually(paid, "the deposit is PAID", second)
        # The member's app retries the failed request with the same key even after a
        # stuck record would count as abandoned (STALE_AFTER): the record was completed
        # in the deposit's own transaction, so the first answer comes back.
        await IdempotencyRecord.filter(user_id=crashed.user_id).update(
            created_at=system_now() - idempotency.STALE_AFTER - timedelta(seconds=1)
        )
        async with second.client() as http:
            await gql(http, DEPOSIT, crashed.variables, crashed.token)

    assert await Deposit.filter(user_id=crashed.user_id).count() == 1
    assert (await ledger.member_balances(crashed.user_id))["available"] == DEPOSIT_AMOUNT


@pytest.mark.parametrize("point", [AFTER_CLAIM, AFTER_CALL])
async def test_withdrawal_killed_mid_flight_completes_exactly_once(point: str, tmp_path: Path):
    sandbox_file = tmp_path / "sandbox-provider.sqlite3"
    await _hold_callbacks(sandbox_file, True)
    user, phone = await create_member(name=NAME)
    deposited, amount, fee = 1000_00, 300_00, 2_00

    async with platform_process(sandbox_file, f"{point}:{TransactionKind.WITHDRAW}") as first:
        async with first.client() as http:
            token, card_id = await _login_open_bind(http, phone)
            # The deposit goes through: the crashpoint waits for a WITHDRAW instruction.
            started = await gql(
                http,
                DEPOSIT,
                {"amount": "1000.00", "key": "crash-dep-0002", "card": card_id},
                token,
            )
            assert started["deposit"]["deposit"]["status"] == "PAID", started
            asked = (
                await gql(
                    http,
                    WITHDRAW,
                    {"amount": "300.00", "card": card_id, "key": "crash-wd-01"},
                    token,
                )
            )["withdraw"]
            assert (asked["__typename"], asked["fee"]) == ("ConfirmationRequired", "2.00"), asked
            sms = (await gql(http, OUTBOX))["devOutbox"][0]["body"]
            code = re.search(r"\b(\d{6})\b", sms)
            assert code is not None, sms
            confirm = {"op": asked["operationId"], "code": code.group(1)}
            await dies(
                http.post(
                    "/graphql",
                    json={"query": CONFIRM, "variables": confirm},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
        await first.expect_sigkill(f"{point}:{TransactionKind.WITHDRAW}")

    # Killed with the withdrawal confirmed in the ledger and its instructions committed.
    withdrawal = await Withdrawal.get(user_id=user.id)
    instruction = await PaymentInstruction.get(business_ref=f"withdrawal:{withdrawal.id}")
    fee_instruction = await PaymentInstruction.get(business_ref=f"withdrawalfee:{withdrawal.id}")
    assert withdrawal.status == "PROCESSING"
    assert fee_instruction.status == InstructionStatus.PENDING
    assert fee_instruction.attempts == 0  # never reached: the process died on the first
    await _assert_crashed_between(point, instruction, sandbox_file, amount)
    await _hold_callbacks(sandbox_file, False)

    async with platform_process(sandbox_file, None) as second:

        async def settled() -> bool:
            done = (await Withdrawal.get(id=withdrawal.id)).status == "SUCCEEDED"
            fee_state = (await PaymentInstruction.get(id=fee_instruction.id)).status
            return done and fee_state == InstructionStatus.SUCCEEDED

        await eventually(settled, "the withdrawal and its fee SUCCEEDED", second)
        await eventually(
            lambda: _callback_processed(instruction.request_id), "the callback", second
        )
        async with second.client() as http:
            # Confirming again does nothing: the operation was carried out.
            again = (await gql(http, CONFIRM, confirm, token))["confirmOperation"]
            assert again == {"__typename": "ConfirmOperationError", "code": "OPERATION_CLOSED"}
            seen = (await gql(http, ACCOUNT, token=token))["myAccount"]
            assert seen == {"available": "698.00", "frozen": "0.00", "pendingWithdrawal": "0.00"}
        await eventually(outbox_drained, "the outbox is published", second)

    # Exactly once, on both sides.
    assert await Withdrawal.filter(user_id=user.id).count() == 1
    for ref in (f"withdrawal:{withdrawal.id}", f"withdrawalfee:{withdrawal.id}"):
        assert await PaymentInstruction.filter(business_ref=ref).count() == 1
    resolved = await PaymentInstruction.get(id=instruction.id)
    assert (resolved.status, resolved.attempts) == (InstructionStatus.SUCCEEDED, 2)
    keys = await Journal.filter(idempotency_key__startswith=f"withdrawal:{withdrawal.id}:")
    assert sorted(j.idempotency_key for j in keys) == [
        f"withdrawal:{withdrawal.id}:confirmed",
        f"withdrawal:{withdrawal.id}:settled",
    ]
    assert await ledger.member_balances(user.id) == {
        "available": deposited - amount - fee,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert await ledger.balance(ledger.FEE) == fee
    assert await Notice.filter(user_id=user.id, title="Withdrawal paid").count() == 1
    account = await ProviderAccount.get(owner_code=f"m:{user.id}")
    async with provider_books(sandbox_file) as sandbox:
        movements = await _provider_movements(sandbox, account.provider_account_id)
        assert movements[TransactionKind.WITHDRAW] == [instruction.request_id]
        assert movements[TransactionKind.TRANSFER] == [fee_instruction.request_id]
        assert len(movements[TransactionKind.DEPOSIT]) == 1
        record = await sandbox.query(request_id=instruction.request_id)
        assert record is not None
        assert (record.status, record.amount_fen) == (ProviderStatus.SUCCEEDED, amount)
    await _assert_nothing_left_behind()
    await _reconciliation_finds_no_break(sandbox_file, user.id)


async def test_a_crashpoint_fires_only_where_and_when_it_is_armed(monkeypatch):
    monkeypatch.delenv(crashpoints.ENV_VAR, raising=False)
    assert not crashpoints.armed(AFTER_CALL, "DEPOSIT")
    monkeypatch.setenv(crashpoints.ENV_VAR, f"{AFTER_CALL}:DEPOSIT")
    assert crashpoints.armed(AFTER_CALL, "DEPOSIT")
    assert not crashpoints.armed(AFTER_CALL, "OPEN_ACCOUNT")
    assert not crashpoints.armed(AFTER_CLAIM, "DEPOSIT")
    monkeypatch.setenv(crashpoints.ENV_VAR, AFTER_CALL)
    assert crashpoints.armed(AFTER_CALL, "OPEN_ACCOUNT")
    assert not crashpoints.armed(AFTER_CLAIM, "OPEN_ACCOUNT")
    # Never in prod, whatever the environment says.
    prod = get_settings().model_copy(update={"app_env": Environment.PROD})
    monkeypatch.setattr(crashpoints, "get_settings", lambda: prod)
    assert not crashpoints.armed(AFTER_CALL, "OPEN_ACCOUNT")
    crashpoints.hit(AFTER_CALL, "OPEN_ACCOUNT")  # and this process lives on
