"""Root fields: collateral's transfer of rights and disposal (issue 21, M8.3-M8.4)."""

from __future__ import annotations

import strawberry

from resolvers import collateral_disposal as r
from schema.directives import auth
from schema.types import collateral_disposal as t
from services.identity.permissions import Permission


@strawberry.type
class CollateralDisposalMutation:
    request_collateral_transfer: t.CollateralTransferResult = strawberry.mutation(
        resolver=r.request_collateral_transfer,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Ask for an item's rights to go to the holders or a trustee (loan in "
        "default) or to the guarantor that compensated; another person approves.",
    )
    approve_collateral_transfer: t.CollateralTransferResult = strawberry.mutation(
        resolver=r.approve_collateral_transfer,
        extensions=auth(Permission.LOAN_REVIEW_L3),
        description="Approve a transfer someone else asked for: the item is TRANSFERRED.",
    )
    record_collateral_disposal: t.RecordCollateralDisposalResult = strawberry.mutation(
        resolver=r.record_collateral_disposal,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Record the sale of a transferred item. Its net proceeds are collected "
        "by the provider into the owner's custody account and, when they arrive, pay "
        "everything owed on the loan oldest first (the rest accelerated) to whoever holds "
        "each part; any surplus stays the owner's.",
    )
