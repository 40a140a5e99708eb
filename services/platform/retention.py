"""Retention periods (D2, R6): each kind of record has its period as a platform parameter,
never below the legal minimum. docs/retention.md says what each kind covers, when its
period starts and what the purge does with it.

| kind              | parameter                     | default    | legal minimum (R6) |
|-------------------|-------------------------------|------------|--------------------|
| transactions      | `retention.transactions`      | 5 years    | 5 years after the loan ends |
| contracts         | `contracts.retention`         | 5 years    | 5 years after the loan ends |
| interaction logs  | `retention.interaction_logs`  | 5 years    | 5 years after the loan ends |
| credit materials  | `retention.credit_materials`  | 5 years    | 5 years after the loan ends |
| access logs       | `retention.access_logs`       | 6 months   | 6 months           |

`setPlatformParameter` refuses a value below the minimum (INVALID). The purge reads the
stored values itself (`periods`), not through the parameters' fallback to the default,
so a value below the minimum that reached the table some other way (an older release, a
hand edit) stops it with `RetentionPolicyError` before it deletes anything.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.system import PlatformParameter
from services.errors import DomainError
from services.platform import parameters
from services.platform.parameters import Param


class RecordKind(StrEnum):
    TRANSACTIONS = "transactions"
    CONTRACTS = "contracts"
    INTERACTION_LOGS = "interaction_logs"
    CREDIT_MATERIALS = "credit_materials"
    ACCESS_LOGS = "access_logs"


class Unit(StrEnum):
    YEARS = "years"
    MONTHS = "months"


@dataclass(frozen=True)
class Rule:
    kind: RecordKind
    parameter: str
    unit: Unit
    minimum: int  # R6, in `unit`


RULES = (
    Rule(RecordKind.TRANSACTIONS, "retention.transactions", Unit.YEARS, 5),
    # Declared by the contracts (services/contracts/policy.py): it also sets each
    # contract's `retain_until` when it is signed and when its loan ends.
    Rule(RecordKind.CONTRACTS, "contracts.retention", Unit.YEARS, 5),
    Rule(RecordKind.INTERACTION_LOGS, "retention.interaction_logs", Unit.YEARS, 5),
    Rule(RecordKind.CREDIT_MATERIALS, "retention.credit_materials", Unit.YEARS, 5),
    Rule(RecordKind.ACCESS_LOGS, "retention.access_logs", Unit.MONTHS, 6),
)


class FiveYearsOrMore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    years: int = Field(strict=True, ge=5, le=100)


class SixMonthsOrMore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    months: int = Field(strict=True, ge=6, le=1200)


TRANSACTIONS = Param(
    "retention.transactions",
    FiveYearsOrMore,
    {"years": 5},
    "R6: years transaction and provider records are kept after the loan ends (at least "
    "5). The ledger's amounts are never deleted (docs/retention.md): after the period the "
    "purge removes a party's idempotency records and second-confirmation operations.",
)
INTERACTION_LOGS = Param(
    "retention.interaction_logs",
    FiveYearsOrMore,
    {"years": 5},
    "R6: years the parties' interaction logs (operation log, notices, SMS and e-mail, "
    "collection records) are kept after the loan ends (at least 5).",
)
CREDIT_MATERIALS = Param(
    "retention.credit_materials",
    FiveYearsOrMore,
    {"years": 5},
    "R6: years credit materials (verification submissions and files, their reviews, "
    "outside credit reports) are kept after the member's last loan ends (at least 5).",
)
ACCESS_LOGS = Param(
    "retention.access_logs",
    SixMonthsOrMore,
    {"months": 6},
    "R6: months the network access log files are kept (at least 6).",
)


class RetentionPolicyError(DomainError):
    """A retention period in force is below its legal minimum: the purge does not start."""

    code = "RETENTION_BELOW_MINIMUM"


@dataclass(frozen=True)
class Period:
    rule: Rule
    amount: int

    def reaches_back_to(self, today: date) -> date:
        """The first day still inside the period: a day before it has passed."""
        if self.rule.unit is Unit.YEARS:
            return add_months(today, -12 * self.amount)
        return add_months(today, -self.amount)

    def ends_after(self, day: date) -> date:
        """The last day of the period that starts the day after `day`."""
        months = 12 * self.amount if self.rule.unit is Unit.YEARS else self.amount
        return add_months(day, months)

    def __str__(self) -> str:
        return f"{self.amount} {self.rule.unit}"


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), the month's last day when it has fewer
    (29 February + 12 months = 28 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _amount(raw: Any, unit: Unit) -> int | None:
    value = raw.get(unit.value) if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def periods() -> dict[RecordKind, Period]:
    """Every kind's period in force, read from the stored values (the default where none
    is stored). Raises RetentionPolicyError, naming every offending kind, when a stored
    value is below its legal minimum or not a whole number of its unit."""
    parameters.all_params()  # every rule's parameter is declared (contracts.retention too)
    stored = {
        row.name: row.value
        for row in await PlatformParameter.filter(name__in=[rule.parameter for rule in RULES])
    }
    found: dict[RecordKind, Period] = {}
    problems: list[dict[str, Any]] = []
    for rule in RULES:
        param = parameters.find(rule.parameter)
        amount = _amount(stored.get(rule.parameter, param.dump(param.default)), rule.unit)
        if amount is None or amount < rule.minimum:
            problems.append(
                {
                    "kind": rule.kind.value,
                    "parameter": rule.parameter,
                    "value": stored.get(rule.parameter),
                    "minimum": f"{rule.minimum} {rule.unit.value}",
                }
            )
            continue
        found[rule.kind] = Period(rule, amount)
    if problems:
        names = ", ".join(
            f"{p['parameter']} = {p['value']!r} (at least {p['minimum']})" for p in problems
        )
        raise RetentionPolicyError(
            f"Retention below the legal minimum, nothing purged: {names}",
            field="value",
            details={"problems": problems},
        )
    return found
