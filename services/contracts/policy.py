"""Contract policy values that change at run time (platform parameters, M11.3)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.platform.parameters import Param


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    years: int = Field(strict=True, ge=5, le=100)


RETENTION = Param(
    "contracts.retention",
    Retention,
    {"years": 5},
    "R6: years a contract is kept after its loan ends (at least 5). The archive keeps "
    "every contract until then; nothing in it is changed or deleted before.",
)
