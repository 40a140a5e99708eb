"""devAdvanceClock runs the days it passes: each day's periodic jobs, in order, at that
day's business time, through the scheduler's leases (docs/clock.md)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from models.loans import Loan, LoanStatus
from models.payments import BankCard
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from models.system import ScheduledJob
from services import jobs
from services.errors import DomainError
from services.jobs import days as clock_days
from services.jobs import repayments as repayments_job
from services.jobs.registry import Job
from services.money import ledger
from services.platform import clock
from services.platform.clock import system_now
from tests.factories import create_staff, gql, token_for, withdraw_confirmed
from tests.lending import move_clock_to, repaying_loan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

ADVANCE = """mutation ($days: Int!) { devAdvanceClock(input: {days: $days}) {
  __typename
  ... on ClockAdvanced { today fromDay days
      jobRuns { day job outcome summary errorCode startedAt }
      failedRuns { day job errorCode } }
  ... on DevAdvanceClockError { code field } } }"""

# A day's jobs: the named order, then any other registered job in registration order.
DAY_JOBS = [
    *clock_days.DAY_ORDER,
    *(name for name in jobs.registered() if name not in clock_days.DAY_ORDER),
]


async def _advance(client: Any, token: str, days: int) -> dict[str, Any]:
    result = await gql(client, ADVANCE, {"days": days}, token=token)
    moved = result["data"]["devAdvanceClock"]
    assert moved["__typename"] == "ClockAdvanced", moved
    return dict(moved)


def _runs_of(moved: dict[str, Any], job: str) -> dict[str, str]:
    """{day: summary} of one job in a devAdvanceClock answer."""
    return {run["day"]: run["summary"] for run in moved["jobRuns"] if run["job"] == job}


async def _admin_token() -> str:
    _admin, phone = await create_staff("admin")
    return await token_for(phone)


def _penalty(unpaid_fen: int, *, days: int) -> int:
    """At the default repayments.penaltyDailyRate (0.05 % a day), rounded half-up once."""
    exact = Decimal(unpaid_fen) * Decimal("0.0005") * days
    return int(exact.quantize(Decimal(1), ROUND_HALF_UP))


async def _loan_due_in_three_days(app: Any, scripted: dict[str, Any]) -> tuple[Any, date]:
    """A one-installment loan of 5,000.00, REPAYING, its installment due three days from
    today; the overdue job's memory of the last day it ran (per process) forgotten."""
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=(500_000,), term=1)
    due = (await LoanInstallment.get(loan_id=made.loan.id, number=1)).due_date
    await move_clock_to(due - timedelta(days=3))
    repayments_job._last_day.clear()
    return made, due


async def test_three_days_run_each_days_jobs_in_order_and_auto_debit_on_the_due_date(
    app, client, scripted
):
    made, due = await _loan_due_in_three_days(app, scripted)
    token = await _admin_token()
    start = due - timedelta(days=3)
    assert set(clock_days.DAY_ORDER) <= set(jobs.registered())

    moved = await _advance(client, token, 3)

    assert moved["today"] == due.isoformat()
    advance = moved
    assert (advance["fromDay"], advance["days"], advance["failedRuns"]) == (
        start.isoformat(),
        3,
        [],
    )
    # Day by day, each day every job once, in the day's order, at that day's time.
    expected = [
        ((start + timedelta(days=n)).isoformat(), job) for n in (1, 2, 3) for job in DAY_JOBS
    ]
    assert [(run["day"], run["job"]) for run in advance["jobRuns"]] == expected
    assert {run["outcome"] for run in advance["jobRuns"]} == {"DONE"}
    assert all(run["startedAt"].startswith(run["day"]) for run in advance["jobRuns"])
    # Nothing due on the two days before; on the due date the installment is debited.
    assert _runs_of(moved, "repayments_auto_debit") == {
        (due - timedelta(days=2)).isoformat(): "installments paid: 0",
        (due - timedelta(days=1)).isoformat(): "installments paid: 0",
        due.isoformat(): "installments paid: 1",
    }
    # The warning of the installment due soon went out once, on the first day.
    warned = _runs_of(moved, "repayments_overdue_daily")
    assert [("warned=1" in warned[day], f"day={day}" in warned[day]) for day in sorted(warned)] == [
        (True, True),
        (False, True),
        (False, True),
    ]
    assert _runs_of(moved, "daily_reconciliation")[due.isoformat()] == (
        f"days reconciled: {(due - timedelta(days=1)).isoformat()}:COMPLETED"
    )
    installment = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    assert (installment.status, installment.paid_late) == (InstallmentStatus.PAID, False)
    [repayment] = await Repayment.filter(loan_id=made.loan.id)
    assert (repayment.kind, repayment.status) == (RepaymentKind.AUTO_DEBIT, RepaymentStatus.DONE)
    assert repayment.created_at.date() == due
    balance = await ledger.member_balances(made.borrower.id)

    # Once only: the next day, and the scheduler's own run of the same day, repeat nothing.
    again = await _advance(client, token, 1)
    assert _runs_of(again, "repayments_auto_debit") == {
        (due + timedelta(days=1)).isoformat(): "installments paid: 0"
    }
    await ScheduledJob.all().update(next_due_at=system_now())  # all due for the scheduler
    assert "repayments_auto_debit" in await jobs.run_due()
    assert await Repayment.filter(loan_id=made.loan.id).count() == 1
    assert await ledger.member_balances(made.borrower.id) == balance
    loan = await Loan.get(id=made.loan.id)
    assert loan.status not in (LoanStatus.OVERDUE, LoanStatus.REPAYING)  # repaid in full


