"""A platform process SIGKILLed while it settles a repayment, then restarted: the
repayment is written whole or not at all, and paid once.

The loan is built in this process (the platform embedded, as the `app` fixture runs it,
its sandbox provider keeping its books in a file); that platform is shut down, and real
API processes (tests/e2e/processes.py) take over on the same database and provider
books. The borrower asks to repay through GraphQL and confirms with the SMS code in a
process armed with a crashpoint:

- `repayment.after_transfer:repayment`: the settlement's transaction has written the
  first holder's transfer (journal and instruction), the rest not yet. The process
  dies, the database rolls the transaction back: nothing of the repayment exists, not
  even the operation's claim. What the code gives then: the repayment stays
  AWAITING_CONFIRMATION and its operation AWAITING_CODE, but the SMS code was spent (it
  is verified in a transaction of its own, before the settlement), so confirming again
  is CODE_INVALID. The borrower could get a new code for it (resendOperationCode,
  tests/operations/test_resend_operation_code_api.py); here they ask again and pay once, and the
  stuck operation expires (then it is CANCELLED, nothing paid).
- `operation.after_commit:REPAYMENT`: the settlement is committed, none of its provider
  instructions sent. The restarted process's instruction dispatcher sends them; the
  ledger then equals the provider, every movement done once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.ledger import Journal
from models.messaging import Notice
from models.payments import (
    InstructionStatus,
    PaymentInstruction,
    PendingOperation,
    ProviderAccount,
)
from models.repayments import InstallmentStatus, LoanInstallment, Receipt, Repayment
from models.repayments import RepaymentStatus as Status
from services.errors import DomainError
from services.money import ledger
from services.operations import confirmation
from services.payments.provider import ProviderStatus
from services.payments.sandbox import Sandbox
from services.platform.clock import system_now
from tests.e2e.processes import (
    Platform,
    dies,
    embedded_platform,
    eventually,
    gql,
    outbox_drained,
    platform_process,
    provider_books,
)
from tests.factories import PASSWORD
from tests.lending import (
    RepayingLoan,
    assert_ledger_matches_provider,
    code_for,
    member_actor,
    repaying_loan,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

MID_SETTLEMENT = "repayment.after_transfer:repayment"
AFTER_COMMIT = "operation.after_commit:REPAYMENT"

LOGIN = """mutation ($phone: String!, $password: String!) {
  login(input: {phone: $phone, password: $password}) {
    __typename ... on AuthPayload { accessToken } ... on LoginError { code } } }"""
REPAY = """mutation ($loan: ID!, $key: String!) {
  repay(input: {loanId: $loan, mode: NEXT, idempotencyKey: $key}) { __typename
    ... on RepaymentRequested { operationId repayment { id status amount } }
    ... on RepayError { code } } }"""
CONFIRM = """mutation ($op: ID!, $code: String!) {
  confirmOperation(input: {operationId: $op, code: $code}) { __typename
    ... on OperationConfirmed { repayment { id status amount } }
    ... on ConfirmOperationError { code } } }"""
ACCOUNT = "{ myAccount { available } }"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def _a_repaying_loan(scripted: dict[str, Any], sandbox_file: Path) -> RepayingLoan:
    """A loan disbursed and settled at the provider, REPAYING, nothing repaid yet."""
    async with embedded_platform(sandbox_file) as sandbox:
        return await repaying_loan(scripted, sandbox)


def _users(repaying: RepayingLoan) -> list[int]:
    return [repaying.borrower.id, *(user.id for user, _phone in repaying.lenders)]


async def _available(repaying: RepayingLoan) -> dict[int, int]:
    return {
        user_id: (await ledger.member_balances(user_id))["available"]
        for user_id in _users(repaying)
    }


class Borrower:
    """The borrower, through the API of one platform process."""

    def __init__(self, repaying: RepayingLoan, http: httpx.AsyncClient, token: str) -> None:
        self.repaying = repaying
        self.http = http
        self.token = token

    @classmethod
    async def log_in(cls, repaying: RepayingLoan, http: httpx.AsyncClient) -> Borrower:
        variables = {"phone": repaying.borrower_phone, "password": PASSWORD}
        login = (await gql(http, LOGIN, variables))["login"]
        assert login["__typename"] == "AuthPayload", login
        return cls(repaying, http, login["accessToken"])

    async def ask(self, key: str) -> dict[str, Any]:
        """Ask to repay the next installment: {operationId, repayment}."""
        variables = {"loan": str(self.repaying.loan.id), "key": key}
        asked = (await gql(self.http, REPAY, variables, self.token))["repay"]
        assert asked["__typename"] == "RepaymentRequested", asked
        return dict(asked)

    def confirm_request(self, operation_id: str, code: str) -> Any:
        """The confirmOperation request (not awaited: it may never be answered)."""
        return self.http.post(
            "/graphql",
            json={"query": CONFIRM, "variables": {"op": operation_id, "code": code}},
            headers={"Authorization": f"Bearer {self.token}"},
        )

    async def confirm(self, operation_id: str, code: str) -> dict[str, Any]:
        variables = {"op": operation_id, "code": code}
        return dict((await gql(self.http, CONFIRM, variables, self.token))["confirmOperation"])

    async def available(self) -> str:
        return str((await gql(self.http, ACCOUNT, token=self.token))["myAccount"]["available"])


async def _crash_while_confirming(
    repaying: RepayingLoan, sandbox_file: Path, crashpoint: str
) -> tuple[Repayment, str, str]:
    """The borrower asks to repay the next installment and confirms it in a process
    that dies at `crashpoint`: the repayment asked, its code and the idempotency key."""
    key = f"repay-{uuid.uuid4().hex[:12]}"
    async with platform_process(sandbox_file, crashpoint) as first:
        async with first.client() as http:
            borrower = await Borrower.log_in(repaying, http)
            asked = await borrower.ask(key)
            code = await code_for(repaying.borrower_phone)
            await dies(borrower.confirm_request(asked["operationId"], code))
        await first.expect_sigkill(crashpoint)
    return await Repayment.get(id=int(asked["repayment"]["id"])), code, key


async def _movements_of(repayment: Repayment) -> list[PaymentInstruction]:
    return await PaymentInstruction.filter(
        business_ref=f"movement:repayment:{repayment.id}"
    ).order_by("id")


async def _settled(repayment: Repayment) -> bool:
    movements = await _movements_of(repayment)
    return bool(movements) and all(m.status == InstructionStatus.SUCCEEDED for m in movements)


async def _wait_until_settled(platform: Platform, repayment: Repayment) -> None:
    """The restarted process sends the repayment's instructions and publishes its events
    (its own dispatchers: nothing here sends or publishes)."""
    await eventually(lambda: _settled(repayment), "the repayment's transfers SUCCEEDED", platform)
    await eventually(outbox_drained, "the outbox is published", platform)


async def _assert_paid_once(
    repaying: RepayingLoan, paid: Repayment, before: dict[int, int]
) -> None:
    """`paid` is the loan's one repayment: installment 1 PAID and no other, the
    borrower's balance down by its amount, each lender's up by their receipt, one journal
    and one SPLIT instruction for them all, the ledger balanced."""
    assert paid.status == Status.DONE
    assert paid.installments == [1]
    assert await Repayment.filter(loan_id=repaying.loan.id, status=Status.DONE).count() == 1
    rows = await LoanInstallment.filter(loan_id=repaying.loan.id).order_by("number")
    assert [row.number for row in rows if row.status == InstallmentStatus.PAID] == [1]
    after = await _available(repaying)
    borrower = repaying.borrower.id
    assert after[borrower] == before[borrower] - paid.amount_fen
    receipts = await Receipt.filter(loan_id=repaying.loan.id)
    assert {r.repayment_id for r in receipts} == {paid.id}
    assert len(receipts) == len(repaying.lenders)
    for receipt in receipts:
        got = receipt.principal_fen + receipt.interest_fen + receipt.penalty_fen
        assert after[receipt.holder_id] == before[receipt.holder_id] + got
    journals = await Journal.filter(idempotency_key__startswith="repayment:").count()
    assert journals == len(repaying.lenders) + 1  # the holders and the fee
    [split] = await _movements_of(paid)  # one SPLIT at the provider for all of them
    assert len(split.params["journals"]) == journals
    assert split.amount == paid.amount_fen
    notices = Notice.filter(user_id=borrower, title="Repayment received")
    assert await notices.count() == 1
    check = await ledger.check()
    assert check.ok, check


async def _assert_books_match_provider(
    sandbox_file: Path, repaying: RepayingLoan, paid: Repayment
) -> None:
    """With no process running: every party's balance at the provider equals the
    ledger's, the platform's fee and risk-reserve accounts too, and the provider did
    each of the repayment's movements exactly once."""
    async with provider_books(sandbox_file) as sandbox:
        await assert_ledger_matches_provider(sandbox, _users(repaying))
        await _platform_accounts_match(sandbox)
        for movement in await _movements_of(paid):
            assert await _provider_count(sandbox, movement.request_id) == 1
            record = await sandbox.query(request_id=movement.request_id)
            assert record is not None
            assert (record.status, record.amount_fen) == (
                ProviderStatus.SUCCEEDED,
                movement.amount,
            )


