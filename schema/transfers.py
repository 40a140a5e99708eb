"""Root fields: the secondary market (issue 20, M1.10, M9.1)."""

from __future__ import annotations

import strawberry

from resolvers import transfers as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types import transfers as t
from services.identity.permissions import Permission


@strawberry.type
class TransfersQuery:
    transfer_listings: Connection[t.TransferListing] = strawberry.field(
        resolver=r.transfer_listings,
        extensions=public(),
        description="Open listings of claims for sale, newest first, filtered by the "
        "listing's discount or premium and the loan's annual rate; public figures only.",
    )
    my_transfers: Connection[t.ClaimTransfer] = strawberry.field(
        resolver=r.my_transfers,
        extensions=auth(Permission.BID_PLACE),
        description="Your purchases and your sales, newest first (side: one of them).",
    )


@strawberry.type
class TransfersMutation:
    list_claim_for_transfer: t.ListClaimForTransferResult = strawberry.mutation(
        resolver=r.list_claim_for_transfer,
        extensions=auth(Permission.BID_PLACE),
        description="Offer principal of one of your claims for sale at a discount or premium.",
    )
    buy_claim: t.BuyClaimResult = strawberry.mutation(
        resolver=r.buy_claim,
        extensions=auth(Permission.BID_PLACE),
        description="Ask to buy principal of a listing; confirm it with the SMS code "
        "(confirmOperation): it is priced and settled then.",
    )
    cancel_transfer_listing: t.CancelTransferListingResult = strawberry.mutation(
        resolver=r.cancel_transfer_listing,
        extensions=auth(Permission.BID_PLACE),
        description="End one of your open listings.",
    )
