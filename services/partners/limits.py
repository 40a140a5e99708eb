"""A partner's rate limit and daily quota, shared by every process through the broker
(Redis; the embedded broker in one process).

- Rate: at most `rate_per_minute` requests in each minute of real time (fixed windows
  aligned to the minute, so every process counts in the same window).
- Quota: at most `daily_quota` requests a business day (00:00-24:00 UTC on the business
  clock, the day usage is counted under).

A request refused by the rate limit does not use quota. Over either, the answer is 429
with `Retry-After`: the seconds until the window or the day ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.kit.broker import get_broker
from services.partners.keys import PartnerIdentity
from services.platform import clock


def _now_seconds() -> float:
    return time.time()


@dataclass(frozen=True)
class Limited(Exception):
    code: str  # RATE_LIMITED or QUOTA_EXCEEDED
    message: str
    retry_after: int  # seconds


async def admit(partner: PartnerIdentity) -> None:
    """Count one request of `partner`; Limited when it is over its rate or quota."""
    now = _now_seconds()
    minute = int(now // 60)
    broker = get_broker()
    if await broker.hit(f"partner-rate:{partner.counter_name}:{minute}", 120) > (
        partner.rate_per_minute
    ):
        raise Limited(
            "RATE_LIMITED",
            f"More than {partner.rate_per_minute} requests this minute",
            max(1, math.ceil((minute + 1) * 60 - now)),
        )
    business_now = await clock.now()
    day = business_now.date()
    if await broker.hit(f"partner-quota:{partner.counter_name}:{day}", 2 * 86_400) > (
        partner.daily_quota
    ):
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        raise Limited(
            "QUOTA_EXCEEDED",
            f"The daily quota of {partner.daily_quota} requests is used up",
            max(1, math.ceil((midnight - business_now).total_seconds())),
        )
