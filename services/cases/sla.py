"""The SLA clock of service cases (M5.3), run by the `cases_sla` job (hourly, and for
each day the dev clock passes: docs/clock.md), on the business clock.

A case waiting for the platform (OPEN) past its `warn_at` (cases.slaWarning of its
kind's hours, 80 % by default) is warned: a notice to its assignee, or to every case
staff member while it is unassigned. Past its `due_at` it is breached: the same
recipients are told, and the case counts a breach. Each is marked on the case
(`warned_at`, `breached_at`) by a conditional UPDATE, so each is notified once per wait
however often and on however many processes the job runs; a case that is breached
before it was ever warned (the clock moved past both at once) is told once, breached.
A new wait (the member answers or reopens) resets both.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.cases import CaseStatus, ServiceCase
from services.cases import notices
from services.platform import clock, outbox


@dataclass(frozen=True)
class SlaRun:
    warned: int
    breached: int


async def _mark(case: ServiceCase, *, breached: bool) -> bool:
    """Mark the case warned or breached unless another run did; tell whom it concerns."""
    now = await clock.now()
    async with in_transaction():
        if breached:
            updated = await ServiceCase.filter(
                id=case.id, status=CaseStatus.OPEN, breached_at__isnull=True, due_at__lte=now
            ).update(breached_at=now, warned_at=now, breaches=F("breaches") + 1)
        else:
            updated = await ServiceCase.filter(
                id=case.id, status=CaseStatus.OPEN, warned_at__isnull=True, warn_at__lte=now
            ).update(warned_at=now)
        if not updated:
            return False
        what = "breached its SLA" if breached else "is near its SLA"
        await notices.tell_staff(
            case,
            kind="SERVICE_CASE_SLA_BREACHED" if breached else "SERVICE_CASE_SLA_WARNING",
            title=f"Case {case.id} {what}",
            body=f"{case.kind} {case.id}: {case.subject}. Due {case.due_at:%Y-%m-%d %H:%M} UTC.",
        )
    return True


async def run() -> SlaRun:
    """Warn the cases near their SLA and mark those past it; how many of each."""
    now = await clock.now()
    breached = warned = 0
    late = ServiceCase.filter(status=CaseStatus.OPEN, breached_at__isnull=True, due_at__lte=now)
    for case in await late.order_by("id"):
        breached += await _mark(case, breached=True)
    near = ServiceCase.filter(status=CaseStatus.OPEN, warned_at__isnull=True, warn_at__lte=now)
    for case in await near.order_by("id"):
        warned += await _mark(case, breached=False)
    if warned or breached:
        outbox.wake()
    return SlaRun(warned=warned, breached=breached)
