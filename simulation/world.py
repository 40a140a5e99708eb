"""What every scenario shares: the world of one run (its random draws, people, loans and
counts) and what a borrower and a lender do through the services (ask to repay, top up
by card what is missing, confirm with the SMS code; withdraw).

Every random draw comes from the run's one `random.Random(seed)`, in an order that
depends only on the draws before it and on what the platform answered: a run is
replayed exactly by its (scenario, seed, start date, sizes).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from models.bids import BidSource
from models.loans import Loan, LoanStatus
from models.payments import InstructionStatus, PaymentInstruction
from models.repayments import LoanInstallment, Repayment
from services.errors import DomainError
from services.loans import bidding
from services.money import ledger, withdrawals
from services.operations import confirmation
from services.payments import instructions
from services.payments.embedded import settle_until_quiet
from services.payments.provider import WithdrawSpeed
from services.platform import outbox
from services.platform.clock import system_now
from services.repayments import service
from services.repayments.due import RepayMode
from simulation import invariants
from simulation.people import People, Person, code_for, expect, member_actor


class Profile(StrEnum):
    """How a borrower repays."""

    PUNCTUAL = "PUNCTUAL"
    LATE = "LATE"  # each installment: on time, or 1-40 days late, at random
    EARLY = "EARLY"  # on time, then everything left early, mid-term
    DEFAULTER = "DEFAULTER"  # stops at one installment for 60-120 days, then pays all
    # `wide` only:
    PARTIAL = "PARTIAL"  # late, paying part of what is due now and then, then the rest
    LATE_THEN_EARLY = "LATE_THEN_EARLY"  # 5-25 days late once, then early in full
    ADVANCED_THEN_EARLY = "ADVANCED_THEN_EARLY"  # 31-70 days late once, then early in full


@dataclass
class Borrowing:
    """One borrower's loan and how they repay it."""

    person: Person
    profile: Profile
    loan_id: int = 0
    term: int = 0
    stop_at: int = 0  # the installment they stop at (or repay early after)
    pay_on: dict[int, date] = field(default_factory=dict)  # installment -> day they pay
    early_on: date | None = None
    done: bool = False


@dataclass
class World:
    rng: random.Random
    people: People
    book: invariants.Book
    lenders: list[Person] = field(default_factory=list)
    lender_room: dict[int, int] = field(default_factory=dict)  # what each may still lend
    borrowings: list[Borrowing] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    @property
    def sandbox(self) -> Any:
        return self.people.sandbox


def key(prefix: str) -> str:
    return f"sim-{prefix}-{uuid.uuid4().hex[:16]}"


async def settle(world: World) -> None:
    """The provider settles every instruction and calls back."""
    await settle_until_quiet(world.sandbox)


async def paid_at_the_bank(world: World, business_ref: str) -> None:
    """A GATEWAY deposit waiting for the bank (a company's money in, a disposal's
    proceeds): sent to the provider until it has it (a 503 leaves it to be sent again),
    paid at the sandbox's bank, then everything settled. Nothing else may be waiting for
    the bank meanwhile: the run settles only when no such deposit is open."""
    instruction = await PaymentInstruction.get(business_ref=business_ref)
    unsent = (InstructionStatus.PENDING, InstructionStatus.UNKNOWN)
    for _attempt in range(50):
        if instruction.status not in unsent:
            break
        await PaymentInstruction.filter(status__in=list(unsent)).update(
            next_attempt_at=system_now()
        )
        await instructions.send_due()
        await instruction.refresh_from_db()
    expect(instruction.status == InstructionStatus.SENT, f"{business_ref} {instruction.status}")
    await world.sandbox.bank_pay(instruction.request_id)
    await settle(world)


async def fill_sign_disburse(world: World, loan: Loan, bids: list[tuple[Person, int]]) -> Loan:
    """Each (lender, amount) bid accepted in order, the full loan signed by its borrower,
    settled, disbursed, settled: REPAYING with its installments. The caller has taken
    the bids off the lenders' room."""
    for lender, amount in bids:
        accepted = await bidding.accept(
            loan_id=loan.id, lender_id=lender.user_id, requested=amount, source=BidSource.MANUAL
        )
        expect(
            (accepted.bid.amount_fen, accepted.trimmed) == (amount, False),
            f"bid of {amount} on loan {loan.id}: {accepted.bid.amount_fen}",
        )
    await outbox.dispatch_once()
    borrowing = next(b for b in world.borrowings if b.person.user_id == loan.borrower_id)
    await world.people.sign(loan.id, borrowing.person)
    await settle(world)
    await bidding.disburse(loan.id)  # when the outbox has not done it yet
    await settle(world)
    loan = await Loan.get(id=loan.id)
    expect(loan.status == LoanStatus.REPAYING, f"loan {loan.id} {loan.status}")
    world.book.loan_ids.append(loan.id)
    world.stats[f"method:{loan.method}"] += 1
    return loan


