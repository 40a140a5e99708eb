"""Platform and risk figures: bad dates become BAD_USER_INPUT (queries have no union)."""

from __future__ import annotations

from datetime import date

from strawberry.types import Info

from schema.errors import BadUserInputError
from schema.scalars import Money, Rate
from schema.types.platform import figures as t
from services.analytics import figures, risk
from services.errors import InvalidInputError


async def platform_figures(
    info: Info, as_of: date | None = None, since: date | None = None
) -> t.PlatformFigures:
    try:
        found = await figures.platform_figures(await info.context.get_actor(), as_of, since)
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return t.PlatformFigures(
        as_of=found.as_of,
        since=found.since,
        cumulative_volume=Money(found.cumulative_volume),
        cumulative_loan_count=found.cumulative_count,
        period_volume=Money(found.period_volume),
        period_loan_count=found.period_count,
        outstanding_principal=Money(found.outstanding_principal),
        outstanding_interest=Money(found.outstanding_interest),
        outstanding_loan_count=found.outstanding_count,
        members_registered=found.members,
        active_borrowers=found.active_borrowers,
        active_lenders=found.active_lenders,
        average_annual_rate=Rate(found.average_rate),
        average_term_months=str(found.average_term_months),
        top10_borrowers_share=Rate(found.top_borrowers_share),
        largest_borrower_share=Rate(found.largest_borrower_share),
        related_party_loan_count=found.related_party_count,
        related_party_outstanding=Money(found.related_party_outstanding),
    )


async def risk_figures(info: Info, as_of: date | None = None) -> t.RiskFigures:
    try:
        found = await risk.risk_figures(await info.context.get_actor(), as_of)
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return t.RiskFigures(
        as_of=found.as_of,
        buckets=[
            t.OverdueBucketFigures(
                bucket=t.OverdueBucket(row.bucket),
                loan_count=row.loans,
                amount=Money(row.amount),
                principal=Money(row.principal),
            )
            for row in found.buckets
        ],
        overdue_loan_count=found.overdue_loans,
        overdue_amount=Money(found.overdue_amount),
        overdue_principal=Money(found.overdue_principal),
        outstanding_loan_count=found.outstanding_loans,
        outstanding_principal=Money(found.outstanding_principal),
        overdue_rate_by_count=Rate(found.overdue_rate_by_count),
        overdue_rate_by_amount=Rate(found.overdue_rate_by_amount),
        bad_debt_principal=Money(found.bad_debt_principal),
        bad_debt_rate=Rate(found.bad_debt_rate),
        vintages=[
            t.VintageCurve(
                cohort=curve.cohort,
                loan_count=curve.loans,
                principal=Money(curve.principal),
                points=[Rate(point) for point in curve.points],
            )
            for curve in found.vintages
        ],
        reserve_advance_count=found.reserve_advance_count,
        reserve_advanced=Money(found.reserve_advanced),
        reserve_recovered=Money(found.reserve_recovered),
    )
