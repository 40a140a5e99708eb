"""Issue 7 must-show: a simulated year of lending, checked every simulated day.

50 members: 20 borrowers, one loan each (random amount to the fen, rate, term and
repayment method; listed every third day from day 0), and 30 lenders who fill the loans
in uneven random shares (2 to 5 holders a loan). Then the business clock moves one day
at a time for a year. Each day: the daily overdue run, every borrower acts on a
profile drawn at the start (punctual; randomly late by 1-40 days; early repayment in
full mid-term; a long default of 60-120 days then everything at once), topping up by
card only what the repayment asks for, now and then confirming once without the money
(refused, nothing moves) or confirming twice (one payment); while late, the late and
defaulting borrowers now and then pay part of what has fallen due (mode AMOUNT, a random
amount short of it); lenders withdraw part of what they received now and then; the
provider settles and calls back. Then every day:

- the ledger: every journal balanced, every balance the sum of its postings, no account
  that may not go negative below zero (`ledger.check`);
- platform = provider: every custody account at the provider (members, fee, risk
  reserve) holds what the ledger says, to the fen, and none is negative;
- the claims: per loan, what the holders received adds up to what the borrower paid of
  each part (principal, interest, penalty), per repayment as well; every claim's
  cumulative principal and interest stay within one fen per installment paid of its
  exact share by principal, never above its principal; once a loan is settled each
  claim received exactly its principal and its largest-remainder share of the interest;
- overdue: exactly the unpaid installments past their due date are OVERDUE, each with
  the penalty of its unpaid principal and interest at the daily rate for every day past
  due, rounded once to the fen; for one paid in part, each day on what was unpaid of
  principal and interest that day (`overdue.penalty_with_payments`, from the payments
  its repayments record); a loan is SETTLED exactly when every installment is paid;
- the risk reserve (its advance is switched on here, after 30 days, and it takes half of
  every service fee; the platform funds it with 30,000.00 at the start): advances only
  for installments 30 or more days overdue; its balance is its funding plus its fee
  shares plus what borrowers paid back of advances less what it advanced; each holder's
  own receipts plus the advances paid to them are exactly their principal and interest
  share once the loan is settled.

The seed is SIMULATION_SEED (default below); a failure names the seed and the day.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, cast

import pytest

from models.bids import BidSource, Claim
from models.ledger import LedgerAccount
from models.loans import Loan, LoanStatus
from models.payments import BankCard, ProviderAccount
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    ReserveAdvance,
)
from services import accounts, clock, ledger, outbox, parameters
from services.errors import DomainError
from services.loans import bidding
from services.loans.schedule import RepaymentMethod, round_half_up
from services.payments.provider import DepositChannel, WithdrawSpeed
from services.permissions import Actor, Permission
from services.repayments import overdue, service, split
from services.repayments.overdue_policy import PENALTY_RATE, PENALTY_SCALE
from services.repayments.service import RepayMode
from tests.factories import withdraw_confirmed
from tests.lending import (
    borrower_signs,
    code_for,
    fund_risk_reserve,
    listed_loan,
    member_actor,
    ready_lender,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SEED = int(os.environ.get("SIMULATION_SEED", "20261129"))
BORROWERS = 20
LENDERS = 30
DAYS = 365
LENDER_FUNDS = 2_000_000  # 20,000.00 each: 600,000.00 for about 300,000.00 of loans
RESERVE_FUNDS = 3_000_000
ADVANCE_AFTER_DAYS = 30
PARAMS_ADMIN = Actor(
    user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE})
)
RATES = ("0.0600", "0.0850", "0.1000", "0.1200", "0.1500", "0.1800", "0.2400")
TERMS = (3, 6, 9, 12)


class Profile(StrEnum):
    PUNCTUAL = "PUNCTUAL"
    LATE = "LATE"  # each installment: on time, or 1-40 days late, at random
    EARLY = "EARLY"  # on time, then everything left early, mid-term
    DEFAULTER = "DEFAULTER"  # stops at one installment for 60-120 days, then pays all


@dataclass
class Borrowing:
    """One borrower's loan and how they repay it."""

    borrower_id: int
    phone: str
    card_id: int
    profile: Profile
    loan_id: int = 0
    term: int = 0
    stop_at: int = 0  # DEFAULTER: the installment they stop at; EARLY: they repay after it
    pay_on: dict[int, date] = field(default_factory=dict)  # installment -> day they pay
    early_on: date | None = None
    done: bool = False


