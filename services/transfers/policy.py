"""The secondary market's rules as one platform parameter (`transfers.rules`), changed at
run time with `setPlatformParameter` like the others."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.platform.parameters import Param


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The smallest principal listed or bought (fen), unless it is all there is.
    min_unit_fen: Annotated[int, Field(ge=1)]
    #: How many days a holding must be held before it may be listed.
    min_days_held: Annotated[int, Field(ge=0, le=3650)]
    #: The bounds of a listing's discount (negative) or premium.
    min_rate: Annotated[Decimal, Field(ge=Decimal("-0.9"), le=0, decimal_places=4)]
    max_rate: Annotated[Decimal, Field(ge=0, le=Decimal("0.5"), decimal_places=4)]
    #: The platform's fee, a share of the price, charged to the seller.
    fee_rate: Annotated[Decimal, Field(ge=0, le=Decimal("0.1"), decimal_places=4)]
    #: How long a listing stays open unless sold or cancelled.
    listing_days: Annotated[int, Field(ge=1, le=365)]
    #: Whether a claim of an overdue loan may be listed (shown on the listing).
    allow_overdue: bool

    @model_validator(mode="after")
    def _bounds(self) -> Rules:
        if self.min_rate > self.max_rate:
            raise ValueError("min_rate must not be above max_rate")
        return self


RULES = Param(
    "transfers.rules",
    Rules,
    {
        "min_unit_fen": 10_000,
        "min_days_held": 30,
        "min_rate": "-0.2000",
        "max_rate": "0.0500",
        "fee_rate": "0.0050",
        "listing_days": 30,
        "allow_overdue": False,
    },
    "The secondary market: the smallest principal listed or bought (fen), the days a "
    "claim is held before it may be listed, the bounds of a listing's discount or "
    "premium, the transfer fee (a share of the price, paid by the seller), how many "
    "days a listing stays open, and whether claims of overdue loans may be listed.",
)