async def test_a_short_balance_falls_overdue_the_next_day_with_a_day_of_penalty(
    app, client, scripted
):
    made, due = await _loan_due_in_three_days(app, scripted)
    card = await BankCard.get(user_id=made.borrower.id, status="bound")
    available = (await ledger.member_balances(made.borrower.id))["available"]
    await withdraw_confirmed(made.borrower.id, card.id, available - 100)  # all but the fee
    # No card to top up from: the borrower unbound it (written directly).
    await BankCard.filter(id=card.id).update(status="failed")
    token = await _admin_token()

    moved = await _advance(client, token, 3)

    assert _runs_of(moved, "repayments_auto_debit")[due.isoformat()] == "installments paid: 0"
    installment = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    assert (installment.status, installment.penalty_accrued_fen) == (InstallmentStatus.PENDING, 0)
    refused = await Repayment.get(loan_id=made.loan.id)
    assert refused.status == RepaymentStatus.REFUSED

    late = await _advance(client, token, 1)

    overdue_run = _runs_of(late, "repayments_overdue_daily")[(due + timedelta(days=1)).isoformat()]
    assert "raised=1" in overdue_run
    installment = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    unpaid = installment.principal_fen + installment.interest_fen
    one_day = _penalty(unpaid, days=1)
    assert (installment.status, installment.penalty_accrued_fen) == (
        InstallmentStatus.OVERDUE,
        one_day,
    )
    assert (await Loan.get(id=made.loan.id)).status == LoanStatus.OVERDUE

    # The same day again (the scheduler): no second day of penalty, nothing raised again.
    repayments_job._last_day.clear()
    await ScheduledJob.all().update(next_due_at=system_now())
    await jobs.run_due()
    installment = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    assert installment.penalty_accrued_fen == one_day
    # The next day: one more day of penalty, once.
    nxt = await _advance(client, token, 1)
    assert (
        "raised=0"
        in _runs_of(nxt, "repayments_overdue_daily")[(due + timedelta(days=2)).isoformat()]
    )
    installment = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    assert installment.penalty_accrued_fen == _penalty(unpaid, days=2)
    assert await Repayment.filter(loan_id=made.loan.id, status=RepaymentStatus.REFUSED).count() == 1


# --- the scheduler's machinery: failures, leases, another runner at the same time --------


