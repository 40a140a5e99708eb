"""Overdue policy as platform parameters (M9.2, M9.3, R3, R5), and the aging buckets.

Changed at run time with `setPlatformParameter`. Rates are decimal strings, days ints.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.platform.parameters import Param

#: The highest daily penalty rate accepted: 0.09 % a day is at most 2.79 % in a 31-day
#: month, below the 3 % a month of the R3 cap (36 % a year, monthly IRR x 12), so penalty
#: interest can never lift the all-in cost of a loan within R3 above it (decisions.md).
MAX_PENALTY_DAILY_RATE = Decimal("0.0009")
#: Penalty is kept exactly in millionths of a fen: a rate has at most 6 decimal places.
PENALTY_SCALE = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarnDays(_Strict):
    """M9.2: how many days before a due date the borrower is warned (0: on the day)."""

    days: Annotated[int, Field(ge=0, le=30)]


class PenaltyRate(_Strict):
    """M9.3: penalty interest a day on the unpaid principal and interest of an overdue
    installment (0.0005 = 0.05 % a day)."""

    daily_rate: Annotated[Decimal, Field(ge=0, le=MAX_PENALTY_DAILY_RATE, decimal_places=6)]


class ReserveAdvanceSettings(_Strict):
    """Risk-reserve advance: when enabled, holders of an installment overdue `after_days`
    or more are paid its unpaid principal and interest from the risk reserve, which takes
    that part of their claim over. Off by default: a platform guarantee (R5)."""

    enabled: bool
    after_days: Annotated[int, Field(ge=1, le=3650)]


WARN_DAYS = Param(
    "repayments.warnDays",
    WarnDays,
    {"days": 3},
    "M9.2: days before a due date the borrower is warned (in-app notice and SMS), once.",
)

PENALTY_RATE = Param(
    "repayments.penaltyDailyRate",
    PenaltyRate,
    {"daily_rate": "0.0005"},
    "M9.3: penalty interest a day on an overdue installment's unpaid principal and "
    "interest (at most 0.0009 so the all-in cost stays within R3). Applies from the next "
    "day accrued.",
)

RESERVE_ADVANCE = Param(
    "repayments.reserveAdvance",
    ReserveAdvanceSettings,
    {"enabled": False, "after_days": 30},
    "Risk-reserve advance to lenders of installments overdue after_days or more; off by "
    "default (R5: the platform never guarantees principal or interest itself).",
)


class Bucket(StrEnum):
    """Aging buckets by days past due (M9.3, M12.2)."""

    M1 = "M1"  # 1-30 days
    M2 = "M2"  # 31-60
    M3 = "M3"  # 61-90
    M3_PLUS = "M3_PLUS"  # more than 90


def bucket(days: int) -> Bucket | None:
    """The aging bucket of an installment `days` past its due date; None when not overdue
    (0 or fewer days). 1-30 M1, 31-60 M2, 61-90 M3, 91 and more M3_PLUS."""
    if days <= 0:
        return None
    if days <= 30:
        return Bucket.M1
    if days <= 60:
        return Bucket.M2
    if days <= 90:
        return Bucket.M3
    return Bucket.M3_PLUS
