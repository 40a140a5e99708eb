"""Investor returns (M12.3): a lender's XIRR, realised and expected."""

from __future__ import annotations

from datetime import date

import strawberry

from schema.scalars import Money, SignedRate


@strawberry.type(
    description="A lender's returns as of a business day (or, with lenderId null, every "
    "lender's cash flows pooled). Definitions: docs/returns.md."
)
class LenderReturns:
    lender_id: strawberry.ID | None = strawberry.field(
        description="The lender (a User id); null for the platform-wide figure."
    )
    as_of: date = strawberry.field(description="The business day the figures are as of.")
    invested: Money = strawberry.field(
        description="Principal lent out: every claim disbursed up to asOf."
    )
    received: Money = strawberry.field(
        description="Principal, interest and penalty had up to asOf: repayments received "
        "and risk-reserve advances paid to the lender."
    )
    outstanding_principal: Money = strawberry.field(
        description="Principal lent and not yet had back on asOf."
    )
    realised_xirr: SignedRate | None = strawberry.field(
        description="Annual XIRR (actual/365) of the cash flows up to asOf with the "
        "outstanding principal valued at par on asOf, negative for a loss. Null when "
        "undefined (no flows, or all of one sign)."
    )
    expected_xirr: SignedRate | None = strawberry.field(
        description="Annual XIRR of the cash flows up to asOf plus what the schedule still "
        "owes on loans not in default (no installment unpaid more than 90 days), negative "
        "for a loss. Null when undefined."
    )