async def _platform_accounts_match(sandbox: Sandbox) -> None:
    for code in (ledger.FEE, ledger.RISK_RESERVE):
        account = await ProviderAccount.get(owner_code=code)
        balance = await sandbox.balance(account.provider_account_id)
        assert balance is not None
        assert balance.available_fen == await ledger.balance(code), code


async def _provider_count(sandbox: Sandbox, request_id: str) -> int:
    """How many transactions the provider recorded under `request_id`."""
    async with sandbox.store.transaction() as tx:
        rows = await tx.all("SELECT 1 FROM transactions WHERE request_id = ?", (request_id,))
    return len(rows)


# --- the tests ------------------------------------------------------------------------------


async def test_a_repayment_killed_mid_settlement_writes_nothing_and_is_paid_once_later(
    scripted, tmp_path: Path
):
    sandbox_file = tmp_path / "sandbox-provider.sqlite3"
    repaying = await _a_repaying_loan(scripted, sandbox_file)
    before = await _available(repaying)

    crashed, code, _key = await _crash_while_confirming(repaying, sandbox_file, MID_SETTLEMENT)

    # Nothing of the settlement was kept: not the transfer written before the crash,
    # not the operation's claim.
    crashed = await Repayment.get(id=crashed.id)
    assert crashed.status == Status.AWAITING_CONFIRMATION
    operation = await PendingOperation.get(id=crashed.operation_id)
    assert operation.status == "AWAITING_CODE"
    assert await _available(repaying) == before
    assert not await Receipt.filter(loan_id=repaying.loan.id).exists()
    assert not await LoanInstallment.filter(
        loan_id=repaying.loan.id, status=InstallmentStatus.PAID
    ).exists()
    assert not await Journal.filter(idempotency_key__startswith="repayment:").exists()
    assert not await _movements_of(crashed)
    check = await ledger.check()
    assert check.ok, check

    async with platform_process(sandbox_file, None) as second:
        async with second.client() as http:
            borrower = await Borrower.log_in(repaying, http)
            # The code was spent by the request that died.
            again = await borrower.confirm(str(operation.id), code)
            assert again == {"__typename": "ConfirmOperationError", "code": "CODE_INVALID"}
            assert await borrower.available() == _yuan(before[repaying.borrower.id])
            # The borrower asks again and confirms: paid, once.
            asked = await borrower.ask(f"repay-{uuid.uuid4().hex[:12]}")
            assert asked["repayment"]["amount"] == _yuan(crashed.amount_fen)
            done = await borrower.confirm(
                asked["operationId"], await code_for(repaying.borrower_phone)
            )
            assert done["repayment"]["status"] == "DONE", done
            paid = await Repayment.get(id=int(done["repayment"]["id"]))
            await _wait_until_settled(second, paid)
            left = before[repaying.borrower.id] - paid.amount_fen
            assert await borrower.available() == _yuan(left)

    assert paid.amount_fen == crashed.amount_fen
    await _assert_paid_once(repaying, paid, before)
    # The crashed repayment can never pay: its operation expires, and is cancelled.
    await PendingOperation.filter(id=operation.id).update(
        expires_at=system_now() - timedelta(seconds=1)
    )
    with pytest.raises(DomainError) as expired:
        await confirmation.confirm_operation(
            actor=member_actor(repaying.borrower.id), operation_id=str(operation.id), code=code
        )
    assert expired.value.code == "OPERATION_EXPIRED"
    assert (await Repayment.get(id=crashed.id)).status == Status.CANCELLED
    await _assert_paid_once(repaying, paid, before)
    await _assert_books_match_provider(sandbox_file, repaying, paid)


