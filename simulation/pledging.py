"""Collateral in a simulated run (`--guarantees`, `wide` only; issue 21, M8).

About a quarter of the loans pledge a property, recorded by the level-1 reviewer while
the loan is in review with a first valuation at 60-180 % of the amount: every
defaulting borrower's loan (so that the year sees disposals) and about one in seven of
the others. One or two later valuations, each at 75-115 % of the one before, come 20-150
days apart while the loan is open. `collateral.defaultDays` is drawn for the run (30, 40
or 50 days) so that a defaulter is in default before they pay everything at once.

A defaulter's item, once the loan is OVERDUE: its rights go to the guarantee company
when one has compensated an installment of the loan, else to the holders once the loan
is in default (asked by the level-1 reviewer, approved by a level-3 reviewer). It is sold
1-8 days later (unless the loan has been repaid meanwhile) at 60-120 % of its last value
with 0-5 % of costs; the net proceeds are paid at the sandbox's bank into the owner's
account and pay the loan (`services.collateral.disposal`): at a loss when they fall
short of what the loan owed, with a surplus left to the owner when they are more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from models.collateral import (
    CollateralDisposal,
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    DisposalStatus,
    TransferTo,
)
from models.guarantees import GuaranteeCompensation
from models.loans import Loan, LoanStatus
from services.collateral import disposal, items
from services.identity.permissions import Actor, Permission
from services.payments.provider import DepositChannel
from services.platform import parameters
from simulation.classic import PARAMS_ADMIN
from simulation.people import expect
from simulation.world import Borrowing, Profile, World, key, paid_at_the_bank, settle

OTHERS_PLEDGE = 1 / 7
DEFAULT_DAYS = (30, 40, 50)

BeforeReview = Callable[[Loan], Awaitable[None]]


@dataclass
class Pledge:
    item_id: int
    loan_id: int
    borrowing: Borrowing
    value_fen: int  # the latest valuation
    revalue_on: list[tuple[date, int]] = field(default_factory=list)  # (day, percent)
    sell_on: date | None = None
    done: bool = False


class Pledging:
    """The collateral side of one run's days."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pledges: list[Pledge] = []
        self.reviewer: Actor | None = None
        self.approver: Actor | None = None

    async def set_up(self) -> None:
        world = self.world
        days = world.rng.choice(DEFAULT_DAYS)
        await parameters.set_value(
            PARAMS_ADMIN, disposal.DEFAULT_DAYS.name, {"days": days}, "simulation"
        )
        world.stats["default after days"] = days
        self.reviewer = await world.people.reviewer()
        self.approver = await world.people.staff(
            "Simulated reviewer 3",
            "risk_l3",
            (Permission.LOAN_REVIEW, Permission.LOAN_REVIEW_L3),
        )

    def before_review(self, borrowing: Borrowing, today: date) -> BeforeReview | None:
        """Whether the next loan pledges a property, and its valuations (drawn now)."""
        rng = self.world.rng
        if borrowing.profile != Profile.DEFAULTER and rng.random() >= OTHERS_PLEDGE:
            return None
        first = rng.randint(60, 180)
        later: list[tuple[date, int]] = []
        day = today
        for _ in range(rng.randint(1, 2)):
            day += timedelta(days=rng.randint(20, 150))
            later.append((day, rng.randint(75, 115)))

        async def pledge(loan: Loan) -> None:
            assert self.reviewer is not None
            item = await items.add_item(
                actor=self.reviewer,
                loan_id=loan.id,
                kind=CollateralKind.PROPERTY,
                description=f"A flat pledged for loan {loan.id}",
                registration_number=f"SIM-{loan.id:06d}",
                registration_authority="Simulated Real Estate Registration Centre",
                lien_rank=1,
            )
            value = loan.amount_fen * first // 100
            await self._value(item.id, value, today)
            self.pledges.append(Pledge(item.id, loan.id, borrowing, value, later))
            self.world.stats["items pledged"] += 1

        return pledge

    async def _value(self, item_id: int, value_fen: int, today: date) -> None:
        assert self.reviewer is not None
        await items.add_valuation(
            actor=self.reviewer,
            item_id=item_id,
            appraiser="Simulated Appraisal Co.",
            method="MARKET",
            value_fen=value_fen,
            valued_on=today,
            report_ref=f"SIM-VAL-{item_id}",
        )
        self.world.stats["valuations"] += 1

    # --- each day ---------------------------------------------------------------------

    async def day(self, today: date) -> None:
        for pledge in self.pledges:
            if pledge.done:
                continue
            loan = await Loan.get(id=pledge.loan_id)
            if loan.status == LoanStatus.SETTLED:
                pledge.done = True
                continue
            if pledge.revalue_on and pledge.revalue_on[0][0] <= today:
                _day, percent = pledge.revalue_on.pop(0)
                pledge.value_fen = max(1, pledge.value_fen * percent // 100)
                await self._value(pledge.item_id, pledge.value_fen, today)
            if pledge.borrowing.profile != Profile.DEFAULTER:
                continue
            item = await CollateralItem.get(id=pledge.item_id)
            if item.status == CollateralStatus.PLEDGED and loan.status == LoanStatus.OVERDUE:
                await self._transfer(pledge, today)
            elif (
                item.status == CollateralStatus.TRANSFERRED
                and pledge.sell_on is not None
                and pledge.sell_on <= today
            ):
                await self._sell(pledge, today)

    async def _transfer(self, pledge: Pledge, today: date) -> None:
        """To the guarantor that compensated, else to the holders once in default."""
        assert self.reviewer is not None
        assert self.approver is not None
        if await GuaranteeCompensation.filter(loan_id=pledge.loan_id).exists():
            to = TransferTo.GUARANTOR
        elif await disposal.in_default(pledge.loan_id, today):
            to = TransferTo.HOLDERS
        else:
            return
        asked = await disposal.request_transfer(
            actor=self.reviewer, item_id=pledge.item_id, to=to, to_name="", reason="In default"
        )
        await disposal.approve_transfer(actor=self.approver, transfer_id=asked.id)
        pledge.sell_on = today + timedelta(days=self.world.rng.randint(1, 8))
        self.world.stats[f"rights to the {to.lower()}"] += 1

    async def _sell(self, pledge: Pledge, today: date) -> None:
        assert self.reviewer is not None
        rng = self.world.rng
        price = max(2, pledge.value_fen * rng.randint(60, 120) // 100)
        costs = price * rng.randint(0, 5) // 100
        await settle(self.world)  # nothing else waits for the bank meanwhile
        sold = await disposal.record_disposal(
            actor=self.reviewer,
            item_id=pledge.item_id,
            buyer="Simulated auction buyer",
            price_fen=price,
            costs_fen=costs,
            sold_on=today,
            channel=DepositChannel.GATEWAY,
            idempotency_key=key("disposal"),
        )
        await paid_at_the_bank(self.world, f"disposal:{sold.id}")
        sold = await CollateralDisposal.get(id=sold.id)
        expect(sold.status == DisposalStatus.DISTRIBUTED, f"disposal {sold.id} {sold.status}")
        pledge.done = True
        stats = self.world.stats
        stats["disposals"] += 1
        if sold.surplus_fen > 0:
            stats["disposals with a surplus"] += 1
        elif (await Loan.get(id=pledge.loan_id)).status != LoanStatus.SETTLED:
            stats["disposals at a loss"] += 1

    async def coverage(self) -> dict[str, bool]:
        stats = self.world.stats
        return {
            "items pledged": stats["items pledged"] >= 1,
            "disposals at a loss": stats["disposals at a loss"] >= 1,
            "disposals with a surplus": stats["disposals with a surplus"] >= 1,
        }
