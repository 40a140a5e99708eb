"""Root fields: collateral (issue 21, M8.1-M8.2)."""

from __future__ import annotations

import strawberry

from resolvers import collateral as r
from schema.directives import auth
from schema.types import collateral as t
from services.identity.permissions import Permission


@strawberry.type
class CollateralQuery:
    collateral_items: t.LoanCollateral = strawberry.field(
        resolver=r.collateral_items,
        extensions=auth(Permission.PROFILE_READ),
        description="A loan's collateral, its valuations and loan-to-value: for the loan's "
        "borrower, the holders of its claims and loan reviewers (anyone else: not found).",
    )


@strawberry.type
class CollateralMutation:
    add_collateral_item: t.AddCollateralItemResult = strawberry.mutation(
        resolver=r.add_collateral_item,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Record an item pledged for a loan.",
    )
    add_collateral_valuation: t.AddCollateralValuationResult = strawberry.mutation(
        resolver=r.add_collateral_valuation,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Record a valuation of an item; the loan's LTV and whether it warned.",
    )
