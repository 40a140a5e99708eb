"""What each external source answers (M2.7), as strict shapes parsed from JSON, and the
calendar-month windows the signals are read over.
"""

from __future__ import annotations

import calendar
import datetime as dt
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NonNegative = Annotated[int, Field(ge=0)]


class _Shape(BaseModel):
    # Strict, parsed from JSON: no floats or strings for integers, no unknown keys (so
    # nothing the shape does not name, personal data included, can slip into a row).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BureauOverdueItem(_Shape):
    date: dt.date
    amount_fen: NonNegative
    days: Annotated[int, Field(ge=1)]
    lender: Annotated[str, Field(max_length=200)]


class CreditBureauReport(_Shape):
    overdue_items: list[BureauOverdueItem]
    outstanding_debt_fen: NonNegative
    monthly_debt_payment_fen: NonNegative


class CourtCase(_Shape):
    case_no: Annotated[str, Field(max_length=100)]
    filed_on: dt.date
    kind: Annotated[str, Field(max_length=50)]
    status: Literal["open", "closed"]


class CourtReport(_Shape):
    cases: list[CourtCase]


class NegativeHit(_Shape):
    title: Annotated[str, Field(max_length=500)]
    source: Annotated[str, Field(max_length=200)]
    date: dt.date


class ReputationReport(_Shape):
    negative_hits: list[NegativeHit]


class PlatformLoan(_Shape):
    platform: Annotated[str, Field(max_length=200)]
    outstanding_fen: NonNegative
    overdue: bool


class IndustrySharingReport(_Shape):
    platforms: list[PlatformLoan]
    total_outstanding_fen: NonNegative


Report = CreditBureauReport | CourtReport | ReputationReport | IndustrySharingReport


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, clamped to that month's last day
    (31 August minus 6 months is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def within_months(item_date: date, today: date, months: int) -> bool:
    """Dated in the last `months` months: after `months_before(today, months)`, not after
    today. An item exactly `months` months old is outside."""
    return months_before(today, months) < item_date <= today
