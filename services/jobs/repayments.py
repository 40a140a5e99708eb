"""Repayment jobs: the signed auto-debit of installments due today (M4.3), checked
hourly on the business clock; once per installment and day (see
`services.repayments.service.auto_debit_due`)."""

from __future__ import annotations

from services.jobs import register
from services.repayments import service


@register("repayments_auto_debit", every_seconds=3600)
async def auto_debit_due() -> int:
    return await service.auto_debit_due()
