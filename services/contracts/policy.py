"""Contract policy values that change at run time (platform parameters, M11.3)."""

from __future__ import annotations

from services.platform.parameters import Param
from services.platform.retention import FiveYearsOrMore

RETENTION = Param(
    "contracts.retention",
    FiveYearsOrMore,
    {"years": 5},
    "R6: years a contract is kept after its loan ends (at least 5). The archive keeps "
    "every contract until then; nothing in it is changed or deleted before.",
)
