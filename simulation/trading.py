"""The secondary market in a simulated run (`--transfers`): lenders list parts of their
holdings, other lenders buy them, confirmed by the SMS code as members do.

Each day, after the borrowers have acted: the hourly job ends the listings that can no
longer sell; a lender may list (p = 0.35) all or part of a holding of a loan that may
trade, at a discount or premium within the rules; a lender may buy (p = 0.5) all or part
of an open listing, topping up by card what the price and the accrued interest need;
about one purchase in eight is raced by a second buyer for everything that is left,
both confirmed at the same moment (one of them is refused and told why, nothing moves
for them); a seller may cancel (p = 0.05). Buyers resell what they bought, so a line
gets holdings of holdings. Refusals a member could meet (a loan gone overdue today, a
listing sold out under them) are counted; any other refusal ends the run.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import cast

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.payments import PendingOperation
from models.transfers import ClaimTransfer, ListingStatus, TransferListing, TransferStatus
from services.errors import DomainError
from services.money import ledger
from services.operations import confirmation
from services.platform import clock, parameters
from services.repayments import holdings
from services.transfers import ending, market, policy
from simulation.people import Person, code_for, expect, member_actor
from simulation.world import World, key, settle

RATES = ("-0.0500", "-0.0200", "-0.0050", "0.0000", "0.0100", "0.0300")
# What a member may be told when they list or buy on a day the books moved under them
# (a loan gone overdue, a borrower's grade fallen below what their R4 tier allows).
EXPECTED_REFUSALS = {"LOAN_OVERDUE", "LOAN_NOT_REPAYING", "LISTING_NOT_OPEN", "GRADE_NOT_ALLOWED"}
RACE_LOSSES = {"MORE_THAN_AVAILABLE", "LISTING_NOT_OPEN"}


class Trading:
    """The market's side of one run's days."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def day(self, today: date) -> None:
        world = self.world
        ended = await ending.end_listings()
        world.stats["listings ended"] += ended
        if world.rng.random() < 0.35:
            await self._list()
        if world.rng.random() < 0.5:
            await self._buy()
        if world.rng.random() < 0.05:
            await self._cancel()
        await settle(world)

    async def _list(self) -> None:
        world = self.world
        rules = await parameters.get(policy.RULES)
        held_since = await clock.now() - timedelta(days=rules.min_days_held)
        loan_ids = cast(
            list[int],
            await Loan.filter(id__in=world.book.loan_ids, status=LoanStatus.REPAYING).values_list(
                "id", flat=True
            ),
        )
        claims = await Claim.filter(loan_id__in=loan_ids, created_at__lte=held_since).order_by("id")
        if not claims:
            return
        claim = world.rng.choice(claims)
        had = await holdings.had([claim.id])
        listed = sum(
            cast(
                list[int],
                await TransferListing.filter(
                    claim_id=claim.id, status=ListingStatus.OPEN
                ).values_list("principal_fen", flat=True),
            )
        )
        free = claim.principal_fen - had[claim.id].principal_fen - listed
        if free <= 0:
            return
        if free <= rules.min_unit_fen or world.rng.random() < 0.4:
            amount = free
        else:
            amount = world.rng.randint(rules.min_unit_fen, free)
        try:
            await market.list_claim(
                actor=member_actor(claim.holder_id),
                claim_id=claim.id,
                principal_fen=amount,
                rate=Decimal(world.rng.choice(RATES)),
                idempotency_key=key("list"),
            )
        except DomainError as refused:
            expect(refused.code in EXPECTED_REFUSALS, f"listing refused {refused.code}")
            world.stats[f"listing refused:{refused.code}"] += 1
            return
        world.stats["listings"] += 1
        if amount < claim.principal_fen - had[claim.id].principal_fen:
            world.stats["holdings listed in part"] += 1
        if claim.line_id is not None:
            world.stats["bought holdings listed again"] += 1

    async def _ask(self, buyer: Person, listing: TransferListing, amount: int) -> ClaimTransfer:
        """Top up by card what the price and the accrued interest need, and ask to buy."""
        terms = await market.terms_at(listing, amount, await clock.now())
        available = (await ledger.member_balances(buyer.user_id))["available"]
        if terms.quote.buyer_pays_fen > available:
            await self.world.people.top_up(buyer, terms.quote.buyer_pays_fen - available)
        transfer = await market.buy(
            actor=member_actor(buyer.user_id),
            listing_id=listing.id,
            principal_fen=amount,
            version=listing.version,
            idempotency_key=key("buy"),
        )
        operation = await PendingOperation.get(id=transfer.operation_id)
        expect(operation.amount == terms.quote.buyer_pays_fen, f"purchase {transfer.id} amount")
        return transfer

    async def _confirm(self, buyer: Person, transfer: ClaimTransfer, code: str) -> str:
        """Confirm with the code: "DONE" or the code the buyer was told."""
        try:
            await confirmation.confirm_operation(
                actor=member_actor(buyer.user_id),
                operation_id=str(transfer.operation_id),
                code=code,
            )
        except DomainError as refused:
            await transfer.refresh_from_db()
            expect(
                transfer.status == TransferStatus.REFUSED and transfer.refusal == refused.code,
                f"purchase {transfer.id} refused {refused.code} but {transfer.status}",
            )
            return refused.code
        await transfer.refresh_from_db()
        expect(transfer.status == TransferStatus.DONE, f"purchase {transfer.id} {transfer.status}")
        return "DONE"

    async def _buy(self) -> None:
        world = self.world
        rng = world.rng
        rules = await parameters.get(policy.RULES)
        listings = await TransferListing.filter(status=ListingStatus.OPEN).order_by("id")
        if not listings:
            return
        listing = rng.choice(listings)
        left = await market.for_sale(listing)
        if left <= 0:
            return
        others = [p for p in world.lenders if p.user_id != listing.seller_id]
        buyer = rng.choice(others)
        race = rng.random() < 0.125 and len(others) >= 2
        if race or left <= rules.min_unit_fen or rng.random() < 0.4:
            amount = left
        else:
            amount = rng.randint(rules.min_unit_fen, left)
        try:
            asked = [(buyer, await self._ask(buyer, listing, amount))]
            if race:
                rival = rng.choice([p for p in others if p.user_id != buyer.user_id])
                asked.append((rival, await self._ask(rival, listing, amount)))
        except DomainError as refused:
            expect(refused.code in EXPECTED_REFUSALS, f"purchase refused {refused.code}")
            world.stats[f"purchase refused:{refused.code}"] += 1
            return
        codes = [await code_for(person.phone) for person, _transfer in asked]
        before = [await ledger.member_balances(person.user_id) for person, _transfer in asked]
        outcomes = await asyncio.gather(
            *(
                self._confirm(person, transfer, code)
                for (person, transfer), code in zip(asked, codes, strict=True)
            )
        )
        for (person, _transfer), outcome, balances in zip(asked, outcomes, before, strict=True):
            if outcome != "DONE":
                expect(race and outcome in RACE_LOSSES, f"purchase refused {outcome}")
                now = await ledger.member_balances(person.user_id)
                expect(now == balances, f"a refused purchase moved money: {balances} -> {now}")
                world.stats["races lost"] += 1
                continue
            world.stats["purchases"] += 1
            if amount < left:
                world.stats["listings bought in part"] += 1
            available = (await ledger.member_balances(person.user_id))["available"]
            world.lender_room[person.user_id] = min(world.lender_room[person.user_id], available)
        if race:
            expect(outcomes.count("DONE") == 1, f"two buyers for all that was left: {outcomes}")
            world.stats["purchase races"] += 1

    async def _cancel(self) -> None:
        listings = await TransferListing.filter(status=ListingStatus.OPEN).order_by("id")
        if not listings:
            return
        listing = self.world.rng.choice(listings)
        await market.cancel_listing(actor=member_actor(listing.seller_id), listing_id=listing.id)
        self.world.stats["listings cancelled"] += 1

    async def coverage(self) -> dict[str, bool]:
        stats = self.world.stats
        line_ids = cast(
            list[int],
            await Claim.filter(line_id__isnull=False).values_list("loan_id", flat=True),
        )
        return {
            "claims bought >= 5": stats["purchases"] >= 5,
            "holdings listed in part": stats["holdings listed in part"] >= 1,
            "listings bought in part": stats["listings bought in part"] >= 1,
            "two buyers racing for the rest": stats["purchase races"] >= 1,
            "a loan with sold claims settled": await Loan.filter(
                id__in=set(line_ids), status=LoanStatus.SETTLED
            ).exists(),
        }
