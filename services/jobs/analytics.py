"""The daily figure snapshots job (issue 19): once a business day, each closed day of the
last week without a snapshot gets its platform figures, risk figures and platform-wide
returns stored (`services.analytics.snapshots`).

Idempotent: a day already taken is skipped, and (`day`, `figure`) is unique in
`figure_snapshots`, so a second run, or a second worker racing this one, stores nothing
more.
"""

from __future__ import annotations

from services.analytics import snapshots
from services.jobs.registry import register


@register("analytics_snapshots", every_seconds=86_400)
async def analytics_snapshots() -> str:
    """Snapshot the closed days that lack one; says which."""
    return (await snapshots.take_missing()).summary
