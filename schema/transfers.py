"""Root fields: the secondary market (issue 20, M1.10, M9.1)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

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
        description="Open listings of claims for sale, filtered by the listing's discount "
        "or premium, the loan's annual rate, the borrower's grade, the installments left and "
        "the buyer's XIRR at the price; newest first or as `sort` says; public figures only.",
    )
    my_transfers: Connection[t.ClaimTransfer] = strawberry.field(
        resolver=r.my_transfers,
        extensions=auth(Permission.BID_PLACE),
        description="Your purchases and your sales, newest first (side: one of them).",
    )
    my_transfer_listings: Connection[t.TransferListing] = strawberry.field(
        resolver=r.my_transfer_listings,
        extensions=auth(Permission.BID_PLACE),
        description="Your own listings, newest first (status: only those).",
    )
    claim_transfers: Connection[t.ClaimTransferRecord] = strawberry.field(
        resolver=r.claim_transfers,
        extensions=auth(Permission.FINANCE_READ),
        description="Every purchase on the market with both parties, newest first (staff).",
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


@strawberry.type
class TransfersSubscription:
    @strawberry.subscription(
        extensions=public(),
        description="Listings listed, repriced, sold, cancelled and ended, as it happens; "
        "public figures only.",
    )
    async def transfer_market_events(
        self, info: strawberry.Info
    ) -> AsyncGenerator[t.TransferMarketEvent, None]:
        async for event in r.transfer_market_events(info):
            yield event
