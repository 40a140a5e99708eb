"""The `classic` scenario: the simulated year of issue 7, kept draw for draw as it was, so
that the runs it failed on replay exactly (`tests/simulation/test_regressions.py`).

50 members: 20 borrowers, one loan each (random amount to the fen, rate, term and
method; listed every third day from day 0), and 30 lenders who fill the loans in uneven
random shares (2 to 5 holders a loan). Each day: the daily overdue run, every borrower
acts on a profile drawn at the start (punctual; randomly late by 1-40 days; early
repayment in full mid-term; a long default of 60-120 days then everything at once),
topping up by card only what the repayment asks for; lenders withdraw now and then;
the provider settles. The risk reserve (30,000.00, half of every service fee) advances
installments 30 days late.

Its loans are published under the schedule rules of the time (`ScheduleRules.FLOOR`:
equal principal floored, as before issue 13), like loans published before the change.

One change from the year as it ran: when no lender had room for a share, it stopped
with an IndexError in its own set-up (seeds 3 and 9); now a lender drawn from all of
them tops up what they lack and lends it. No other run draws differently.
"""

from __future__ import annotations

from datetime import date, timedelta

from models.loans import Loan, LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment
from services.identity.permissions import Actor, Permission
from services.loans.schedule import RepaymentMethod, ScheduleRules
from services.platform import parameters
from services.repayments import overdue
from services.repayments.due import RepayMode
from simulation.people import Person
from simulation.world import (
    Borrowing,
    Profile,
    World,
    fill_sign_disburse,
    lenders_withdraw,
    pay,
    settle,
    withdraw_proceeds,
)

MEMBERS = 50
LOANS = 20
LENDER_FUNDS = 2_000_000  # 20,000.00 each: 600,000.00 for about 300,000.00 of loans
RESERVE_FUNDS = 3_000_000
ADVANCE_AFTER_DAYS = 30
RATES = ("0.0600", "0.0850", "0.1000", "0.1200", "0.1500", "0.1800", "0.2400")
TERMS = (3, 6, 9, 12)
PARAMS_ADMIN = Actor(
    user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE})
)


def uneven_shares(rng_world: World, amount: int, holders: int, floor: int) -> list[int]:
    """`holders` uneven shares of `amount`, each at least `floor`."""
    cuts = sorted(rng_world.rng.sample(range(1, amount - holders * floor), holders - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, amount - holders * floor], strict=True)]
    return [part + floor for part in parts]


async def set_reserve(world: World, *, enabled: bool, share: str | None = None) -> None:
    if share is not None:
        await parameters.set_value(
            PARAMS_ADMIN, "repayments.riskReserveShare", {"share": share}, "simulation"
        )
    await parameters.set_value(
        PARAMS_ADMIN,
        "repayments.reserveAdvance",
        {"enabled": enabled, "after_days": world.book.advance_after_days},
        "simulation",
    )


