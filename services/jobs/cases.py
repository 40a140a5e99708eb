"""Service cases' SLA clock (issue 22, M5.3): cases near their SLA are warned, those past
it marked breached, each notified once per wait (`services.cases.sla`). Idempotent: a
case marked is not marked again."""

from __future__ import annotations

from services.cases import sla
from services.jobs.registry import register


@register("cases_sla", every_seconds=3_600)
async def cases_sla() -> sla.SlaRun:
    """Warn and mark breaches; how many of each."""
    return await sla.run()
