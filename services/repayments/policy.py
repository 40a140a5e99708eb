"""Repayment policy as platform parameters (M1.6, M11.3, R3).

Changed at run time with `setPlatformParameter`. Shares are decimal strings.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.platform.parameters import Param


class Part(StrEnum):
    """The parts of what an installment asks for."""

    PENALTY = "PENALTY"
    INTEREST = "INTEREST"
    PRINCIPAL = "PRINCIPAL"
    FEE = "FEE"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocationOrder(_Strict):
    """In which order a payment settles the parts of an installment: each part once."""

    order: list[Part]

    @field_validator("order")
    @classmethod
    def _each_once(cls, value: list[Part]) -> list[Part]:
        if sorted(value) != sorted(Part):
            raise ValueError("order must name PENALTY, INTEREST, PRINCIPAL and FEE once each")
        return value


class Share(_Strict):
    share: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]


class EarlyFee(_Strict):
    """A share of the principal repaid early; capped so the loan's all-in cost stays
    within R3 (36 %)."""

    share: Annotated[Decimal, Field(ge=0, le=Decimal("0.1"), decimal_places=4)]


ALLOCATION_ORDER = Param(
    "repayments.allocationOrder",
    AllocationOrder,
    {"order": ["PENALTY", "INTEREST", "PRINCIPAL", "FEE"]},
    "The order in which a payment settles an installment's parts (penalty interest first, "
    "then interest, principal, the service fee last).",
)

RISK_RESERVE_SHARE = Param(
    "repayments.riskReserveShare",
    Share,
    {"share": "0.0000"},
    "The share of every installment's service fee that goes to the "
    "risk-reserve account instead of the fee account (rounded down to the fen; the "
    "early-repayment fee goes to the fee account whole).",
)

EARLY_FEE = Param(
    "repayments.earlyFee",
    EarlyFee,
    {"share": "0.0100"},
    "The early-repayment fee, a share of the principal repaid early (half-up to the fen); "
    "lowered when needed so the loan's all-in cost stays within the R3 cap of 0.36.",
)
