"""The live dashboard's figures (M12.4): the `dashboardFigures` subscription's events."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from schema.scalars import Money, Rate
from schema.types.platform.figures import OverdueBucketFigures, VintageCurve


@strawberry.type(description="A listed loan among those with the most bids in the last hour.")
class HotLoanFunding:
    loan_id: strawberry.ID = strawberry.field(description="The loan.")
    amount: Money = strawberry.field(description="What the borrower asks.")
    funded: Money = strawberry.field(description="What accepted bids cover so far.")
    remaining: Money = strawberry.field(description="amount - funded.")
    progress: Rate = strawberry.field(description="funded / amount (four places, half-up).")
    bids_last_hour: int = strawberry.field(description="Bids accepted in the last hour.")


@strawberry.type(description="Complaints (service cases of kind COMPLAINT, M5.3).")
class ComplaintFigures:
    open: int = strawberry.field(description="Complaints not closed.")
    breaching: int = strawberry.field(
        description="Complaints waiting for the platform past their SLA (cases.slaHours)."
    )
    opened_today: int = strawberry.field(description="Complaints opened today.")
    average_first_answer_minutes: int | None = strawberry.field(
        description="Average minutes from opening to the first staff answer (or closing) "
        "over the complaints answered (whole minutes, half-up); null while none was."
    )


@strawberry.type(
    description="What the live dashboard shows, as of businessTime (M12.4). Pushed when a "
    "figure changed, at most once a second."
)
class DashboardFigures:
    business_time: datetime = strawberry.field(
        description="Business time (UTC) of the reading that found these figures."
    )
    today: date = strawberry.field(description="The business day of the reading.")
    volume_today: Money = strawberry.field(
        description="Principal of the loans disbursed today, up to businessTime."
    )
    loans_disbursed_today: int = strawberry.field(description="Loans disbursed today.")
    bids_last_minute: int = strawberry.field(
        description="Bids accepted in the minute up to businessTime (money frozen for a "
        "loan; whatever became of them since)."
    )
    bid_amount_last_minute: Money = strawberry.field(description="What those bids froze.")
    hot_loans: list[HotLoanFunding] = strawberry.field(
        description="Up to 5 listed loans with the most bids accepted in the last hour, "
        "the most bid first (then the oldest loan); empty when no listed loan had one."
    )
    overdue: list[OverdueBucketFigures] = strawberry.field(
        description="Overdue by aging bucket at the end of today (riskFigures.buckets: M1, "
        "M2, M3_PLUS, OVER_90); refreshed every 10 seconds and when the day changes."
    )
    vintages: list[VintageCurve] = strawberry.field(
        description="The vintage curves of the newest 6 monthly cohorts, oldest first "
        "(riskFigures.vintages); refreshed with overdue."
    )
    complaints: ComplaintFigures = strawberry.field(description="The complaints' figures.")