class Classic:
    name = "classic"

    def __init__(self, world: World) -> None:
        self.world = world

    async def set_up(self) -> None:
        world = self.world
        for number in range(MEMBERS - LOANS):
            lender = await world.people.lender(f"Lender {number}", LENDER_FUNDS)
            world.lenders.append(lender)
            world.lender_room[lender.user_id] = LENDER_FUNDS
        profiles = (
            [Profile.PUNCTUAL] * 8
            + [Profile.LATE] * 6
            + [Profile.EARLY] * 3
            + [Profile.DEFAULTER] * 3
        )
        world.rng.shuffle(profiles)
        for profile in profiles[:LOANS]:
            person = await world.people.borrower("Borrower Member")
            world.borrowings.append(Borrowing(person=person, profile=profile))
        await world.people.fund_risk_reserve(RESERVE_FUNDS)
        world.book.reserve_funded_fen += RESERVE_FUNDS
        await set_reserve(world, enabled=True, share="0.5000")

    async def day(self, number: int, today: date) -> None:
        world = self.world
        if number % 3 == 0 and number // 3 < LOANS:
            await self._open_loan(world.borrowings[number // 3], today)
        await overdue.run_daily(today)
        for borrowing in world.borrowings:
            if borrowing.loan_id and not borrowing.done:
                await self._act(borrowing, today)
        await lenders_withdraw(world)
        await settle(world)

    async def _lender_for(self, share: int) -> Person:
        world = self.world
        candidates = [p for p in world.lenders if world.lender_room[p.user_id] >= share]
        if candidates:
            return world.rng.choice(candidates)
        lender = world.rng.choice(world.lenders)  # nobody has room: they top up
        lacking = share - world.lender_room[lender.user_id]
        await world.people.top_up(lender, lacking)
        world.lender_room[lender.user_id] += lacking
        world.stats["lenders topped up"] += 1
        return lender

    async def _open_loan(self, borrowing: Borrowing, today: date) -> None:
        world = self.world
        rng = world.rng
        amount = rng.randrange(500_000, 2_500_001)  # 5,000.00 to 25,000.00, to the fen
        term = rng.choice(TERMS)
        method = rng.choice(list(RepaymentMethod))
        loan = await world.people.listed_loan(
            borrowing.person, amount, rate=rng.choice(RATES), term=term, method=method
        )
        # The year ran before equal principal rounded half-up: its loans keep the rules
        # they had then (a loan's rules edition, as a loan published before would).
        await Loan.filter(id=loan.id).update(schedule_rules=ScheduleRules.FLOOR)
        bids = []
        for share in uneven_shares(world, amount, rng.randint(2, 5), 5_000):
            lender = await self._lender_for(share)
            world.lender_room[lender.user_id] -= share
            bids.append((lender, share))
        borrowing.loan_id = loan.id
        await fill_sign_disburse(world, loan, bids)
        await withdraw_proceeds(world, borrowing, amount)
        if borrowing.profile == Profile.DEFAULTER:
            borrowing.stop_at = rng.randint(1, borrowing.term)
        elif borrowing.profile == Profile.EARLY and borrowing.term >= 2:
            borrowing.stop_at = rng.randint(1, borrowing.term - 1)
        elif borrowing.profile == Profile.EARLY:  # one installment (lump sum): repaid early
            borrowing.early_on = today + timedelta(days=rng.randint(20, 60))

    def _lateness(self, borrowing: Borrowing, number: int) -> int:
        rng = self.world.rng
        match borrowing.profile:
            case Profile.LATE:
                return 0 if rng.random() < 0.4 else rng.randint(1, 40)
            case Profile.DEFAULTER if number == borrowing.stop_at:
                return rng.randint(60, 120)
            case _:
                return 0

    async def _act(self, borrowing: Borrowing, today: date) -> None:
        world = self.world
        open_rows = await LoanInstallment.filter(
            loan_id=borrowing.loan_id, status__not=InstallmentStatus.PAID
        ).order_by("number")
        if not open_rows:
            borrowing.done = True
            return
        if borrowing.early_on is not None and today >= borrowing.early_on:
            await pay(world, borrowing, RepayMode.EARLY_FULL, None)
            borrowing.early_on = None
            return
        first = open_rows[0]
        if first.due_date > today:
            return
        if first.number not in borrowing.pay_on:
            borrowing.pay_on[first.number] = first.due_date + timedelta(
                days=self._lateness(borrowing, first.number)
            )
        if today < borrowing.pay_on[first.number]:
            return
        fallen_due = sum(1 for row in open_rows if row.due_date <= today)
        if fallen_due > 1:
            await pay(world, borrowing, RepayMode.COUNT, fallen_due)
        else:
            await pay(world, borrowing, RepayMode.NEXT, None)
        if (
            borrowing.profile == Profile.EARLY
            and first.number == borrowing.stop_at
            and borrowing.early_on is None
        ):
            borrowing.early_on = today + timedelta(days=world.rng.randint(1, 25))

    async def coverage(self) -> dict[str, bool]:
        """What the year is meant to exercise, and whether it did."""
        stats = self.world.stats
        settled = await Loan.filter(status=LoanStatus.SETTLED).count()
        return {
            "loans settled >= 5": settled >= 5,
            "early repayment in full": stats["repaid:EARLY_FULL"] >= 1,
            "refused for too little balance": stats["refused for too little balance"] >= 1,
            "repayments with penalty >= 3": stats["repayments with penalty"] >= 3,
            "several installments at once": stats["repaid:COUNT"] >= 1,
            "withdrawals >= 10": stats["withdrawals"] >= 10,
            "reserve advances": stats["reserve advances"] >= 1,
            "every repayment method": all(stats[f"method:{m}"] for m in RepaymentMethod),
        }