async def test_a_repayment_killed_after_its_commit_is_sent_by_the_restarted_process(
    scripted, tmp_path: Path
):
    sandbox_file = tmp_path / "sandbox-provider.sqlite3"
    repaying = await _a_repaying_loan(scripted, sandbox_file)
    before = await _available(repaying)

    paid, code, key = await _crash_while_confirming(repaying, sandbox_file, AFTER_COMMIT)

    # The settlement was committed whole; the provider has seen none of its movements.
    paid = await Repayment.get(id=paid.id)
    assert paid.status == Status.DONE
    assert (await PendingOperation.get(id=paid.operation_id)).status == "CONFIRMED"
    movements = await _movements_of(paid)
    [split] = movements  # one SPLIT: the holders and the fee
    assert len(split.params["journals"]) == len(repaying.lenders) + 1
    assert all((m.status, m.attempts) == (InstructionStatus.PENDING, 0) for m in movements)
    async with provider_books(sandbox_file) as sandbox:
        for movement in movements:
            assert await sandbox.query(request_id=movement.request_id) is None

    async with platform_process(sandbox_file, None) as second:
        await _wait_until_settled(second, paid)
        async with second.client() as http:
            borrower = await Borrower.log_in(repaying, http)
            # Confirming again changes nothing; the request replayed with its key
            # answers the repayment made.
            again = await borrower.confirm(str(paid.operation_id), code)
            assert again == {"__typename": "ConfirmOperationError", "code": "OPERATION_CLOSED"}
            replay = await borrower.ask(key)
            assert replay["repayment"] == {
                "id": str(paid.id),
                "status": "DONE",
                "amount": _yuan(paid.amount_fen),
            }
            left = before[repaying.borrower.id] - paid.amount_fen
            assert await borrower.available() == _yuan(left)
        await eventually(outbox_drained, "the outbox is published", second)

    assert [m.attempts for m in await _movements_of(paid)] == [1] * len(movements)
    await _assert_paid_once(repaying, paid, before)
    await _assert_books_match_provider(sandbox_file, repaying, paid)