@dataclass
class World:
    rng: random.Random
    sandbox: Any
    lenders: list[tuple[int, int]]  # (user id, card id)
    lender_room: dict[int, int]  # what each lender may still lend
    borrowings: list[Borrowing] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Partial payments draw from their own generator, so that the rest of the year
    # stays close to what the seed drew before they were simulated.
    partial_rng: random.Random = field(default_factory=lambda: random.Random(SEED + 1))


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def _card(user_id: int) -> int:
    card = await BankCard.filter(user_id=user_id, status="bound").order_by("id").first()
    assert card is not None
    return card.id


def _shares(rng: random.Random, amount: int, holders: int) -> list[int]:
    """`holders` uneven shares of `amount`, each at least the minimum bid of 50.00."""
    floor = 5_000
    cuts = sorted(rng.sample(range(1, amount - holders * floor), holders - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, amount - holders * floor], strict=True)]
    return [part + floor for part in parts]


# --- setting up ---------------------------------------------------------------------------


async def _open_loan(world: World, borrowing: Borrowing) -> None:
    """List the borrower's loan, fill it from lenders with room, sign, disburse; the
    borrower withdraws the proceeds."""
    rng = world.rng
    amount = rng.randrange(500_000, 2_500_001)  # 5,000.00 to 25,000.00, to the fen
    term = rng.choice(TERMS)
    method = rng.choice(list(RepaymentMethod))
    loan = await listed_loan(
        borrowing.borrower_id,
        amount,
        rate=rng.choice(RATES),
        term=term,
        method=method,
    )
    shares = _shares(rng, amount, rng.randint(2, 5))
    for share in shares:
        candidates = [user for user, _card in world.lenders if world.lender_room[user] >= share]
        lender = rng.choice(candidates)
        bid = await bidding.accept(
            loan_id=loan.id, lender_id=lender, requested=share, source=BidSource.MANUAL
        )
        assert (bid.bid.amount_fen, bid.trimmed) == (share, False)
        world.lender_room[lender] -= share
    await outbox.dispatch_once()
    await borrower_signs(loan.id, borrowing.borrower_id, borrowing.phone)
    await settle_everything(world.sandbox)
    await bidding.disburse(loan.id)  # when the outbox has not done it yet
    await settle_everything(world.sandbox)
    loan = await Loan.get(id=loan.id)
    assert loan.status == LoanStatus.REPAYING, loan.status
    assert await LoanInstallment.filter(loan_id=loan.id).count() == (
        1 if method == RepaymentMethod.LUMP_SUM else term
    )
    borrowing.loan_id = loan.id
    # The borrower takes the money out: every installment is topped up by card later.
    proceeds = (await ledger.member_balances(borrowing.borrower_id))["available"]
    assert proceeds >= amount
    fee = accounts.withdraw_fee(WithdrawSpeed.T0)
    await withdraw_confirmed(borrowing.borrower_id, borrowing.card_id, proceeds - fee)
    borrowing.term = await LoanInstallment.filter(loan_id=loan.id).count()
    if borrowing.profile == Profile.DEFAULTER:
        borrowing.stop_at = rng.randint(1, borrowing.term)
    elif borrowing.profile == Profile.EARLY and borrowing.term >= 2:
        borrowing.stop_at = rng.randint(1, borrowing.term - 1)
    elif borrowing.profile == Profile.EARLY:  # one installment (lump sum): repaid early
        borrowing.early_on = await clock.today() + timedelta(days=rng.randint(20, 60))
    world.stats[f"method:{method}"] += 1


# --- borrowers -----------------------------------------------------------------------------


