"""Root fields: loan requests, their review, the marketplace, bids and automatic bidding
(M1.5, M1.7, M1.8, M6.1, M6.2, R2, R3, R8)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import loans as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types import loans as t
from services.identity.permissions import Permission


@strawberry.type
class LoansQuery:
    loan_schedule_preview: t.SchedulePreview = strawberry.field(
        resolver=r.loan_schedule_preview,
        extensions=public(),
        description="The schedule, fees and all-in annual cost of a loan, before borrowing "
        "or lending (30/360, from today).",
    )
    loans: Connection[t.Loan] = strawberry.field(
        resolver=r.loans,
        extensions=public(),
        description="The marketplace: listed loans, newest first, filtered.",
    )
    loan: t.Loan | None = strawberry.field(
        resolver=r.loan,
        extensions=public(),
        description="A loan with its progress and the borrower disclosure (R8). Null unless "
        "it was listed, or it is yours, or you review loans.",
    )
    my_loans: list[t.Loan] = strawberry.field(
        resolver=r.my_loans,
        extensions=auth(Permission.LOAN_PUBLISH),
        description="Your loan requests, newest first, in every state.",
    )
    loan_review_queue: Connection[t.Loan] = strawberry.field(
        resolver=r.loan_review_queue,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Loans waiting for a review level (needs that level's permission), "
        "oldest first.",
    )

    my_bids: Connection[t.BidType] = strawberry.field(
        resolver=r.my_bids,
        extensions=auth(Permission.BID_PLACE),
        description="Your bids, newest first.",
    )
    my_auto_bid_rule: t.AutoBidRule | None = strawberry.field(
        resolver=r.my_auto_bid_rule,
        extensions=auth(Permission.BID_PLACE),
        description="Your automatic bidding rule; null when you have none.",
    )


@strawberry.type
class LoansMutation:
    publish_loan: t.PublishLoanResult = strawberry.mutation(
        resolver=r.publish_loan,
        extensions=auth(Permission.LOAN_PUBLISH),
        description="Publish a loan request: checked, reviewed automatically, limit taken.",
    )
    review_loan: t.ReviewLoanResult = strawberry.mutation(
        resolver=r.review_loan,
        extensions=auth(Permission.LOAN_REVIEW),
        description="Decide one review level of a loan (each level needs its permission).",
    )
    place_bid: t.PlaceBidResult = strawberry.mutation(
        resolver=r.place_bid,
        extensions=auth(Permission.BID_PLACE),
        description="Bid on a listed loan; confirm it with the SMS code (confirmOperation).",
    )
    set_auto_bid_rule: t.SetAutoBidRuleResult = strawberry.mutation(
        resolver=r.set_auto_bid_rule,
        extensions=auth(Permission.BID_PLACE),
        description="Save and enable your automatic bidding rule (M1.7); the first time, "
        "confirm the opt-in with the SMS code (confirmOperation).",
    )
    disable_auto_bid_rule: t.DisableAutoBidRuleResult = strawberry.mutation(
        resolver=r.disable_auto_bid_rule,
        extensions=auth(Permission.BID_PLACE),
        description="Stop bidding automatically; the rule is kept, enabling it again "
        "needs no code and joins the back of the queue.",
    )


@strawberry.type
class LoansSubscription:
    @strawberry.subscription(
        extensions=public(),
        description="Every bid, full, failed and disbursed of one loan, as it happens.",
    )
    async def bid_progress(
        self, info: strawberry.Info, loan_id: strawberry.ID
    ) -> AsyncGenerator[t.BidProgressEvent, None]:
        async for event in r.bid_progress(info, loan_id):
            yield event
