"""The `wide` scenario (the default): what real books meet, for the sweep.

Members (default 60) are one borrower per loan (default 24) and lenders for the rest
(with 224 members or more the crowd loan's 200 claims have 200 distinct holders; a
sweep runs every fourth pair so).
A loan is listed every third day. The first four loans take the four repayment methods
in turn, the others draw one; terms 1 to 12 months, rates 6-24 %. Loan 2 (when there are
two lenders or more) is a crowd loan of 200 claims, some of a few fen; loan 3 has a
claim of exactly 1 fen (the last bid takes exactly what is left). Other loans have 2 to
8 holders in uneven shares.

Borrowers repay on a profile dealt from a deck: punctual; late 1-40 days at random;
early in full mid-term; a 60-120-day default then everything at once; partial payments
of what has fallen due now and then before paying the rest (`RepayMode.AMOUNT`); late
5-25 days once then early in full (before any advance); late 31-70 days once (advanced
by the reserve) then early in full. About one repayment in eight races a withdrawal (a
holder's or the borrower's own) confirmed at the same moment: either may be refused
INSUFFICIENT_FUNDS, never both paid from the same money. Lenders withdraw now and then.

In half the runs the provider misbehaves: it answers 503 now and then, drops or
duplicates callbacks (each at a rate drawn for the run; the faults draw from their own
seeded sequence).

The risk reserve starts with 50,000.00 and a drawn share of the service fees; it
advances installments 30 days late, is switched off on a drawn day between day 60 and
200 and on again 20-90 days later, and is topped up by the platform when it runs low.

With `--transfers` lenders trade claims (`simulation/trading.py`); with `--guarantees`
two guarantee companies guarantee about a third of the loans and compensate their
holders (`simulation/guaranteeing.py`), and about a quarter of the loans pledge a
property that is valued, transferred and sold when its loan defaults
(`simulation/pledging.py`).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import cast

from models.bids import Claim
from models.loans import Loan, LoanStatus
from models.repayments import InstallmentStatus, LoanInstallment, ReserveAdvance
from services.errors import DomainError
from services.loans.schedule import RepaymentMethod
from services.money import ledger, withdrawals
from services.operations import confirmation
from services.payments.provider import WithdrawSpeed
from services.payments.sandbox.faults import FaultConfig
from services.repayments import overdue, service
from services.repayments.due import RepayMode
from simulation.classic import RATES, set_reserve, uneven_shares
from simulation.config import RunConfig
from simulation.guaranteeing import BeforeReview, Guaranteeing
from simulation.people import Person, code_for, member_actor
from simulation.pledging import Pledging
from simulation.trading import Trading
from simulation.world import (
    Borrowing,
    Profile,
    World,
    fill_sign_disburse,
    key,
    lenders_withdraw,
    pay,
    settle,
    withdraw_proceeds,
)

MEMBERS = 60
LOANS = 24
LENDER_FUNDS = 2_000_000
RESERVE_FUNDS = 5_000_000
RESERVE_LOW = 1_000_000
CROWD_CLAIMS = 200
TERMS = (1, 2, 3, 6, 9, 12)
DECK = (
    Profile.PUNCTUAL,
    Profile.LATE,
    Profile.EARLY,
    Profile.DEFAULTER,
    Profile.PARTIAL,
    Profile.LATE_THEN_EARLY,
    Profile.ADVANCED_THEN_EARLY,
    Profile.PUNCTUAL,
)


class Wide:
    name = "wide"

    def __init__(self, world: World, config: RunConfig) -> None:
        self.world = world
        self.loans = config.loans or LOANS
        self.members = config.members or max(MEMBERS, self.loans + 2)
        self.reserve_off_on = 0
        self.reserve_on_again = 0
        self.trading = Trading(world) if config.transfers else None
        self.guaranteeing = Guaranteeing(world) if config.guarantees else None
        self.pledging = Pledging(world) if config.guarantees else None

    # --- set-up -----------------------------------------------------------------------

    async def set_up(self) -> None:
        world = self.world
        for number in range(self.members - self.loans):
            lender = await world.people.lender(f"Lender {number}", LENDER_FUNDS)
            world.lenders.append(lender)
            world.lender_room[lender.user_id] = LENDER_FUNDS
        profiles = [DECK[index % len(DECK)] for index in range(self.loans)]
        world.rng.shuffle(profiles)
        for profile in profiles:
            person = await world.people.borrower("Borrower Member")
            world.borrowings.append(Borrowing(person=person, profile=profile))
        await world.people.fund_risk_reserve(RESERVE_FUNDS)
        world.book.reserve_funded_fen += RESERVE_FUNDS
        share = world.rng.choice(("0.0000", "0.2500", "0.5000", "1.0000"))
        await set_reserve(world, enabled=True, share=share)
        self.reserve_off_on = world.rng.randint(60, 200)
        self.reserve_on_again = self.reserve_off_on + world.rng.randint(20, 90)
        if world.rng.random() < 0.5:  # the provider misbehaves, as providers do
            faults = FaultConfig(
                error_rate=world.rng.choice((0.0, 0.02, 0.05)),
                drop_callback_rate=world.rng.choice((0.0, 0.02, 0.05)),
                duplicate_callback_rate=world.rng.choice((0.0, 0.1, 0.3)),
            )
            await world.sandbox.set_faults(faults, seed=world.rng.randrange(2**32))
            world.stats["provider faults"] = 1
        if self.guaranteeing is not None and self.pledging is not None:
            await self.guaranteeing.set_up()
            await self.pledging.set_up()

    # --- each day ---------------------------------------------------------------------

    async def day(self, number: int, today: date) -> None:
        world = self.world
        if number in (self.reserve_off_on, self.reserve_on_again):
            await set_reserve(world, enabled=number == self.reserve_on_again)
            world.stats["reserve switched"] += 1
        if number % 3 == 0 and number // 3 < self.loans:
            await self._open_loan(number // 3, world.borrowings[number // 3], today)
        await overdue.run_daily(today)
        for borrowing in world.borrowings:
            if borrowing.loan_id and not borrowing.done:
                await self._act(borrowing, today)
        if self.trading is not None:
            await self.trading.day(today)
        if self.guaranteeing is not None and self.pledging is not None:
            await self.guaranteeing.day(number, today)
            await self.pledging.day(today)
        await lenders_withdraw(world, fee_counted=True)
        await settle(world)
        if await ledger.balance(ledger.RISK_RESERVE) < RESERVE_LOW:
            await world.people.fund_risk_reserve(RESERVE_FUNDS)
            world.book.reserve_funded_fen += RESERVE_FUNDS
            world.stats["reserve topped up"] += 1

    # --- loans ------------------------------------------------------------------------

    async def _lender_for(self, share: int, taken: set[int]) -> Person:
        """A lender with room for `share`, one not in `taken` when there is one (a crowd
        loan has as many distinct holders as there are lenders, up to its claims)."""
        world = self.world
        candidates = [p for p in world.lenders if world.lender_room[p.user_id] >= share]
        fresh = [p for p in candidates if p.user_id not in taken]
        lender = world.rng.choice(fresh or candidates or world.lenders)
        taken.add(lender.user_id)
        if not candidates:  # nobody has room: they top up
            lacking = share - world.lender_room[lender.user_id]
            await world.people.top_up(lender, lacking)
            world.lender_room[lender.user_id] += lacking
        world.lender_room[lender.user_id] -= share
        return lender

    async def _open_loan(self, index: int, borrowing: Borrowing, today: date) -> None:
        world = self.world
        rng = world.rng
        methods = list(RepaymentMethod)
        method = methods[index] if index < len(methods) else rng.choice(methods)
        term = rng.choice(TERMS)
        rate = rng.choice(RATES)
        crowd = index == 1 and len(world.lenders) >= 2
        if crowd:
            amount = rng.randrange(400_000, 1_000_001)
            shares = uneven_shares(world, amount, CROWD_CLAIMS, 100)
            min_bid = 100
        elif index == 2:
            amount = rng.randrange(500_000, 2_500_001)
            shares = [*uneven_shares(world, amount - 1, rng.randint(2, 5), 5_000), 1]
            min_bid = 5_000
        else:
            amount = rng.randrange(500_000, 2_500_001)
            shares = uneven_shares(world, amount, rng.randint(2, 8), 5_000)
            min_bid = 5_000
        loan = await world.people.listed_loan(
            borrowing.person,
            amount,
            rate=rate,
            term=term,
            method=method,
            min_bid_fen=min_bid,
            before_review=self._before_review(borrowing, today),
        )
        taken: set[int] = set()
        bids = [(await self._lender_for(share, taken), share) for share in shares]
        world.stats["most holders of a loan"] = max(
            world.stats["most holders of a loan"], len(taken)
        )
        borrowing.loan_id = loan.id
        await fill_sign_disburse(world, loan, bids)
        await withdraw_proceeds(world, borrowing, amount)
        if crowd:
            world.stats["crowd claims"] = await Claim.filter(loan_id=loan.id).count()
        if index == 2:
            world.stats["1-fen claims"] += await Claim.filter(
                loan_id=loan.id, principal_fen=1
            ).count()
        term = borrowing.term
        match borrowing.profile:
            case Profile.EARLY if term >= 2:
                borrowing.stop_at = rng.randint(1, term - 1)
            case Profile.EARLY:
                borrowing.early_on = today + timedelta(days=rng.randint(20, 60))
            case Profile.DEFAULTER | Profile.LATE_THEN_EARLY | Profile.ADVANCED_THEN_EARLY:
                borrowing.stop_at = rng.randint(1, term)
            case _:
                pass

    def _before_review(self, borrowing: Borrowing, today: date) -> BeforeReview | None:
        """With `--guarantees`: a guarantee asked for and answered, a property pledged
        (each drawn now, in this order)."""
        if self.guaranteeing is None or self.pledging is None:
            return None
        hooks = [
            hook
            for hook in (
                self.guaranteeing.before_review(borrowing.profile),
                self.pledging.before_review(borrowing, today),
            )
            if hook is not None
        ]

        async def before_review(loan: Loan) -> None:
            for hook in hooks:
                await hook(loan)

        return before_review if hooks else None

    # --- borrowers --------------------------------------------------------------------

    def _lateness(self, borrowing: Borrowing, number: int) -> int:
        rng = self.world.rng
        profile = borrowing.profile
        if profile in (Profile.LATE, Profile.PARTIAL):
            return 0 if rng.random() < 0.3 else rng.randint(1, 40)
        if number != borrowing.stop_at:
            return 0
        match profile:
            case Profile.DEFAULTER:
                return rng.randint(60, 120)
            case Profile.LATE_THEN_EARLY:
                return rng.randint(5, 25)
            case Profile.ADVANCED_THEN_EARLY:
                return rng.randint(31, 70)
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
            await self._repay(borrowing, RepayMode.EARLY_FULL, None)
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
            if borrowing.profile == Profile.PARTIAL and world.rng.random() < 0.15:
                await self._pay_part(borrowing, open_rows, today)
            return
        fallen_due = sum(1 for row in open_rows if row.due_date <= today)
        then_early = borrowing.profile in (Profile.LATE_THEN_EARLY, Profile.ADVANCED_THEN_EARLY)
        if then_early and first.number == borrowing.stop_at:
            advanced = first.due_date + timedelta(days=world.book.advance_after_days) <= today
            world.stats[f"early after {'an advance' if advanced else 'lateness'}"] += 1
            await self._repay(borrowing, RepayMode.EARLY_FULL, None)
            return
        if fallen_due > 1:
            await self._repay(borrowing, RepayMode.COUNT, fallen_due)
        else:
            await self._repay(borrowing, RepayMode.NEXT, None)
        if (
            borrowing.profile == Profile.EARLY
            and first.number == borrowing.stop_at
            and borrowing.early_on is None
        ):
            borrowing.early_on = today + timedelta(days=world.rng.randint(1, 25))

    async def _pay_part(
        self, borrowing: Borrowing, open_rows: list[LoanInstallment], today: date
    ) -> None:
        """Pay part (10-80 %) of what has fallen due."""
        due = sum(overdue.amount_due(row) for row in open_rows if row.due_date <= today)
        if due < 2:
            return
        amount = max(1, due * self.world.rng.randint(10, 80) // 100)
        done = await pay(self.world, borrowing, RepayMode.AMOUNT, None, amount=amount)
        self.world.stats["partial payments"] += 1
        last = await LoanInstallment.get(loan_id=borrowing.loan_id, number=done.installments[-1])
        if (
            last.status != InstallmentStatus.PAID
            and await ReserveAdvance.filter(installment_id=last.id).exists()
        ):
            self.world.stats["advanced installments paid in part"] += 1

    async def _repay(self, borrowing: Borrowing, mode: RepayMode, count: int | None) -> None:
        if self.world.rng.random() < 0.125:
            await self._race(borrowing, mode, count)
        else:
            await pay(self.world, borrowing, mode, count)

    async def _race(self, borrowing: Borrowing, mode: RepayMode, count: int | None) -> None:
        """The repayment confirmed at the same moment as a withdrawal: a holder's of this
        loan, or the borrower's own of money the repayment needs."""
        world = self.world
        rng = world.rng
        person = borrowing.person
        actor = member_actor(person.user_id)
        asked = await service.repay(
            actor=actor, loan_id=borrowing.loan_id, mode=mode, count=count, idempotency_key=key("r")
        )
        repay_code = await code_for(person.phone)
        available = (await ledger.member_balances(person.user_id))["available"]
        if asked.amount_fen > available:
            await world.people.top_up(person, asked.amount_fen - available)
        own = rng.random() < 0.5
        if own:
            other = person
        else:
            holders = cast(
                list[int],
                await Claim.filter(loan_id=borrowing.loan_id).values_list("holder_id", flat=True),
            )
            holder_id = rng.choice(sorted(holders))
            other = next(p for p in world.lenders if p.user_id == holder_id)
        balance = (await ledger.member_balances(other.user_id))["available"]
        fee = withdrawals.withdraw_fee(WithdrawSpeed.T0)
        if balance <= fee + 100:
            await pay(world, borrowing, mode, count)
            return
        amount = rng.randint(100, balance - fee)
        withdrawal = await withdrawals.withdraw(
            actor=member_actor(other.user_id),
            amount=amount,
            speed=WithdrawSpeed.T0,
            card_id=other.card_id,
            idempotency_key=key("w"),
        )
        withdraw_code = await code_for(other.phone)
        results = await asyncio.gather(
            confirmation.confirm_operation(
                actor=actor, operation_id=str(asked.operation_id), code=repay_code
            ),
            confirmation.confirm_operation(
                actor=member_actor(other.user_id),
                operation_id=str(withdrawal.id),
                code=withdraw_code,
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                if not (isinstance(result, DomainError) and result.code == "INSUFFICIENT_FUNDS"):
                    raise result
                world.stats["refused in a race"] += 1
        world.stats[f"races with {'own' if own else 'a holder'} withdrawal"] += 1
        if other.user_id in world.lender_room:  # what a lender may still lend
            left = (await ledger.member_balances(other.user_id))["available"]
            world.lender_room[other.user_id] = min(world.lender_room[other.user_id], left)

    async def coverage(self) -> dict[str, bool]:
        """What the run is meant to exercise, and whether it did."""
        stats = self.world.stats
        settled = await Loan.filter(status=LoanStatus.SETTLED).count()
        wanted = {
            "loans settled >= 3": settled >= 3,
            "every repayment method": all(stats[f"method:{m}"] for m in RepaymentMethod),
            "a crowd loan of 200 claims": stats["crowd claims"] == CROWD_CLAIMS,
            "a 1-fen claim": stats["1-fen claims"] >= 1,
            "reserve advances": stats["reserve advances"] >= 1,
            "reserve switched off and on": stats["reserve switched"] == 2,
            "early repayment in full": stats["repaid:EARLY_FULL"] >= 1,
            "early in full after an advance": stats["early after an advance"] >= 1,
            "early in full before an advance": stats["early after lateness"] >= 1,
            "repayments with penalty >= 3": stats["repayments with penalty"] >= 3,
            "withdrawals racing repayments": stats["races with own withdrawal"]
            + stats["races with a holder withdrawal"]
            >= 1,
        }
        wanted["partial payments"] = stats["partial payments"] >= 1
        if len(self.world.lenders) >= CROWD_CLAIMS:
            wanted["200 distinct holders of one loan"] = (
                stats["most holders of a loan"] >= CROWD_CLAIMS
            )
        if self.trading is not None:
            wanted |= await self.trading.coverage()
        if self.guaranteeing is not None and self.pledging is not None:
            wanted |= await self.guaranteeing.coverage()
            wanted |= await self.pledging.coverage()
        return wanted