def _lateness(world: World, borrowing: Borrowing, number: int) -> int:
    rng = world.rng
    match borrowing.profile:
        case Profile.LATE:
            return 0 if rng.random() < 0.4 else rng.randint(1, 40)
        case Profile.DEFAULTER if number == borrowing.stop_at:
            return rng.randint(60, 120)
        case _:
            return 0


async def _pay(world: World, borrowing: Borrowing, mode: RepayMode, count: int | None) -> None:
    """Ask, top up by card what is missing, confirm with the SMS code. Now and then the
    borrower confirms once without the money first (refused: nothing moves, ask again)
    or confirms a second time (refused: one payment)."""
    rng = world.rng
    actor = member_actor(borrowing.borrower_id)
    key = _key("repay")
    asked = await service.repay(
        actor=actor, loan_id=borrowing.loan_id, mode=mode, count=count, idempotency_key=key
    )
    again = await service.repay(
        actor=actor, loan_id=borrowing.loan_id, mode=mode, count=count, idempotency_key=key
    )
    assert again.id == asked.id  # a retried request is the same repayment
    available = (await ledger.member_balances(borrowing.borrower_id))["available"]
    shortfall = asked.amount_fen - available
    if shortfall > 0 and rng.random() < 0.1:
        before = await ledger.member_balances(borrowing.borrower_id)
        with pytest.raises(DomainError) as refused:
            await accounts.confirm_operation(
                actor=actor,
                operation_id=str(asked.operation_id),
                code=await code_for(borrowing.phone),
            )
        assert refused.value.code == "INSUFFICIENT_FUNDS"
        assert await ledger.member_balances(borrowing.borrower_id) == before
        world.stats["refused for too little balance"] += 1
        asked = await service.repay(
            actor=actor,
            loan_id=borrowing.loan_id,
            mode=mode,
            count=count,
            idempotency_key=_key("repay"),
        )
    if shortfall > 0:
        deposit = await accounts.deposit(
            actor=actor,
            amount=shortfall + rng.choice((0, 0, 0, rng.randint(1, 10_000))),
            channel=DepositChannel.AUTO_DEBIT,
            idempotency_key=_key("topup"),
            card_id=borrowing.card_id,
        )
        assert deposit.status == "PAID"
    code = await code_for(borrowing.phone)
    confirmed = await accounts.confirm_operation(
        actor=actor, operation_id=str(asked.operation_id), code=code
    )
    done = confirmed.target
    assert isinstance(done, Repayment)
    assert (done.status, done.amount_fen) == ("DONE", asked.amount_fen)
    assert done.amount_fen == (
        done.principal_fen
        + done.interest_fen
        + done.fee_fen
        + done.penalty_fen
        + done.early_fee_fen
    )
    if rng.random() < 0.05:
        with pytest.raises(DomainError):
            await accounts.confirm_operation(
                actor=actor, operation_id=str(asked.operation_id), code=code
            )
        world.stats["confirmed twice"] += 1
    world.stats[f"repaid:{mode}"] += 1
    if done.penalty_fen:
        world.stats["repayments with penalty"] += 1


PAYS_IN_PARTS = {Profile.LATE: 0.2, Profile.DEFAULTER: 0.1}  # a late day's chance


