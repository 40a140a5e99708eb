"""The day's repayment batch on several processes (issue 16): two job workers and an API
process on one PostgreSQL database and one provider. The worker that took the auto-debit
run is killed (kill -9) after two of four installments; the other worker takes the job
over once the dead one's lease has run out and runs it again from the start. The API
process's dispatcher sends each settlement's SPLIT to the provider. The workers settle two
loans to a transaction (REPAYMENT_BATCH_LOANS=2, services/repayments/daybatch.py): the
first worker dies with the first two committed together. Every installment is
paid exactly once: one auto-debit repayment per loan, one receipt per claim, one SPLIT
each done once at the provider, and the ledger equal to the provider's books for every
party.

PostgreSQL only: SQLite is one process's database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.payments import InstructionStatus, PaymentInstruction
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from models.system import ScheduledJob
from services.money import ledger
from services.payments.provider import ProviderStatus, TransactionKind
from tests.e2e.processes import (
    API_ONLY,
    QUICK_WORKERS,
    SEVERAL_PROCESSES,
    embedded_platform,
    only_job_due,
    outbox_drained,
    platform_process,
    provider_books,
    until,
    worker_process,
)
from tests.lending import RepayingLoan, assert_ledger_matches_provider, move_clock_to, repaying_loan

pytestmark = SEVERAL_PROCESSES

AUTO_DEBIT_JOB = "repayments_auto_debit"
LOANS = 4
KILLED_AFTER = 2  # installments settled by the first worker before it dies
# Two loans to a transaction: the first worker commits one set of two, then dies.
WORKERS = {**QUICK_WORKERS, "REPAYMENT_BATCH_LOANS": "2"}


def _parties(loans: list[RepayingLoan]) -> list[int]:
    return sorted(
        {user_id for r in loans for user_id in (r.borrower.id, *(u.id for u, _p in r.lenders))}
    )


async def _splits() -> list[PaymentInstruction]:
    return await PaymentInstruction.filter(kind=TransactionKind.SPLIT).order_by("id")


async def test_a_worker_killed_in_the_auto_debit_run_is_taken_over_and_each_installment_paid_once(
    scripted: dict[str, Any], tmp_path: Path
) -> None:
    sandbox_file = tmp_path / "provider.sqlite3"
    async with embedded_platform(sandbox_file) as sandbox:
        loans = [await repaying_loan(scripted, sandbox) for _ in range(LOANS)]
    first = await LoanInstallment.get(loan_id=loans[0].loan.id, number=1)
    await move_clock_to(first.due_date)
    await only_job_due(AUTO_DEBIT_JOB)
    crashpoint = f"autodebit.after_installment:{KILLED_AFTER}"

    async with (
        platform_process(sandbox_file, None, environment=API_ONLY) as api,
        worker_process(crashpoint, environment=WORKERS) as killed,
    ):
        await killed.expect_sigkill(crashpoint)
        # Killed between two sets: the first two installments settled (one
        # transaction), the other two not begun.
        assert await Repayment.filter(status=RepaymentStatus.DONE).count() == KILLED_AFTER
        async with worker_process(None, environment=WORKERS) as survivor:

            async def finished() -> bool:
                row = await ScheduledJob.get(name=AUTO_DEBIT_JOB)
                return row.runs == 1 and row.holder is None

            await until(finished, "the other worker finishes the run", survivor, killed)

            async def sent() -> bool:
                splits = await _splits()
                return len(splits) == LOANS and all(
                    split.status == InstructionStatus.SUCCEEDED for split in splits
                )

            await until(sent, "the API process sends every SPLIT", api, survivor)
            await until(outbox_drained, "the outbox is drained", api, survivor)
            assert "taken over" in survivor.output(), survivor.output()

    row = await ScheduledJob.get(name=AUTO_DEBIT_JOB)
    assert (row.runs, row.taken_over, row.failures) == (1, 1, 0)
    for repaying in loans:
        installment = await LoanInstallment.get(loan_id=repaying.loan.id, number=1)
        assert installment.status == InstallmentStatus.PAID
        [paid] = await Repayment.filter(loan_id=repaying.loan.id)
        assert (paid.kind, paid.status, paid.installments) == (
            RepaymentKind.AUTO_DEBIT,
            RepaymentStatus.DONE,
            [1],
        )
        receipts = await Receipt.filter(repayment_id=paid.id, to_reserve=False)
        assert len(receipts) == len(repaying.lenders)
        assert sum(r.principal_fen + r.interest_fen + r.penalty_fen for r in receipts) == (
            installment.principal_fen + installment.interest_fen
        )
    assert (await ledger.check()).ok
    async with provider_books(sandbox_file) as books:
        await assert_ledger_matches_provider(books, _parties(loans))
        for split in await _splits():
            record = await books.query(request_id=split.request_id)
            assert record is not None
            assert (record.status, record.amount_fen) == (ProviderStatus.SUCCEEDED, split.amount)