async def withdraw_proceeds(world: World, borrowing: Borrowing, amount_fen: int) -> None:
    """The borrower takes the loan money out: every installment is topped up later."""
    proceeds = (await ledger.member_balances(borrowing.person.user_id))["available"]
    expect(proceeds >= amount_fen, f"proceeds {proceeds} of a loan of {amount_fen}")
    fee = withdrawals.withdraw_fee(WithdrawSpeed.T0)
    await world.people.withdraw(borrowing.person, proceeds - fee)
    borrowing.term = await LoanInstallment.filter(loan_id=borrowing.loan_id).count()


async def pay(
    world: World,
    borrowing: Borrowing,
    mode: RepayMode,
    count: int | None,
    *,
    amount: int | None = None,
) -> Repayment:
    """Ask, top up by card what is missing, confirm with the SMS code. Now and then the
    borrower confirms once without the money first (refused INSUFFICIENT_FUNDS: nothing
    moves, they ask again) or confirms a second time (refused: one payment)."""
    rng = world.rng
    person = borrowing.person
    actor = member_actor(person.user_id)
    extra: dict[str, Any] = {} if amount is None else {"amount_fen": amount}
    asked_key = key("repay")
    asked = await service.repay(
        actor=actor,
        loan_id=borrowing.loan_id,
        mode=mode,
        count=count,
        idempotency_key=asked_key,
        **extra,
    )
    again = await service.repay(
        actor=actor,
        loan_id=borrowing.loan_id,
        mode=mode,
        count=count,
        idempotency_key=asked_key,
        **extra,
    )
    expect(again.id == asked.id, "a retried request made a second repayment")
    available = (await ledger.member_balances(person.user_id))["available"]
    shortfall = asked.amount_fen - available
    if shortfall > 0 and rng.random() < 0.1:
        before = await ledger.member_balances(person.user_id)
        try:
            await confirmation.confirm_operation(
                actor=actor, operation_id=str(asked.operation_id), code=await code_for(person.phone)
            )
        except DomainError as refused:
            expect(refused.code == "INSUFFICIENT_FUNDS", f"refused {refused.code}")
        else:
            expect(False, "a repayment without the money was confirmed")
        expect(await ledger.member_balances(person.user_id) == before, "a refusal moved money")
        world.stats["refused for too little balance"] += 1
        asked = await service.repay(
            actor=actor,
            loan_id=borrowing.loan_id,
            mode=mode,
            count=count,
            idempotency_key=key("repay"),
            **extra,
        )
    if shortfall > 0:
        await world.people.deposit_paid(
            person, shortfall + rng.choice((0, 0, 0, rng.randint(1, 10_000))), key("topup")
        )
    code = await code_for(person.phone)
    confirmed = await confirmation.confirm_operation(
        actor=actor, operation_id=str(asked.operation_id), code=code
    )
    done = confirmed.target
    expect(isinstance(done, Repayment), "confirmation without a repayment")
    assert isinstance(done, Repayment)
    expect(
        (done.status, done.amount_fen) == ("DONE", asked.amount_fen),
        f"repayment {done.id} {done.status} {done.amount_fen} of {asked.amount_fen}",
    )
    parts = (
        done.principal_fen
        + done.interest_fen
        + done.fee_fen
        + done.penalty_fen
        + done.early_fee_fen
    )
    expect(done.amount_fen == parts, f"repayment {done.id}: {done.amount_fen} != its parts")
    if rng.random() < 0.05:
        try:
            await confirmation.confirm_operation(
                actor=actor, operation_id=str(asked.operation_id), code=code
            )
        except DomainError:
            world.stats["confirmed twice"] += 1
        else:
            expect(False, f"repayment {done.id} confirmed twice")
    world.stats[f"repaid:{mode}"] += 1
    if done.penalty_fen:
        world.stats["repayments with penalty"] += 1
    return done


async def lenders_withdraw(world: World, *, fee_counted: bool = False) -> None:
    """Now and then a lender takes part of what is available to their card. What they
    may still lend then counts the withdrawal's fee with `fee_counted` (`wide`); the
    `classic` year, as it ran, forgot it (harmless there, and kept for its replays)."""
    if world.rng.random() >= 0.15:
        return
    lender = world.rng.choice(world.lenders)
    available = (await ledger.member_balances(lender.user_id))["available"]
    if available < 20_000:
        return
    amount = world.rng.randint(10_000, available // 2)
    await world.people.withdraw(lender, amount)
    left = available - amount - (withdrawals.withdraw_fee(WithdrawSpeed.T0) if fee_counted else 0)
    world.lender_room[lender.user_id] = min(world.lender_room[lender.user_id], left)
    world.stats["withdrawals"] += 1