async def _pay_part(world: World, borrowing: Borrowing, today: date) -> None:
    """Now and then, while late, pay a random part of what has fallen due (mode AMOUNT):
    ask, top up by card what is missing, confirm."""
    rng = world.partial_rng
    if rng.random() >= PAYS_IN_PARTS[borrowing.profile]:
        return
    fallen_due = await LoanInstallment.filter(
        loan_id=borrowing.loan_id,
        status__not=InstallmentStatus.PAID,
        due_date__lte=today,
    ).order_by("number")
    # Mostly part of the oldest installment; one time in four part of everything fallen
    # due (which may pay the oldest off and part of the next).
    owed = [overdue.amount_due(row) for row in fallen_due]
    most = sum(owed) if rng.random() < 0.25 else owed[0]
    if most < 2:
        return
    amount = rng.randint(1, most - 1)
    actor = member_actor(borrowing.borrower_id)
    asked = await service.repay(
        actor=actor,
        loan_id=borrowing.loan_id,
        mode=RepayMode.AMOUNT,
        amount_fen=amount,
        idempotency_key=_key("part"),
    )
    assert asked.amount_fen == amount
    # Every installment it reaches but the last is paid off (the last, mostly in part).
    assert service.paid_off(asked)[: len(asked.installments) - 1] == asked.installments[:-1]
    shortfall = amount - (await ledger.member_balances(borrowing.borrower_id))["available"]
    if shortfall > 0:
        deposit = await accounts.deposit(
            actor=actor,
            amount=shortfall,
            channel=DepositChannel.AUTO_DEBIT,
            idempotency_key=_key("topup"),
            card_id=borrowing.card_id,
        )
        assert deposit.status == "PAID"
    confirmed = await accounts.confirm_operation(
        actor=actor,
        operation_id=str(asked.operation_id),
        code=await code_for(borrowing.phone),
    )
    done = confirmed.target
    assert isinstance(done, Repayment)
    assert (done.status, done.amount_fen) == ("DONE", amount)
    assert amount == done.principal_fen + done.interest_fen + done.fee_fen + done.penalty_fen
    world.stats["repaid:AMOUNT"] += 1
    last = await LoanInstallment.get(loan_id=borrowing.loan_id, number=done.installments[-1])
    if last.status == InstallmentStatus.OVERDUE:
        world.stats["overdue installments paid in part"] += 1
    if await ReserveAdvance.filter(installment_id=last.id).exists():
        world.stats["advanced installments paid in part"] += 1


async def _act(world: World, borrowing: Borrowing, today: date) -> None:
    """What the borrower does today on their loan."""
    open_rows = await LoanInstallment.filter(
        loan_id=borrowing.loan_id, status__not=InstallmentStatus.PAID
    ).order_by("number")
    if not open_rows:
        borrowing.done = True
        return
    if borrowing.early_on is not None and today >= borrowing.early_on:
        await _pay(world, borrowing, RepayMode.EARLY_FULL, None)
        borrowing.early_on = None
        return
    first = open_rows[0]
    if first.due_date > today:
        return
    if first.number not in borrowing.pay_on:
        borrowing.pay_on[first.number] = first.due_date + timedelta(
            days=_lateness(world, borrowing, first.number)
        )
    if today < borrowing.pay_on[first.number]:
        if today > first.due_date and borrowing.profile in PAYS_IN_PARTS:
            await _pay_part(world, borrowing, today)
        return
    fallen_due = sum(1 for row in open_rows if row.due_date <= today)
    if fallen_due > 1:
        await _pay(world, borrowing, RepayMode.COUNT, fallen_due)
    else:
        await _pay(world, borrowing, RepayMode.NEXT, None)
    if (
        borrowing.profile == Profile.EARLY
        and first.number == borrowing.stop_at
        and borrowing.early_on is None
    ):
        borrowing.early_on = today + timedelta(days=world.rng.randint(1, 25))


