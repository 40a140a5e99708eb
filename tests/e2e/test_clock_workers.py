"""devAdvanceClock while job workers tick (issue 17): an API process (jobs not embedded)
moves the business clock through its days while two job workers look for due jobs
every 0.3 s on the same PostgreSQL database. Each job runs in one place at a time (the
lease), and whoever runs a day's job first, its once-only keys make the other's run
change nothing: the installment due on the third day is auto-debited once, the
borrower whose balance is short gets one refusal, one overdue notice and one day of
penalty the day after, and each borrower one due-soon warning.

PostgreSQL only: SQLite is one process's database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from models.loans import Loan, LoanStatus
from models.messaging import Notice
from models.payments import BankCard
from models.repayments import InstallmentStatus, LoanInstallment, Repayment, RepaymentStatus
from models.system import ScheduledJob
from services.money import ledger
from tests.e2e.processes import (
    API_ONLY,
    LONG_AGO,
    QUICK_WORKERS,
    SEVERAL_PROCESSES,
    embedded_platform,
    gql,
    platform_process,
    until,
    worker_process,
)
from tests.factories import PASSWORD, create_staff, withdraw_confirmed
from tests.lending import move_clock_to, repaying_loan

pytestmark = SEVERAL_PROCESSES

LOGIN = """mutation ($phone: String!, $password: String!) {
  login(input: {phone: $phone, password: $password}) { ... on AuthPayload { accessToken } } }"""
ADVANCE = """mutation ($days: Int!) { devAdvanceClock(input: {days: $days}) {
  ... on ClockAdvanced { today jobRuns { day job outcome summary } failedRuns { job } }
  ... on DevAdvanceClockError { code } } }"""
OVERDUE_JOB = "repayments_overdue_daily"


async def test_the_days_jobs_run_once_while_two_workers_tick(
    scripted: dict[str, Any], tmp_path: Path
) -> None:
    sandbox_file = tmp_path / "provider.sqlite3"
    async with embedded_platform(sandbox_file) as sandbox:
        paying = await repaying_loan(scripted, sandbox, shares=(500_000,), term=1)
        short = await repaying_loan(scripted, sandbox, shares=(500_000,), term=1)
        card = await BankCard.get(user_id=short.borrower.id, status="bound")
        available = (await ledger.member_balances(short.borrower.id))["available"]
        await withdraw_confirmed(short.borrower.id, card.id, available - 100)  # all but the fee
    # No card to top up from: the borrower unbound it (written directly).
    await BankCard.filter(id=card.id).update(status="failed")
    due = (await LoanInstallment.get(loan_id=paying.loan.id, number=1)).due_date
    assert (await LoanInstallment.get(loan_id=short.loan.id, number=1)).due_date == due
    await move_clock_to(due - timedelta(days=3))
    await ScheduledJob.all().delete()  # every job due at once for the workers
    _admin, phone = await create_staff("admin")

    async with (
        platform_process(sandbox_file, None, environment=API_ONLY) as api,
        worker_process(None, environment=QUICK_WORKERS) as worker_1,
        worker_process(None, environment=QUICK_WORKERS) as worker_2,
    ):

        async def overdue_runs() -> int:
            row = await ScheduledJob.get_or_none(name=OVERDUE_JOB)
            return row.runs if row else 0

        async def ticking() -> bool:
            return await overdue_runs() > 0

        await until(ticking, "a worker runs the jobs", worker_1, worker_2)
        async with api.client() as http:
            token = (await gql(http, LOGIN, {"phone": phone, "password": PASSWORD}))["login"]
            token = token["accessToken"]
            three = (await gql(http, ADVANCE, {"days": 3}, token))["devAdvanceClock"]
            four = (await gql(http, ADVANCE, {"days": 1}, token))["devAdvanceClock"]
        # The workers go on ticking on the last day, the jobs their own runs of it.
        runs_then = await overdue_runs()

        async def ran_again() -> bool:
            return await overdue_runs() > runs_then

        await ScheduledJob.all().update(next_due_at=LONG_AGO)
        await until(ran_again, "the workers run the day's jobs again", worker_1, worker_2)

    assert three["today"] == due.isoformat()
    assert four["today"] == (due + timedelta(days=1)).isoformat()
    assert three["failedRuns"] == four["failedRuns"] == []
    days = [run["day"] for run in three["jobRuns"] + four["jobRuns"]]
    assert days == sorted(days)
    assert sorted(set(days)) == [(due + timedelta(days=n)).isoformat() for n in (-2, -1, 0, 1)]

    # Paid once, by auto-debit on the due date.
    installment = await LoanInstallment.get(loan_id=paying.loan.id, number=1)
    assert installment.status == InstallmentStatus.PAID
    [paid] = await Repayment.filter(loan_id=paying.loan.id)
    assert (paid.status, paid.created_at.date()) == (RepaymentStatus.DONE, due)
    # Short: one refusal on the due date, OVERDUE the day after with one day of penalty.
    [refused] = await Repayment.filter(loan_id=short.loan.id)
    assert (refused.status, refused.created_at.date()) == (RepaymentStatus.REFUSED, due)
    late = await LoanInstallment.get(loan_id=short.loan.id, number=1)
    assert (late.status, late.overdue_since, late.penalty_accrued_through) == (
        InstallmentStatus.OVERDUE,
        due + timedelta(days=1),
        due + timedelta(days=1),
    )
    unpaid = late.principal_fen + late.interest_fen
    assert late.penalty_accrued_fen == (unpaid * 5 + 5_000) // 10_000  # 0.05 %, one day
    assert (await Loan.get(id=short.loan.id)).status == LoanStatus.OVERDUE
    for borrower, titles in (
        (paying.borrower, ["Installment due soon", "Loan settled"]),
        (short.borrower, ["Installment due soon", "Installment overdue"]),
    ):
        notices = await Notice.filter(user_id=borrower.id, kind="repayment").values_list(
            "title", flat=True
        )
        assert sorted(notices) == titles
    assert (await ledger.check()).ok
