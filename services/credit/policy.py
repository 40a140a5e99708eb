"""Credit policy as platform parameters (M2.4-M2.6, R1, M11.3).

Everything here can be changed at run time with `setPlatformParameter`; the defaults are
what a new platform starts with. Amounts are integer fen, rates decimal strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.credit.catalogue import KINDS
from services.platform.parameters import Param

GRADES = ("AA", "A", "B", "C", "D", "E", "HR")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradeBand(_Strict):
    grade: str
    min_score: int
    limit_fen: Annotated[int, Field(ge=0)]


class GradeTable(_Strict):
    """Bands from the best grade down; a score takes the first band it reaches."""

    bands: list[GradeBand]

    @model_validator(mode="after")
    def _ordered(self) -> GradeTable:
        if [band.grade for band in self.bands] != list(GRADES):
            raise ValueError(f"bands must be exactly {', '.join(GRADES)}, in that order")
        scores = [band.min_score for band in self.bands]
        if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
            raise ValueError("min_score must fall strictly from AA to HR")
        limits = [band.limit_fen for band in self.bands]
        if limits != sorted(limits, reverse=True):
            raise ValueError("limit_fen must not rise from AA to HR")
        return self


class Scorecard(_Strict):
    """Points: approved items (by kind), repayment history and outside records."""

    item_points: dict[str, Annotated[int, Field(ge=0, le=100)]]
    on_time_points: Annotated[int, Field(ge=0, le=20)]  # per installment repaid on time
    on_time_max: Annotated[int, Field(ge=0, le=200)]  # at most this much from history
    overdue_points: Annotated[int, Field(le=0, ge=-100)]  # per installment that went overdue
    court_case_points: Annotated[int, Field(le=0, ge=-100)]  # per court case on record
    bureau_overdue_points: Annotated[int, Field(le=0, ge=-100)]  # per credit-report overdue
    negative_news_points: Annotated[int, Field(le=0, ge=-100)]  # per negative news hit
    other_platform_overdue_points: Annotated[int, Field(le=0, ge=-100)]

    @model_validator(mode="after")
    def _known_kinds(self) -> Scorecard:
        unknown = set(self.item_points) - {kind.code for kind in KINDS}
        if unknown:
            raise ValueError(f"unknown verification kinds: {', '.join(sorted(unknown))}")
        return self


class BorrowingCaps(_Strict):
    """R1: most a borrower may owe, on this platform and across platforms."""

    person_fen: Annotated[int, Field(ge=0)]
    person_all_platforms_fen: Annotated[int, Field(ge=0)]
    company_fen: Annotated[int, Field(ge=0)]
    company_all_platforms_fen: Annotated[int, Field(ge=0)]


class AutoAdjustment(_Strict):
    """M2.5: how repayment behaviour moves the limit, as shares of the grade's limit."""

    raise_per_on_time: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
    max_raise: Annotated[Decimal, Field(ge=0, le=5, decimal_places=4)]
    lower_per_overdue: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
    freeze_after_days: Annotated[int, Field(ge=1, le=3650)]  # M2.6: serious overdue


SCORECARD = Param(
    "credit.scorecard",
    Scorecard,
    {
        "item_points": {kind.code: kind.score for kind in KINDS},
        "on_time_points": 2,
        "on_time_max": 40,
        "overdue_points": -10,
        "court_case_points": -30,
        "bureau_overdue_points": -5,
        "negative_news_points": -10,
        "other_platform_overdue_points": -15,
    },
    "Credit score: points per approved verification kind, per on-time and overdue "
    "installment (history capped at on_time_max) and per adverse outside record.",
)

GRADE_TABLE = Param(
    "credit.grades",
    GradeTable,
    {
        "bands": [
            {"grade": "AA", "min_score": 130, "limit_fen": 20_000_000},
            {"grade": "A", "min_score": 115, "limit_fen": 10_000_000},
            {"grade": "B", "min_score": 100, "limit_fen": 5_000_000},
            {"grade": "C", "min_score": 85, "limit_fen": 3_000_000},
            {"grade": "D", "min_score": 70, "limit_fen": 1_000_000},
            {"grade": "E", "min_score": 55, "limit_fen": 500_000},
            {"grade": "HR", "min_score": -1000, "limit_fen": 0},
        ]
    },
    "Grades from score (first band reached, AA down to HR) and the credit limit each "
    "grade gives, in fen. A member lacking any item required for borrowing gets no limit.",
)

BORROWING_CAPS = Param(
    "credit.borrowingCaps",
    BorrowingCaps,
    {
        "person_fen": 20_000_000,
        "person_all_platforms_fen": 100_000_000,
        "company_fen": 100_000_000,
        "company_all_platforms_fen": 500_000_000,
    },
    "R1: the most a person or company may owe on this platform, and across all "
    "platforms (other platforms' debts come from the industry-sharing source), in fen.",
)

AUTO_ADJUSTMENT = Param(
    "credit.autoAdjustment",
    AutoAdjustment,
    {
        "raise_per_on_time": "0.0200",
        "max_raise": "0.5000",
        "lower_per_overdue": "0.1000",
        "freeze_after_days": 90,
    },
    "M2.5/M2.6: each on-time installment raises the limit by raise_per_on_time of the "
    "grade's limit (in all at most max_raise of it); each overdue one lowers it by "
    "lower_per_overdue; overdue freeze_after_days or more freezes the limit.",
)