async def _lenders_withdraw(world: World) -> None:
    """Now and then a lender takes part of what is available to their card."""
    if world.rng.random() >= 0.15:
        return
    user_id, card_id = world.rng.choice(world.lenders)
    available = (await ledger.member_balances(user_id))["available"]
    if available < 20_000:
        return
    amount = world.rng.randint(10_000, available // 2)
    await withdraw_confirmed(user_id, card_id, amount)
    world.lender_room[user_id] = min(world.lender_room[user_id], available - amount)
    world.stats["withdrawals"] += 1


# --- the invariants ------------------------------------------------------------------------


async def _platform_equals_provider(sandbox: Any) -> None:
    books = dict(
        cast(list[tuple[str, int]], await LedgerAccount.all().values_list("code", "balance"))
    )
    held = {balance.account_id: balance for balance in await sandbox.balances()}
    owners = await ProviderAccount.filter(provider_account_id__isnull=False)
    assert owners
    for owner in owners:
        balance = held[owner.provider_account_id]
        assert balance.available_fen >= 0, owner.owner_code
        assert balance.frozen_fen >= 0, owner.owner_code
        code = owner.owner_code
        if code.startswith("m:"):
            expected = (
                books.get(f"{code}:available", 0) + books.get(f"{code}:withdrawing", 0),
                books.get(f"{code}:frozen", 0),
            )
        else:
            expected = (books.get(code, 0), 0)
        assert (balance.available_fen, balance.frozen_fen) == expected, code


def _within(received: int, paid: int, weight: int, total: int, lines: int) -> bool:
    """`received` is within `lines` fen of the exact share weight/total of `paid`."""
    return abs(received * total - paid * weight) <= lines * total


async def _claims_received_their_share(loan_ids: list[int]) -> None:
    claims = await Claim.filter(loan_id__in=loan_ids).order_by("id")
    receipts = await Receipt.filter(loan_id__in=loan_ids).values(
        "claim_id", "repayment_id", "principal_fen", "interest_fen", "penalty_fen", "to_reserve"
    )
    advances = await ReserveAdvance.filter(loan_id__in=loan_ids)
    repayments = await Repayment.filter(loan_id__in=loan_ids, status="DONE")
    installments = await LoanInstallment.filter(loan_id__in=loan_ids)
    got: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # the claim, whoever holds it
    holder_got: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # its holder: own + advances
    by_repayment: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    penalty_by: dict[tuple[int, int], int] = defaultdict(int)  # (repayment, claim)
    for row in receipts:
        parts = (row["principal_fen"], row["interest_fen"], row["penalty_fen"])
        assert min(parts) >= 0, row
        for index, part in enumerate(parts):
            got[row["claim_id"]][index] += part
            by_repayment[row["repayment_id"]][index] += part
        penalty_by[(row["repayment_id"], row["claim_id"])] += row["penalty_fen"]
        if not row["to_reserve"]:
            holder_got[row["claim_id"]][0] += row["principal_fen"]
            holder_got[row["claim_id"]][1] += row["interest_fen"]
        else:
            assert row["penalty_fen"] == 0, row  # the reserve advanced no penalty
    for advance in advances:
        holder_got[advance.claim_id][0] += advance.principal_fen
        holder_got[advance.claim_id][1] += advance.interest_fen
    paid: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    lines: dict[int, int] = defaultdict(int)
    principal_of = {claim.id: claim.principal_fen for claim in claims}
    whole_of: dict[int, int] = defaultdict(int)
    for claim in claims:
        whole_of[claim.loan_id] += claim.principal_fen
    repayment_of = {repayment.id: repayment for repayment in repayments}
    for (repayment_id, claim_id), penalty in penalty_by.items():
        # Penalty is shared by principal in each payment: within a fen per installment.
        repayment = repayment_of[repayment_id]
        assert _within(
            penalty,
            repayment.penalty_fen,
            principal_of[claim_id],
            whole_of[repayment.loan_id],
            len(repayment.installments),
        ), (repayment_id, claim_id)
    for repayment in repayments:
        parts = (repayment.principal_fen, repayment.interest_fen, repayment.penalty_fen)
        assert by_repayment[repayment.id] == list(parts), repayment.id
        for index, part in enumerate(parts):
            paid[repayment.loan_id][index] += part
        lines[repayment.loan_id] += len(repayment.installments)
    interest_charged: dict[int, int] = defaultdict(int)
    settled: dict[int, bool] = defaultdict(lambda: True)
    for row in installments:
        interest_charged[row.loan_id] += row.interest_fen
        settled[row.loan_id] &= row.status == InstallmentStatus.PAID
    per_loan: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        per_loan[claim.loan_id].append(claim)
    for loan_id, held in per_loan.items():
        principals = [claim.principal_fen for claim in held]
        whole = sum(principals)
        received = [got[claim.id] for claim in held]
        for index in range(3):
            assert sum(r[index] for r in received) == paid[loan_id][index], (loan_id, index)
        for claim, (principal, interest, _penalty) in zip(held, received, strict=True):
            assert principal <= claim.principal_fen, claim.id
            n = lines[loan_id]
            assert _within(principal, paid[loan_id][0], claim.principal_fen, whole, n), claim.id
            assert _within(interest, paid[loan_id][1], claim.principal_fen, whole, n + 1), claim.id
        if settled[loan_id]:
            targets = split.interest_targets(interest_charged[loan_id], principals)
            exact = [
                [claim.principal_fen, target] for claim, target in zip(held, targets, strict=True)
            ]
            assert [r[:2] for r in received] == exact, loan_id
            assert [holder_got[claim.id] for claim in held] == exact, loan_id


async def _reserve_accounts_for_itself(funds: int) -> int:
    """The reserve's balance from what moved through it; returns how many advances."""
    fee_shares = sum(
        int(details.get("reserve_fen", 0))
        for details in await Repayment.filter(status="DONE").values_list("details", flat=True)
    )
    recovered = sum(
        principal + interest
        for principal, interest in await Receipt.filter(to_reserve=True).values_list(
            "principal_fen", "interest_fen"
        )
    )
    advances = await ReserveAdvance.all()
    advanced = sum(advance.principal_fen + advance.interest_fen for advance in advances)
    assert await ledger.balance(ledger.RISK_RESERVE) == funds + fee_shares + recovered - advanced
    due = {
        row.id: row.due_date
        for row in await LoanInstallment.filter(id__in=[a.installment_id for a in advances])
    }
    for advance in advances:
        late = (advance.created_at.date() - due[advance.installment_id]).days
        assert late >= ADVANCE_AFTER_DAYS, advance.id
    return len(advances)


async def _payments_by_installment(loan_ids: list[int]) -> dict[tuple[int, int], list[Any]]:
    """(loan, installment number) -> [(day, principal + interest paid)], from the lines
    every repayment made records."""
    made = await Repayment.filter(loan_id__in=loan_ids, status="DONE").values_list(
        "loan_id", "done_at", "details"
    )
    answer: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for loan_id, done_at, details in made:
        for line in details.get("lines", []):
            answer[(loan_id, line["number"])].append(
                (done_at.date(), line["principal_fen"] + line["interest_fen"])
            )
    return answer


async def _overdue_as_the_calendar_says(loan_ids: list[int], today: date) -> int:
    """Returns how many installments are open and partly paid."""
    daily_rate = (await parameters.get(PENALTY_RATE)).daily_rate
    scale = int(daily_rate * PENALTY_SCALE)
    payments = await _payments_by_installment(loan_ids)
    partly = 0
    rows = await LoanInstallment.filter(loan_id__in=loan_ids)
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    open_by_loan: dict[int, int] = defaultdict(int)
    for row in rows:
        if row.status == InstallmentStatus.PAID:
            continue
        open_by_loan[row.loan_id] += 1
        late = (today - row.due_date).days
        if late <= 0:
            assert row.status == InstallmentStatus.PENDING, (row.loan_id, row.number)
            assert row.penalty_accrued_fen == 0
            continue
        assert row.status == InstallmentStatus.OVERDUE, (row.loan_id, row.number)
        paid = payments.get((row.loan_id, row.number), [])
        unpaid = overdue.unpaid_principal_interest(row)
        assert unpaid == row.principal_fen + row.interest_fen - sum(p for _d, p in paid)
        if not paid:
            assert row.penalty_accrued_fen == round_half_up(unpaid * scale * late, PENALTY_SCALE), (
                row.loan_id,
                row.number,
            )
            continue
        partly += 1
        assert row.penalty_accrued_fen == overdue.penalty_with_payments(
            principal_interest_fen=row.principal_fen + row.interest_fen,
            first_day=row.due_date + timedelta(days=1),
            through=today,
            daily_rate=daily_rate,
            payments=paid,
        ), (row.loan_id, row.number, paid)
    for loan_id, loan in loans.items():
        if open_by_loan[loan_id] == 0:
            assert loan.status == LoanStatus.SETTLED, loan_id
        else:
            assert loan.status in (LoanStatus.REPAYING, LoanStatus.OVERDUE), loan_id
    return partly


async def _invariants(world: World, today: date) -> None:
    report = await ledger.check()
    assert report.ok, report
    await _platform_equals_provider(world.sandbox)
    loan_ids = [b.loan_id for b in world.borrowings if b.loan_id]
    await _claims_received_their_share(loan_ids)
    partly = await _overdue_as_the_calendar_says(loan_ids, today)
    world.stats["most open installments paid in part"] = max(
        world.stats["most open installments paid in part"], partly
    )
    world.stats["reserve advances"] = await _reserve_accounts_for_itself(RESERVE_FUNDS)


# --- the year ------------------------------------------------------------------------------


async def _members(world_rng: random.Random, scripted: dict[str, Any]) -> list[Borrowing]:
    profiles = (
        [Profile.PUNCTUAL] * 8 + [Profile.LATE] * 6 + [Profile.EARLY] * 3 + [Profile.DEFAULTER] * 3
    )
    world_rng.shuffle(profiles)
    borrowings = []
    for profile in profiles[:BORROWERS]:
        user, phone = await verified_borrower(scripted)
        borrowings.append(
            Borrowing(
                borrower_id=user.id, phone=phone, card_id=await _card(user.id), profile=profile
            )
        )
    return borrowings


async def test_a_simulated_year_keeps_every_invariant_every_day(app, scripted):
    rng = random.Random(SEED)
    sandbox = app.state.sandbox.sandbox
    lenders = []
    for number in range(LENDERS):
        user, _phone = await ready_lender(LENDER_FUNDS, name=f"Lender {number}")
        lenders.append((user.id, await _card(user.id)))
    world = World(
        rng=rng,
        sandbox=sandbox,
        lenders=lenders,
        lender_room={user: LENDER_FUNDS for user, _card in lenders},
    )
    world.borrowings = await _members(rng, scripted)
    await fund_risk_reserve(sandbox, RESERVE_FUNDS)
    await parameters.set_value(
        PARAMS_ADMIN, "repayments.riskReserveShare", {"share": "0.5000"}, "simulation"
    )
    await parameters.set_value(
        PARAMS_ADMIN,
        "repayments.reserveAdvance",
        {"enabled": True, "after_days": ADVANCE_AFTER_DAYS},
        "simulation",
    )
    start = await clock.today()
    for day in range(DAYS):
        if day:
            await clock.advance(days=1)
        today = await clock.today()
        assert today == start + timedelta(days=day)
        try:
            if day % 3 == 0 and day // 3 < BORROWERS:
                await _open_loan(world, world.borrowings[day // 3])
            await overdue.run_daily(today)
            for borrowing in world.borrowings:
                if borrowing.loan_id and not borrowing.done:
                    await _act(world, borrowing, today)
            await _lenders_withdraw(world)
            await settle_everything(sandbox)
            await _invariants(world, today)
        except AssertionError as failure:
            raise AssertionError(f"seed {SEED}, day {day} ({today}): {failure}") from failure

    # The year exercised what it is meant to: every method, lateness, penalty, early
    # repayment, refusals, loans settled and loans still running.
    settled = await Loan.filter(status=LoanStatus.SETTLED).count()
    running = await Loan.filter(status__in=[LoanStatus.REPAYING, LoanStatus.OVERDUE]).count()
    assert settled + running == BORROWERS
    assert settled >= 5, dict(world.stats)
    assert world.stats["repaid:EARLY_FULL"] >= 1, dict(world.stats)
    assert world.stats["refused for too little balance"] >= 1, dict(world.stats)
    assert world.stats["repayments with penalty"] >= 3, dict(world.stats)
    assert world.stats["repaid:COUNT"] >= 1, dict(world.stats)
    assert world.stats["repaid:AMOUNT"] >= 10, dict(world.stats)
    assert world.stats["overdue installments paid in part"] >= 5, dict(world.stats)
    assert world.stats["most open installments paid in part"] >= 1, dict(world.stats)
    assert world.stats["advanced installments paid in part"] >= 1, dict(world.stats)
    assert world.stats["withdrawals"] >= 10, dict(world.stats)
    assert world.stats["reserve advances"] >= 1, dict(world.stats)
    assert all(world.stats[f"method:{method}"] for method in RepaymentMethod), dict(world.stats)
