"""Loan request policy as platform parameters (M1.5, M6.1, M6.2, R2, R3).

Changed at run time with `setPlatformParameter`; the defaults are what a new platform
starts with. Amounts are integer fen, rates decimal strings. The terms of a loan (fees,
review levels, all-in cost) are frozen on it when it is published: a later change of
these parameters applies to later loans only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.credit.policy import GRADES
from services.loans.cost import COST_CAP
from services.platform.parameters import Param

#: R2: a loan raises funds for at most 20 working days.
MAX_BIDDING_WORKING_DAYS = 20
REVIEW_LEVELS = (1, 2, 3)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountRange(_Strict):
    min_fen: Annotated[int, Field(gt=0)]
    max_fen: Annotated[int, Field(gt=0)]

    @model_validator(mode="after")
    def _ordered(self) -> AmountRange:
        if self.min_fen > self.max_fen:
            raise ValueError("min_fen must not exceed max_fen")
        return self


class TermRange(_Strict):
    min_months: Annotated[int, Field(ge=1, le=360)]
    max_months: Annotated[int, Field(ge=1, le=360)]

    @model_validator(mode="after")
    def _ordered(self) -> TermRange:
        if self.min_months > self.max_months:
            raise ValueError("min_months must not exceed max_months")
        return self


class RateRange(_Strict):
    """Nominal annual interest rates a borrower may offer. Never above the R3 cap."""

    min: Annotated[Decimal, Field(ge=0, decimal_places=4)]
    max: Annotated[Decimal, Field(gt=0, le=COST_CAP, decimal_places=4)]

    @model_validator(mode="after")
    def _ordered(self) -> RateRange:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class BiddingWindow(_Strict):
    """Working days (Monday to Friday) a listed loan takes bids: R2 caps it at 20."""

    min_working_days: Annotated[int, Field(ge=1, le=MAX_BIDDING_WORKING_DAYS)]
    max_working_days: Annotated[int, Field(ge=1, le=MAX_BIDDING_WORKING_DAYS)]

    @model_validator(mode="after")
    def _ordered(self) -> BiddingWindow:
        if self.min_working_days > self.max_working_days:
            raise ValueError("min_working_days must not exceed max_working_days")
        return self


class FeeTerms(_Strict):
    """The borrower's fees. A monthly service fee on the amount, paid with each
    installment (a lump sum pays every month's fee with its one installment). Nothing is
    ever deducted from the principal up front (R3)."""

    monthly_service_fee_rate: Annotated[Decimal, Field(ge=0, le=Decimal("0.03"), decimal_places=4)]


class LevelBand(_Strict):
    up_to_fen: Annotated[int, Field(gt=0)] | None  # None: every larger amount
    levels: list[int]


class ReviewLevels(_Strict):
    """M6.2: which manual review levels a loan needs, by amount (first band reached)."""

    bands: list[LevelBand]

    @model_validator(mode="after")
    def _valid(self) -> ReviewLevels:
        if not self.bands or self.bands[-1].up_to_fen is not None:
            raise ValueError("the last band must have up_to_fen null (every larger amount)")
        limits = [band.up_to_fen for band in self.bands[:-1]]
        if any(limit is None for limit in limits) or limits != sorted(set(limits)):  # type: ignore[type-var]
            raise ValueError("up_to_fen must rise strictly, and only the last band is null")
        for band in self.bands:
            levels = band.levels
            if len(levels) < 2:
                raise ValueError("every band needs at least two review levels")
            if levels != list(REVIEW_LEVELS[: len(levels)]):
                raise ValueError("levels must ascend from 1 without gaps (1, 2 or 1, 2, 3)")
        return self

    def levels_for(self, amount_fen: int) -> list[int]:
        for band in self.bands:
            if band.up_to_fen is None or amount_fen <= band.up_to_fen:
                return list(band.levels)
        raise AssertionError("the last band is open-ended")  # pragma: no cover


class RuleKind(StrEnum):
    MIN_GRADE = "MIN_GRADE"  # params: grade (the worst grade accepted)
    MAX_AMOUNT_SHARE_OF_AVAILABLE = "MAX_AMOUNT_SHARE_OF_AVAILABLE"  # params: share
    RATE_RANGE = "RATE_RANGE"  # params: min, max (nominal annual rate)
    NOT_BLACKLISTED = "NOT_BLACKLISTED"
    NOT_FROZEN = "NOT_FROZEN"


class AutoRule(_Strict):
    kind: RuleKind
    grade: str | None = None
    share: Annotated[Decimal, Field(gt=0, le=1, decimal_places=4)] | None = None
    min: Annotated[Decimal, Field(ge=0, decimal_places=4)] | None = None
    max: Annotated[Decimal, Field(ge=0, decimal_places=4)] | None = None

    @model_validator(mode="after")
    def _params(self) -> AutoRule:
        given = {
            name for name in ("grade", "share", "min", "max") if getattr(self, name) is not None
        }
        needed = {
            RuleKind.MIN_GRADE: {"grade"},
            RuleKind.MAX_AMOUNT_SHARE_OF_AVAILABLE: {"share"},
            RuleKind.RATE_RANGE: {"min", "max"},
        }.get(self.kind, set())
        if given != needed:
            wanted = ", ".join(sorted(needed)) or "no parameters"
            raise ValueError(f"{self.kind.value} takes {wanted}")
        if self.grade is not None and self.grade not in GRADES:
            raise ValueError(f"grade must be one of {', '.join(GRADES)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class AutoBidShare(_Strict):
    """M1.7: the share of a loan's amount automatic bids may fill, so manual bidders get
    the rest (0 turns automatic bidding off, 1 lets it fill the whole loan)."""

    share: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]


class AutoReviewRules(_Strict):
    """M6.1: the automatic review, as data. Every rule is evaluated and recorded."""

    rules: list[AutoRule]


AMOUNT_RANGE = Param(
    "loans.amountRange",
    AmountRange,
    {"min_fen": 100_000, "max_fen": 20_000_000},
    "Smallest and largest loan request, in fen (default 1,000.00 to 200,000.00).",
)

TERM_RANGE = Param(
    "loans.termRange",
    TermRange,
    {"min_months": 1, "max_months": 36},
    "Shortest and longest loan term, in months.",
)

RATE_RANGE = Param(
    "loans.rateRange",
    RateRange,
    {"min": "0.0500", "max": "0.2400"},
    "Lowest and highest nominal annual interest rate a request may offer (at most the "
    "R3 cap of 0.36; the all-in cost with fees is checked against the cap as well).",
)

BIDDING_WINDOW = Param(
    "loans.biddingWindow",
    BiddingWindow,
    {"min_working_days": 1, "max_working_days": MAX_BIDDING_WORKING_DAYS},
    "How many working days (Monday to Friday) a borrower may give the bidding window; "
    "R2 caps it at 20.",
)

FEE_TERMS = Param(
    "loans.fees",
    FeeTerms,
    {"monthly_service_fee_rate": "0.0030"},
    "The borrower's monthly service fee, a share of the amount paid with each "
    "installment. No fee is ever taken from the principal up front (R3).",
)

LEVELS = Param(
    "loans.reviewLevels",
    ReviewLevels,
    {
        "bands": [
            {"up_to_fen": 5_000_000, "levels": [1, 2]},
            {"up_to_fen": None, "levels": [1, 2, 3]},
        ]
    },
    "M6.2: the manual review levels a loan needs by amount (the first band whose "
    "up_to_fen it does not exceed; the last band is open). At least two levels each.",
)

AUTO_REVIEW = Param(
    "loans.autoReview",
    AutoReviewRules,
    {
        "rules": [
            {"kind": "NOT_BLACKLISTED"},
            {"kind": "NOT_FROZEN"},
            {"kind": "MIN_GRADE", "grade": "E"},
            {"kind": "MAX_AMOUNT_SHARE_OF_AVAILABLE", "share": "1.0000"},
            {"kind": "RATE_RANGE", "min": "0.0500", "max": "0.2400"},
        ]
    },
    "M6.1: the automatic review rules, all evaluated on publishing: NOT_BLACKLISTED, "
    "NOT_FROZEN, MIN_GRADE (grade: the worst accepted), MAX_AMOUNT_SHARE_OF_AVAILABLE "
    "(share of the available limit), RATE_RANGE (min, max). Any failure rejects.",
)

AUTO_BID_SHARE = Param(
    "loans.autoBidShare",
    AutoBidShare,
    {"share": "0.5000"},
    "M1.7: the share of each loan's amount that automatic bids may fill at listing "
    "(rounded down to the fen); manual bidders get the rest.",
)


def add_working_days(start: datetime, days: int) -> datetime:
    """`days` working days after `start`, at the same time of day. Working days are
    Monday to Friday for now (public holidays and make-up working days are not modelled):
    Friday 10:00 + 1 is Monday 10:00, Saturday 10:00 + 1 is Monday 10:00 too."""
    if days < 0:
        raise ValueError("days must not be negative")
    moment = start
    while days:
        moment += timedelta(days=1)
        if moment.weekday() < _SATURDAY:
            days -= 1
    return moment


_SATURDAY = 5
