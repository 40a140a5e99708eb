"""Automatic bidding on the secondary market (issue 20): a lender's auto-bid rule may buy
listings too, opted in per rule (`autobid.MarketSettings`), as Mintos and Bondora let
their investors do.

When a claim is listed (the `transfers.listed` outbox event of `market.list_claim`), the
rules that buy on the market are served in the one fair queue of automatic bidding
(`autobid.lock_counter`, the same positions as primary bids). A rule matches when the
loan fits it as a new loan would (its annual rate, its installments left as the term,
its method, the borrower's grade now), the listing's rate is at most the rule's maximum
premium, the loan is not overdue now (when the rule says so), and the buyer is neither
the seller nor the borrower. It buys the least of: what the listing has for sale, the
rule's amount per loan (and the loan's maximum bid) less the principal the lender
already has outstanding in that loan (the diversification cap, counting what they hold),
and what the lender's available balance less the balance to keep pays for with the
accrued interest; less than the market's minimum unit is skipped unless it is all that
is left. The buyer's XIRR at that price must reach the rule's minimum. Each purchase
goes through `market.purchase_now` (every check of a purchase: verifications, R4 for
the grade and the cap, balance) in its own savepoint, so a refused one is skipped and
the others stand; a rule that bought goes to the back of the queue. A listing is served
once (`auto_buy_done_at`, set under the listing's row lock), however often the event
is delivered. Locks: the listing row, the queue counter, the rule rows.

The opt-in's SMS confirmation (`AUTO_BID_OPT_IN`) is the buyer's consent, as it is for
automatic primary bids: no code is sent per purchase.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.bids import AutoBidRule, Claim
from models.loans import Loan, LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment
from models.transfers import ClaimTransfer, ListingStatus, TransferListing
from services.credit import scoring
from services.errors import DomainError
from services.loans import autobid
from services.money import ledger
from services.money.money import format_money
from services.payments import instructions
from services.platform import clock, notifier, outbox, parameters
from services.repayments import holdings
from services.transfers import events, market, policy, pricing

logger = logging.getLogger(__name__)


def _fits(
    rule: AutoBidRule,
    loan: Loan,
    grade: str,
    remaining: int,
    listing: TransferListing,
    overdue_now: bool,
) -> bool:
    rate = Decimal(loan.annual_rate)
    return (
        rule.user_id not in (loan.borrower_id, listing.seller_id)
        and Decimal(rule.min_rate) <= rate <= Decimal(rule.max_rate)
        and rule.min_term <= remaining <= rule.max_term
        and loan.method in rule.methods
        and grade in rule.grades
        and Decimal(listing.rate) <= Decimal(rule.market_max_premium)
        and not (overdue_now and rule.market_skip_overdue)
    )


async def _held_in(user_id: int, loan_id: int) -> int:
    """The principal `user_id` has outstanding in the loan, over all their holdings."""
    claims = await Claim.filter(loan_id=loan_id, holder_id=user_id)
    had = await holdings.had([claim.id for claim in claims])
    return sum(claim.principal_fen - had[claim.id].principal_fen for claim in claims)


async def _affordable(listing: TransferListing, most: int, budget: int, now: datetime) -> int:
    """The most principal, at most `most`, whose price and accrued interest `budget`
    pays for (what a purchase costs rises with the principal)."""
    if most <= 0 or budget <= 0:
        return 0
    if (await market.terms_at(listing, most, now)).quote.buyer_pays_fen <= budget:
        return most
    low, high = 0, most  # costs(low) <= budget < costs(high)
    while high - low > 1:
        middle = (low + high) // 2
        if (await market.terms_at(listing, middle, now)).quote.buyer_pays_fen <= budget:
            low = middle
        else:
            high = middle
    return low


async def _xirr_at(
    listing: TransferListing, principal: int, now: datetime, rows: list[LoanInstallment]
) -> float | None:
    terms = await market.terms_at(listing, principal, now)
    found = market.accrual(terms.loan, rows, now)
    if found is None:
        return None
    return pricing.buyer_xirr(
        terms.quote.buyer_pays_fen,
        now.date(),
        principal,
        found[1],
        [
            (
                row.due_date,
                row.principal_fen - row.paid_principal_fen,
                row.interest_fen - row.paid_interest_fen,
            )
            for row in rows
            if row.status != InstallmentStatus.PAID
        ],
    )


async def run_auto_buys(listing_id: int) -> list[ClaimTransfer]:
    """Serve the queue for a new listing, once; see the module docstring. Returns the
    purchases made (none when the listing was already served or cannot sell)."""
    bought: list[ClaimTransfer] = []
    async with in_transaction():
        listing = await TransferListing.filter(id=listing_id).select_for_update().first()
        if listing is None or listing.auto_buy_done_at is not None:
            return bought
        now = await clock.now()
        listing.auto_buy_done_at = now
        await listing.save(update_fields=["auto_buy_done_at"])
        if listing.status != ListingStatus.OPEN or listing.expires_at <= now:
            return bought
        loan = await Loan.get(id=listing.loan_id)
        rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
        remaining = sum(1 for row in rows if row.status != InstallmentStatus.PAID)
        overdue_now = loan.status == LoanStatus.OVERDUE or any(
            row.status == InstallmentStatus.OVERDUE for row in rows
        )
        grade = (await scoring.profile_for(loan.borrower_id)).grade
        min_unit = (await parameters.get(policy.RULES)).min_unit_fen
        counter = await autobid.lock_counter()
        rules = (
            await AutoBidRule.filter(
                enabled=True,
                market_enabled=True,
                queue_position__isnull=False,
                user_id__in=autobid.active_members(),
            )
            .order_by("queue_position", "id")
            .select_for_update()
        )
        for rule in rules:
            left = await market.for_sale(listing)
            if left <= 0:
                break
            if not _fits(rule, loan, grade, remaining, listing, overdue_now):
                continue
            cap = min(rule.amount_per_loan_fen, loan.max_bid_fen)
            room = cap - await _held_in(rule.user_id, loan.id)
            budget = (await ledger.member_balances(rule.user_id))["available"] - (
                rule.keep_balance_fen
            )
            principal = await _affordable(listing, min(room, left), budget, now)
            if principal <= 0 or (principal < min_unit and principal != left):
                continue
            earns = await _xirr_at(listing, principal, now, rows)
            if earns is None or Decimal(repr(earns)) < Decimal(rule.market_min_xirr):
                continue
            try:
                async with in_transaction():
                    transfer = await market.purchase_now(
                        buyer_id=rule.user_id,
                        listing=listing,
                        principal_fen=principal,
                        rule_id=rule.id,
                    )
                    await notifier.notify(
                        user=rule.user_id,
                        kind="bid",
                        title="Claim bought automatically",
                        body=f"Your automatic bidding rule bought "
                        f"{format_money(transfer.principal_fen)} of a claim on loan {loan.id} "
                        f"for {format_money(transfer.price_fen + transfer.accrued_interest_fen)}.",
                    )
            except DomainError as error:
                # Refused (a verification since revoked, R4, balance, ...): its savepoint
                # is undone, the rule keeps its place.
                logger.info(
                    "auto-buy rule %s skipped on listing %s: %s", rule.id, listing.id, error.code
                )
                await listing.refresh_from_db()
                continue
            await autobid.to_the_back(counter, rule)
            bought.append(transfer)
            await listing.refresh_from_db()
    if bought:
        instructions.wake()
        outbox.wake()
    return bought


async def _on_listed(payload: dict[str, Any]) -> None:
    await run_auto_buys(int(payload["listing_id"]))


outbox.register_handler(events.LISTED_TOPIC, _on_listed)
