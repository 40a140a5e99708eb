"""Repayment jobs on the business clock: the signed auto-debit of installments due today
(M4.3; once per installment and day, see `services.repayments.autodebit.auto_debit_due`),
and the daily overdue run (M9.2, M9.3: warnings, overdue, penalty, buckets), checked
hourly, run once per business day."""

from __future__ import annotations

from datetime import date

# `compensation`: so that a worker's overdue run has the guarantors' compensation hook;
# `collateral`: so that it knows the outcome of a disposal's proceeds.
from services import collateral
from services.guarantees import compensation
from services.jobs.registry import register
from services.platform import clock
from services.repayments import autodebit, overdue


@register("repayments_auto_debit", every_seconds=3600)
async def auto_debit_due() -> int:
    return await autodebit.auto_debit_due()


# The last business day this process ran it. The run is idempotent per day in the
# database as well, so a second runner (or a restart) only costs a scan.
_last_day: list[date] = []


@register("repayments_overdue_daily", every_seconds=3600)
async def overdue_daily() -> str:
    today = await clock.today()
    if _last_day and _last_day[0] == today:
        return "done today"
    report = await overdue.run_daily(today)
    _last_day[:] = [today]
    return repr(report)


__all__ = ["collateral", "compensation"]
