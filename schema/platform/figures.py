"""Root fields: platform and risk figures (M12.1, M12.2) for staff."""

from __future__ import annotations

import strawberry

from resolvers.platform import figures as r
from schema.directives import auth
from schema.types.platform import figures as t
from services.identity.permissions import Permission


@strawberry.type
class FiguresQuery:
    platform_figures: t.PlatformFigures = strawberry.field(
        resolver=r.platform_figures,
        extensions=auth(Permission.ANALYTICS_READ),
        description="Volume, outstanding, members, borrowers and lenders, average rate and "
        "term, concentration, at the end of business day asOf (default today); the period "
        "from since (default the first of asOf's month). BAD_USER_INPUT for a day before the "
        "platform's first or after today, since after asOf, or a period over 366 days.",
    )
    risk_figures: t.RiskFigures = strawberry.field(
        resolver=r.risk_figures,
        extensions=auth(Permission.ANALYTICS_READ),
        description="Overdue by aging bucket, overdue and bad-debt rates, vintage curves and "
        "risk-reserve advances at the end of business day asOf (default today). "
        "BAD_USER_INPUT for a day before the platform's first or after today.",
    )