@pytest.fixture
def fake_jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three jobs in place of the registered ones: `slow` records the business day and
    the moments it ran (and whether it ever ran twice at once), `refused` raises a domain
    error, `broken` any other error."""
    seen: dict[str, Any] = {"days": [], "running": 0, "overlaps": 0}

    async def slow() -> int:
        seen["running"] += 1
        seen["overlaps"] += seen["running"] > 1
        seen["days"].append(await clock.today())
        await asyncio.sleep(0.05)
        seen["running"] -= 1
        return len(seen["days"])

    async def refused() -> None:
        raise DomainError("the provider is closed today", code="PROVIDER_UNAVAILABLE")

    async def broken() -> None:
        raise RuntimeError("disk full")

    registered = {
        "broken": Job(name="broken", every_seconds=3600, run=broken),
        "slow": Job(name="slow", every_seconds=60, run=slow),
        "refused": Job(name="refused", every_seconds=3600, run=refused),
    }
    monkeypatch.setattr(jobs, "registered", lambda: registered)
    return seen


async def test_a_failing_job_is_reported_with_its_code_and_the_clock_ends_where_asked(fake_jobs):
    start = await clock.today()

    moved = await clock_days.advance_clock(days=2)

    assert await clock.today() == moved.now.date() == start + timedelta(days=2)
    assert [(run.day - start, run.job, run.outcome, run.error_code) for run in moved.runs] == [
        (timedelta(days=n), job, outcome, code)
        for n in (1, 2)
        for job, outcome, code in (
            ("broken", "FAILED", "JOB_FAILED"),
            ("slow", "DONE", None),
            ("refused", "FAILED", "PROVIDER_UNAVAILABLE"),
        )
    ]
    assert moved.runs[0].summary == "RuntimeError: disk full"
    assert fake_jobs["days"] == [start + timedelta(days=1), start + timedelta(days=2)]
    row = await ScheduledJob.get(name="refused")
    assert (row.runs, row.failures, row.holder) == (2, 2, None)
    assert row.last_error == "DomainError: the provider is closed today"


async def test_a_job_another_process_runs_is_waited_for_then_run_for_the_new_day(fake_jobs):
    start = await clock.today()
    now = system_now()
    # A worker runs `slow` (for the day before) and lets go 0.3 s later.
    await ScheduledJob.create(
        name="slow", next_due_at=now, holder="worker-b:1:x", lease_until=now + timedelta(minutes=1)
    )

    async def worker_finishes() -> None:
        await asyncio.sleep(0.3)
        await ScheduledJob.filter(name="slow").update(
            holder=None, lease_until=None, next_due_at=system_now() + timedelta(seconds=60)
        )

    moved, _ = await asyncio.gather(clock_days.advance_clock(days=1), worker_finishes())

    [slow] = [run for run in moved.runs if run.job == "slow"]
    assert (slow.day, slow.outcome) == (start + timedelta(days=1), "DONE")
    assert fake_jobs["days"] == [start + timedelta(days=1)]


async def test_a_job_held_past_a_lease_is_reported_busy_and_not_run(fake_jobs, monkeypatch):
    monkeypatch.setattr(jobs, "_lease", lambda: timedelta(seconds=0.2))
    now = system_now()
    await ScheduledJob.create(
        name="slow", next_due_at=now, holder="worker-b:1:x", lease_until=now + timedelta(hours=1)
    )
    start = await clock.today()

    moved = await clock_days.advance_clock(days=1)

    [slow] = [run for run in moved.runs if run.job == "slow"]
    assert (slow.outcome, slow.error_code) == ("BUSY", "JOB_BUSY")
    assert fake_jobs["days"] == []
    assert await clock.today() == start + timedelta(days=1)
    assert (await ScheduledJob.get(name="slow")).holder == "worker-b:1:x"


async def test_a_scheduler_loop_and_two_moves_at_once_run_each_job_once_at_a_time(fake_jobs):
    """A worker's loop looks every few milliseconds while two moves of 3 days run at
    once: the moves take turns (no day passed without its jobs, none twice), and the
    lease keeps `slow` from ever running twice at once."""
    start = await clock.today()
    stop = asyncio.Event()
    loop = asyncio.create_task(jobs.run_loop(stop, tick_seconds=0.01))
    try:
        first, second = await asyncio.gather(
            clock_days.advance_clock(days=3), clock_days.advance_clock(days=3)
        )
    finally:
        stop.set()
        await loop

    assert await clock.today() == start + timedelta(days=6)
    moves = sorted([first, second], key=lambda moved: moved.from_day)
    assert [moved.from_day for moved in moves] == [start, start + timedelta(days=3)]
    for moved in moves:
        slow_days = [run.day for run in moved.runs if run.job == "slow"]
        assert slow_days == [moved.from_day + timedelta(days=n) for n in (1, 2, 3)]
    assert fake_jobs["overlaps"] == 0
    # Every day the moves passed had `slow` run on it (the loop's runs add to them).
    assert {start + timedelta(days=n) for n in range(1, 7)} <= set(fake_jobs["days"])


async def test_out_of_range_days_run_nothing(client):
    token = await _admin_token()
    before = await clock.today()
    result = await gql(client, ADVANCE, {"days": 0}, token=token)
    assert result["data"]["devAdvanceClock"] == {
        "__typename": "DevAdvanceClockError",
        "code": "INVALID",
        "field": "days",
    }
    assert await clock.today() == before
    assert not await ScheduledJob.exists()


async def test_when_the_runner_itself_fails_the_clock_still_ends_where_asked(
    fake_jobs, monkeypatch
):
    start = await clock.today()
    real_run_day = clock_days._run_day

    async def database_gone_on_day_two(day: date, registered: Any) -> list[Any]:
        if day == start + timedelta(days=2):
            raise ConnectionError("the database went away")
        return await real_run_day(day, registered)

    monkeypatch.setattr(clock_days, "_run_day", database_gone_on_day_two)
    with pytest.raises(ConnectionError):
        await clock_days.advance_clock(days=4)

    assert await clock.today() == start + timedelta(days=4)
    assert fake_jobs["days"] == [start + timedelta(days=1)]  # days 2-4 left to the scheduler
    advance_row = await ScheduledJob.get(name=clock_days.ADVANCE_ROW)
    assert (advance_row.holder, advance_row.lease_until) == (None, None)  # let go
    monkeypatch.setattr(clock_days, "_run_day", real_run_day)
    assert (await clock_days.advance_clock(days=1)).from_day == start + timedelta(days=4)
