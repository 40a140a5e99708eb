"""Loan jobs: listings whose bidding window closed short fail (R2), and full loans still
waiting for their disbursement are paid out (a safety net for the outbox event)."""

from __future__ import annotations

from services.jobs import register
from services.loans import bidding


@register("loans_fail_expired_listings", every_seconds=60)
async def fail_expired_listings() -> int:
    return await bidding.fail_expired_listings()


@register("loans_disburse_full", every_seconds=60)
async def disburse_full_loans() -> int:
    return await bidding.disburse_pending()
