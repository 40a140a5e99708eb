"""Service case parameters (M5.3): the SLA of each kind, when to warn, how long a closed
case may be reopened. Each is a platform parameter (`setPlatformParameter`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from models.cases import CaseKind
from services.platform import parameters
from services.platform.parameters import Param

# At most 90 days for any kind's SLA.
_MOST_HOURS = 90 * 24


class SlaHours(BaseModel):
    """Hours the platform has to answer a case of each kind once it waits for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ENQUIRY: int = Field(strict=True, ge=1, le=_MOST_HOURS)
    COMPLAINT: int = Field(strict=True, ge=1, le=_MOST_HOURS)
    DISPUTE: int = Field(strict=True, ge=1, le=_MOST_HOURS)
    DATA_REQUEST: int = Field(strict=True, ge=1, le=_MOST_HOURS)


class Percent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    percent: int = Field(strict=True, ge=1, le=99)


class Days(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(strict=True, ge=0, le=365)


SLA_HOURS = Param(
    "cases.slaHours",
    SlaHours,
    {"ENQUIRY": 48, "COMPLAINT": 120, "DISPUTE": 120, "DATA_REQUEST": 360},
    "M5.3: hours (business clock) the platform has to answer a service case of each kind "
    "from the moment it waits for the platform (opened, answered by the member, reopened).",
)
SLA_WARNING = Param(
    "cases.slaWarning",
    Percent,
    {"percent": 80},
    "M5.3: the share of a case's SLA after which the SLA job warns its assignee (or the "
    "case staff when unassigned) that it is near breach.",
)
REOPEN_DAYS = Param(
    "cases.reopenDays",
    Days,
    {"days": 14},
    "M5.3: days after a case is closed during which its member may reopen it.",
)


async def clock_for(kind: CaseKind, start: datetime) -> tuple[datetime, datetime]:
    """(warn at, due at) of a wait for the platform starting at `start`, by the
    parameters in force now (a change applies to waits that start after it)."""
    sla: SlaHours = await parameters.get(SLA_HOURS)
    hours = int(getattr(sla, str(kind)))
    share = (await parameters.get(SLA_WARNING)).percent
    length = timedelta(hours=hours)
    return start + length * share / 100, start + length
