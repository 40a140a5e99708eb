"""Loan jobs: listings whose bidding window closed short fail (R2), and full loans still
waiting for their disbursement are paid out (a safety net for the outbox event)."""

from __future__ import annotations

from services.jobs.registry import register

# `autobid as autobid`: imported so a worker dispatching the outbox knows the loan.listed
# handler (automatic bids), as it knows bidding's loan.full one (each registers when its
# module is imported).
from services.loans import autobid as autobid
from services.loans import bidding


@register("loans_fail_expired_listings", every_seconds=60)
async def fail_expired_listings() -> int:
    return await bidding.fail_expired_listings()


@register("loans_disburse_full", every_seconds=60)
async def disburse_full_loans() -> int:
    return await bidding.disburse_pending()
