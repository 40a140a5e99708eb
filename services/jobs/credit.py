"""Credit jobs: temporary limits past their expiry end (M2.6), and profiles scored under
an older credit policy are re-scored once the policy (platform parameters) changes."""

from __future__ import annotations

from services.credit import manual_limits, scoring
from services.jobs.registry import register


@register("credit_temporary_limits", every_seconds=3600)
async def end_temporary_limits() -> int:
    return await manual_limits.end_expired_temporary_limits()


@register("credit_policy_reevaluation", every_seconds=600)
async def reevaluate_after_policy_change() -> int:
    return await scoring.reevaluate_stale()
