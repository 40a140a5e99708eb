"""Jobs on several processes (issue 16): two job workers and two API processes on one
PostgreSQL database. The worker that took the daily overdue run is killed (kill -9)
half-way through the loans; the other worker takes the job over once the dead one's
lease has run out and runs it again from the start. The API processes dispatch nothing
(DISPATCH_IN_API=false, as deployed): the workers drain the outbox, the killed one
included until it dies. Every loan is aged once: the same penalty on every loan,
one overdue notice, SMS and e-mail per borrower, the job counted as run once and taken
over once, the outbox drained.

PostgreSQL only: SQLite is one process's database (`serve --workers 2` refuses it).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from models.messaging import Notice, OutboxEvent, OutgoingMessage
from models.repayments import InstallmentStatus, LoanInstallment
from models.system import ScheduledJob
from services.kit.security import lookup_hash
from tests.e2e.processes import (
    API_ONLY,
    LONG_AGO,
    QUICK_WORKERS,
    SEVERAL_PROCESSES,
    only_job_due,
    platform_process,
    until,
    worker_process,
)
from tests.lending import move_clock_to, repaying_loan

pytestmark = SEVERAL_PROCESSES

OVERDUE_JOB = "repayments_overdue_daily"
LOANS = 4
KILLED_AFTER = 2  # loans aged by the first worker before it dies


async def test_a_worker_killed_in_the_overdue_run_is_taken_over_and_each_loan_aged_once(
    app: Any, scripted: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = app.state.sandbox.sandbox
    loans = [await repaying_loan(scripted, sandbox) for _ in range(LOANS)]
    first = await LoanInstallment.get(loan_id=loans[0].loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=5))
    await only_job_due(OVERDUE_JOB)
    crashpoint = f"overdue.after_loan:{KILLED_AFTER}"

    async with (
        platform_process(tmp_path / "provider-1.sqlite3", None, environment=API_ONLY) as api_1,
        platform_process(tmp_path / "provider-2.sqlite3", None, environment=API_ONLY) as api_2,
        worker_process(crashpoint, environment=QUICK_WORKERS) as killed,
    ):
        pid = f":{killed.process.pid}:"

        async def taken_by_the_first() -> bool:
            row = await ScheduledJob.get(name=OVERDUE_JOB)
            return bool(row.holder and pid in row.holder) or killed.process.returncode is not None

        await until(taken_by_the_first, "the first worker takes the overdue run", killed)
        async with worker_process(None, environment=QUICK_WORKERS) as survivor:
            await killed.expect_sigkill(crashpoint)

            async def finished() -> bool:
                row = await ScheduledJob.get(name=OVERDUE_JOB)
                return row.runs == 1 and row.holder is None

            await until(finished, "the other worker finishes the run", survivor, killed)

            async def drained() -> bool:
                return not await OutboxEvent.filter(published_at__isnull=True).exists()

            await until(drained, "the workers drain the outbox", api_1, api_2, survivor)
            assert "taken over" in survivor.output(), survivor.output()

    row = await ScheduledJob.get(name=OVERDUE_JOB)
    assert (row.runs, row.taken_over, row.failures, row.holder) == (1, 1, 0, None)
    assert row.next_due_at > LONG_AGO  # set by the run that finished
    installments = [
        await LoanInstallment.get(loan_id=repaying.loan.id, number=1) for repaying in loans
    ]
    assert {item.status for item in installments} == {InstallmentStatus.OVERDUE}
    assert {item.penalty_accrued_through for item in installments} == {today}
    # The loans the killed worker aged and those it did not carry the same penalty: none
    # was accrued twice (all four loans are alike).
    penalties = {
        (item.penalty_accrued_micro_fen, item.penalty_accrued_fen) for item in installments
    }
    assert len(penalties) == 1
    assert installments[0].penalty_accrued_fen > 0
    for repaying in loans:
        borrower = repaying.borrower
        assert await Notice.filter(user_id=borrower.id, title="Installment overdue").count() == 1
        sms = OutgoingMessage.filter(
            channel="sms",
            recipient_lookup=lookup_hash(repaying.borrower_phone),
            body__contains=f"of loan {repaying.loan.id} ",
        )
        assert await sms.count() == 1
