"""The `dashboardFigures` subscription: the process's one feed (services/analytics/
dashboard_feed.py), each reading mapped to its GraphQL type for this subscriber."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import ROUND_HALF_UP, Decimal

import strawberry
from strawberry.types import Info

from schema.scalars import Money, Rate
from schema.types.platform import dashboard as t
from schema.types.platform import figures as f
from services.analytics.dashboard import DashboardFigures
from services.analytics.dashboard_feed import FEED


async def dashboard_figures(info: Info) -> AsyncGenerator[t.DashboardFigures]:
    async with FEED.join() as readings:
        async for figures in readings:
            yield _view(figures)


def _view(figures: DashboardFigures) -> t.DashboardFigures:
    return t.DashboardFigures(
        business_time=figures.business_time,
        today=figures.today,
        volume_today=Money(figures.volume_today),
        loans_disbursed_today=figures.loans_disbursed_today,
        bids_last_minute=figures.bids_last_minute,
        bid_amount_last_minute=Money(figures.bid_amount_last_minute),
        hot_loans=[
            t.HotLoanFunding(
                loan_id=strawberry.ID(str(loan.loan_id)),
                amount=Money(loan.amount),
                funded=Money(loan.funded),
                remaining=Money(loan.remaining),
                progress=Rate(loan.progress),
                bids_last_hour=loan.bids_last_hour,
            )
            for loan in figures.hot_loans
        ],
        overdue=[
            f.OverdueBucketFigures(
                bucket=f.OverdueBucket(row.bucket),
                loan_count=row.loans,
                amount=Money(row.amount),
                principal=Money(row.principal),
            )
            for row in figures.overdue
        ],
        vintages=[
            f.VintageCurve(
                cohort=curve.cohort,
                loan_count=curve.loans,
                principal=Money(curve.principal),
                points=[Rate(point) for point in curve.points],
            )
            for curve in figures.vintages
        ],
        complaints=t.ComplaintFigures(
            open=figures.complaints.open,
            breaching=figures.complaints.breaching,
            opened_today=figures.complaints.opened_today,
            average_first_answer_minutes=_minutes(figures.complaints.average_first_answer_seconds),
        ),
    )


def _minutes(seconds: Decimal | None) -> int | None:
    if seconds is None:
        return None
    return int((seconds / 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))
