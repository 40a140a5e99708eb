"""Root field: the live dashboard's figures for staff (M12.4)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry

from resolvers.platform import dashboard as r
from schema.directives import auth
from schema.types.platform import dashboard as t
from services.identity.permissions import Permission


@strawberry.type
class DashboardSubscription:
    # The decorator form of `strawberry.subscription(...)` is typed as returning Any (the
    # other subscription modules are excused in pyproject.toml's mypy overrides).
    @strawberry.subscription(
        extensions=auth(Permission.ANALYTICS_READ),
        description="The live dashboard's figures: the current ones at once, then each "
        "time one changes, at most once a second. Read once per server process for all "
        "its subscribers; a subscriber too slow to send every change gets the newest.",
    )
    async def dashboard_figures(
        self, info: strawberry.Info
    ) -> AsyncGenerator[t.DashboardFigures, None]:
        # Closed with the subscription, so the feed counts this subscriber gone at once.
        async with contextlib.aclosing(r.dashboard_figures(info)) as readings:
            async for figures in readings:
                yield figures
