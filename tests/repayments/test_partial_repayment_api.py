"""Partial repayment: `repay(mode: AMOUNT, amount)` towards what has fallen due.

A loan of 10,000.00 at 12 % over 3 months (equal installments, 0.30 % monthly fee),
held 3,333.33 / 3,333.33 / 3,333.34. Installment 1 asks 3,300.22 principal, 100.00
interest and 30.00 fee; the penalty is 0.05 % a day of the unpaid principal and
interest, kept exact in millionths of a fen and rounded once.

An amount pays the installments fallen due oldest first, each in the allocation order
(penalty, interest, principal, fee); an installment is PAID only when every part is;
penalty then accrues on what stays unpaid only, and penalty paid is never asked again.
Holders get their share of every part paid (the reserve, of an installment it advanced,
the principal and interest until it has all it advanced back, per claim); over the
whole loan each holder has exactly their principal and interest share. Every refusal is
a typed error that changes nothing; the same key twice is one repayment.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.ledger import Posting
from models.loans import Loan
from models.messaging import OutboxEvent, OutgoingMessage
from models.payments import PaymentInstruction, PendingOperation, ProviderAccount
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentStatus,
    ReserveAdvance,
)
from services.errors import DomainError
from services.identity.permissions import Actor, Permission
from services.loans import bid_checks
from services.loans.schedule import round_half_up
from services.money import ledger
from services.money.money import allocate
from services.operations import confirmation
from services.platform import clock, outbox, parameters
from services.repayments import autodebit, overdue, service, split, views
from services.repayments.due import RepayMode
from services.repayments.events import repayment_events_channel
from services.repayments.overdue_policy import PENALTY_SCALE
from tests.factories import create_member, gql, token_for
from tests.lending import (
    RepayingLoan,
    assert_ledger_matches_provider,
    code_for,
    deposit_by_card,
    fund_risk_reserve,
    member_actor,
    move_clock_to,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SHARES = (333_333, 333_333, 333_334)
RATE = Decimal("0.0005")
MICRO = 500  # 0.0005 a day: millionths of a fen per fen and day
FIRST = (330_022, 10_000, 3_000)  # installment 1: principal, interest, fee
TOTAL_INTEREST = 10_000 + 6_700 + 3_367
ADMIN = Actor(user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE}))
RESERVE_SHARE = Decimal("0.3333")
RESERVE_FUNDS = 5_000_000


# --- helpers -----------------------------------------------------------------------------


def _key() -> str:
    return f"partial-{uuid.uuid4().hex[:16]}"


def _fen(micro: int) -> int:
    return round_half_up(micro, PENALTY_SCALE)


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


async def _loan(app: Any, scripted: dict[str, Any]) -> RepayingLoan:
    """The loan, REPAYING; the borrower has its 10,000.00 and 500.00 more."""
    made = await repaying_loan(scripted, app.state.sandbox.sandbox, shares=SHARES, term=3)
    await deposit_by_card(made.borrower.id, 50_000)
    rows = await _rows(made)
    assert (rows[0].principal_fen, rows[0].interest_fen, rows[0].fee_fen) == FIRST
    assert sum(row.interest_fen for row in rows) == TOTAL_INTEREST
    return made


async def _rows(made: RepayingLoan) -> list[LoanInstallment]:
    return await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")


async def _row(made: RepayingLoan, number: int) -> LoanInstallment:
    return await LoanInstallment.get(loan_id=made.loan.id, number=number)


def _lender_ids(made: RepayingLoan) -> list[int]:
    return [user.id for user, _phone in made.lenders]


async def _available(user_id: int) -> int:
    return (await ledger.member_balances(user_id))["available"]


async def _ask(
    made: RepayingLoan,
    amount: Any = None,
    *,
    mode: RepayMode = RepayMode.AMOUNT,
    key: str | None = None,
    count: int | None = None,
) -> Repayment:
    return await service.repay(
        actor=member_actor(made.borrower.id),
        loan_id=made.loan.id,
        mode=mode,
        count=count,
        amount_fen=amount,
        idempotency_key=key or _key(),
    )


async def _confirm(made: RepayingLoan, asked: Repayment, code: str | None = None) -> Repayment:
    confirmed = await confirmation.confirm_operation(
        actor=member_actor(made.borrower.id),
        operation_id=str(asked.operation_id),
        code=code or await code_for(made.borrower_phone),
    )
    assert isinstance(confirmed.target, Repayment)
    return confirmed.target


async def _pay(made: RepayingLoan, amount: int) -> Repayment:
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.AMOUNT, amount=amount
    )
    assert (done.status, done.kind, done.amount_fen) == ("DONE", "AMOUNT", amount)
    return done


async def _next(made: RepayingLoan) -> Repayment:
    """The next installment, whole (mode NEXT), confirmed."""
    return await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )


async def _age(day: date) -> date:
    today = await move_clock_to(day)
    await overdue.run_daily(today)
    return today


def _paid(row: LoanInstallment) -> tuple[int, int, int, int]:
    """Paid of an installment: principal, interest, fee, penalty."""
    return (row.paid_principal_fen, row.paid_interest_fen, row.paid_fee_fen, row.penalty_paid_fen)


def _parts(repayment: Repayment) -> tuple[int, int, int, int]:
    return (
        repayment.principal_fen,
        repayment.interest_fen,
        repayment.fee_fen,
        repayment.penalty_fen,
    )


async def _receipts(repayment_id: int, *, to_reserve: bool = False) -> list[tuple[int, int, int]]:
    """Per claim (in id order) what one repayment paid it: principal, interest, penalty."""
    rows = await Receipt.filter(repayment_id=repayment_id, to_reserve=to_reserve).order_by(
        "claim_id"
    )
    return [(r.principal_fen, r.interest_fen, r.penalty_fen) for r in rows]


def _sums(parts: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))


async def _events(user_id: int, kind: str) -> list[dict[str, Any]]:
    channel = repayment_events_channel(user_id)
    return [
        payload
        for row in await OutboxEvent.all().order_by("id")
        for topic, payload in outbox.messages(row.topic, row.payload)
        if topic == channel and payload["kind"] == kind
    ]


async def _platform_matches_provider(sandbox: Any) -> None:
    for code in (ledger.FEE, ledger.RISK_RESERVE):
        account = await ProviderAccount.get(owner_code=code)
        provider = await sandbox.balance(account.provider_account_id)
        assert provider.available_fen == await ledger.balance(code), code


async def _books_agree(app: Any, made: RepayingLoan) -> None:
    """Every journal balanced, the ledger equal to the provider (members and platform)."""
    sandbox = app.state.sandbox.sandbox
    assert (await ledger.check()).ok
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *_lender_ids(made)])
    await _platform_matches_provider(sandbox)


async def _each_holder_has_exactly_their_share(made: RepayingLoan) -> None:
    """The loan is settled; each holder had exactly their principal and their share of the
    loan's interest (own receipts plus any advance), and their share of each payment's
    penalty (by principal)."""
    assert (await Loan.get(id=made.loan.id)).status == "SETTLED"
    rows = await _rows(made)
    assert all(row.status == InstallmentStatus.PAID for row in rows)
    targets = split.interest_targets(sum(row.interest_fen for row in rows), list(SHARES))
    claims = await Claim.filter(loan_id=made.loan.id).order_by("id")
    repayments = await Repayment.filter(loan_id=made.loan.id, status="DONE")
    penalties = [0, 0, 0]
    for repayment in repayments:
        for index, part in enumerate(allocate(repayment.penalty_fen, list(SHARES))):
            penalties[index] += part
    for index, claim in enumerate(claims):
        own = await Receipt.filter(claim_id=claim.id, to_reserve=False).values_list(
            "principal_fen", "interest_fen", "penalty_fen"
        )
        advanced = await ReserveAdvance.filter(claim_id=claim.id).values_list(
            "principal_fen", "interest_fen"
        )
        had = (
            sum(r[0] for r in own) + sum(a[0] for a in advanced),
            sum(r[1] for r in own) + sum(a[1] for a in advanced),
            sum(r[2] for r in own),
        )
        assert had == (SHARES[index], targets[index], penalties[index]), claim.id
        assert await bid_checks.lender_outstanding(claim.holder_id) == 0


async def _snapshot(made: RepayingLoan) -> dict[str, Any]:
    return {
        "balances": [
            await ledger.member_balances(uid) for uid in [made.borrower.id, *_lender_ids(made)]
        ],
        "fee": await ledger.balance(ledger.FEE),
        "installments": await LoanInstallment.filter(loan_id=made.loan.id)
        .order_by("number")
        .values_list(
            "status",
            "paid_principal_fen",
            "paid_interest_fen",
            "paid_fee_fen",
            "penalty_paid_fen",
            "interest_fen",
            "fee_fen",
        ),
        "loan": (await Loan.get(id=made.loan.id)).status,
        "repayments": await Repayment.filter(status="DONE").count(),
        "receipts": await Receipt.all().count(),
        "postings": await Posting.all().count(),
        "instructions": await PaymentInstruction.all().count(),
    }


# --- one overdue installment paid in part ------------------------------------------------


async def test_part_of_an_overdue_installment_pays_penalty_then_interest_then_principal(
    app, scripted
):
    made = await _loan(app, scripted)
    first = await _row(made, 1)
    today = await _age(first.due_date + timedelta(days=10))
    unpaid = FIRST[0] + FIRST[1]  # 340,022
    penalty = _fen(unpaid * MICRO * 10)
    assert penalty == 1_700  # 1,700.11 fen, rounded once
    lenders = _lender_ids(made)
    before = {uid: await _available(uid) for uid in [made.borrower.id, *lenders]}
    fee_before = await ledger.balance(ledger.FEE)

    done = await _pay(made, 100_000)
    # Penalty first, then interest, then principal; nothing is left for the fee.
    assert done.installments == [1]
    assert views.paid_off(done) == []
    assert _parts(done) == (88_300, 10_000, 0, 1_700)
    assert done.details["allocation_order"] == ["PENALTY", "INTEREST", "PRINCIPAL", "FEE"]
    assert done.details["lines"] == [
        {
            "number": 1,
            "principal_fen": 88_300,
            "interest_fen": 10_000,
            "fee_fen": 0,
            "penalty_fen": 1_700,
            "settles": False,
        }
    ]
    row = await _row(made, 1)
    assert row.status == InstallmentStatus.OVERDUE
    assert _paid(row) == (88_300, 10_000, 0, 1_700)
    assert (row.principal_fen, row.interest_fen, row.fee_fen) == FIRST  # as scheduled
    assert (row.paid_on, row.paid_late) == (None, False)
    assert overdue.amount_due(row) == 241_722 + 3_000
    assert (await Loan.get(id=made.loan.id)).status == "OVERDUE"

    # Each holder: their share of each part (nothing had yet: largest remainder by the
    # principal, the interest towards their share of the loan's interest).
    targets = split.interest_targets(TOTAL_INTEREST, list(SHARES))
    expected = list(
        zip(
            allocate(88_300, list(SHARES)),
            allocate(10_000, targets),
            allocate(1_700, list(SHARES)),
            strict=True,
        )
    )
    got = await _receipts(done.id)
    assert got == expected
    assert _sums(got) == (88_300, 10_000, 1_700)
    for uid, parts in zip(lenders, expected, strict=True):
        assert await _available(uid) - before[uid] == sum(parts)
        [received] = await _events(uid, "RECEIVED")
        assert (
            received["installment"],
            received["amount_fen"],
            received["principal_fen"],
            received["interest_fen"],
            received["penalty_fen"],
        ) == (1, sum(parts), *parts)
    assert before[made.borrower.id] - await _available(made.borrower.id) == 100_000
    assert await ledger.balance(ledger.FEE) == fee_before
    # The borrower: PARTIALLY_PAID, not PAID.
    assert await _events(made.borrower.id, "PAID") == []
    [partly] = await _events(made.borrower.id, "PARTIALLY_PAID")
    assert {k: v for k, v in partly.items() if k != "at"} == {
        "kind": "PARTIALLY_PAID",
        "loan_id": made.loan.id,
        "installment": 1,
        "amount_fen": 100_000,
        "principal_fen": 88_300,
        "interest_fen": 10_000,
        "fee_fen": 0,
        "penalty_fen": 1_700,
        "remaining_fen": 244_722,
    }

    # Five days on: the penalty of those days is on the 2,417.22 still unpaid only, and
    # the 17.00 paid is not asked again.
    today = await _age(first.due_date + timedelta(days=15))
    row = await _row(made, 1)
    micro = unpaid * MICRO * 10 + 241_722 * MICRO * 5
    assert row.penalty_accrued_micro_fen == micro
    assert row.penalty_accrued_fen == _fen(micro) == 2_304
    assert _fen(241_722 * MICRO * 15) != 2_304  # not recomputed on the new base
    assert row.penalty_accrued_fen == overdue.penalty_with_payments(
        principal_interest_fen=unpaid,
        first_day=first.due_date + timedelta(days=1),
        through=today,
        daily_rate=RATE,
        payments=[(first.due_date + timedelta(days=10), 98_300)],
    )
    assert overdue.amount_due(row) == 241_722 + 3_000 + (2_304 - 1_700)
    await _books_agree(app, made)


async def test_paid_in_part_on_its_due_date_it_stays_pending_then_accrues_on_the_rest(
    app, scripted
):
    made = await _loan(app, scripted)
    first = await _row(made, 1)
    await move_clock_to(first.due_date)
    done = await _pay(made, 50_000)  # due today: fallen due, no penalty yet
    assert _parts(done) == (40_000, 10_000, 0, 0)
    row = await _row(made, 1)
    assert (row.status, _paid(row)) == (InstallmentStatus.PENDING, (40_000, 10_000, 0, 0))
    # The next day it is overdue, on the 2,900.22 unpaid.
    today = await _age(first.due_date + timedelta(days=1))
    row = await _row(made, 1)
    assert row.status == InstallmentStatus.OVERDUE
    assert row.penalty_accrued_fen == _fen(290_022 * MICRO) == 145
    assert row.penalty_accrued_fen == overdue.penalty_with_payments(
        principal_interest_fen=340_022,
        first_day=row.overdue_since or today,
        through=today,
        daily_rate=RATE,
        payments=[(first.due_date, 50_000)],
    )
    # The auto-debit stays as it is: it pays installments due today, not this one.
    assert await autodebit.auto_debit_due() == 0
    # On installment 2's due date an amount pays installment 1 off and part of 2; the
    # auto-debit then pays the rest of 2, due today.
    second = await _row(made, 2)
    await _age(second.due_date)  # installment 1's penalty through today
    owed_one = overdue.amount_due(await _row(made, 1))
    done = await _pay(made, owed_one + 10_000)
    assert (done.installments, views.paid_off(done)) == ([1, 2], [1])
    second = await _row(made, 2)
    assert (second.status, _paid(second)) == (InstallmentStatus.PENDING, (3_300, 6_700, 0, 0))
    assert await autodebit.auto_debit_due() == 1
    [auto] = await Repayment.filter(loan_id=made.loan.id, kind="AUTO_DEBIT")
    assert (auto.installments, auto.amount_fen) == ([2], 333_322 - 3_300 + 3_000)
    second = await _row(made, 2)
    assert (second.status, second.paid_late) == (InstallmentStatus.PAID, False)
    assert (await Loan.get(id=made.loan.id)).status == "REPAYING"
    await _books_agree(app, made)


async def test_an_early_repayment_in_full_after_a_partial_payment(app, scripted):
    made = await _loan(app, scripted)
    first = await _row(made, 1)
    await _age(first.due_date + timedelta(days=3))
    part = await _pay(made, 60_000)
    await _age(first.due_date + timedelta(days=5))
    row = await _row(made, 1)
    owed = overdue.amount_due(row)
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.EARLY_FULL
    )
    # The rest of installment 1 (with its penalty), then the remaining principal with
    # 5 days' interest (30E/360) and the early fee of 1 % of it.
    remaining = 1_000_000 - FIRST[0]
    interest = round_half_up(remaining * 12 * 5, 100 * 360)
    assert done.installments == [1, 2, 3]
    assert (done.principal_fen, done.early_fee_fen) == (
        1_000_000 - part.principal_fen,
        round_half_up(remaining, 100),
    )
    assert done.amount_fen == owed + remaining + interest + done.early_fee_fen
    assert (await _row(made, 1)).penalty_paid_fen == row.penalty_accrued_fen
    await _each_holder_has_exactly_their_share(made)
    await _books_agree(app, made)


async def test_two_partial_payments_then_the_rest_then_the_loan(app, scripted):
    made = await _loan(app, scripted)
    rows = await _rows(made)
    due = rows[0].due_date
    await _age(due + timedelta(days=3))
    first_part = await _pay(made, 50_000)
    assert _parts(first_part) == (
        50_000 - 10_000 - _fen(340_022 * MICRO * 3),
        10_000,
        0,
        _fen(340_022 * MICRO * 3),
    )
    await _age(due + timedelta(days=8))
    second_part = await _pay(made, 120_000)
    row = await _row(made, 1)
    assert row.status == InstallmentStatus.OVERDUE
    assert second_part.interest_fen == 0  # the interest was paid by the first
    today = await _age(due + timedelta(days=12))
    rest = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )
    assert (rest.status, rest.installments) == ("DONE", [1])
    row = await _row(made, 1)
    assert (row.status, row.paid_on, row.paid_late) == (InstallmentStatus.PAID, today, True)
    assert _paid(row)[:3] == FIRST
    assert row.penalty_paid_fen == row.penalty_accrued_fen
    payments = [
        (due + timedelta(days=3), first_part.principal_fen + first_part.interest_fen),
        (due + timedelta(days=8), second_part.principal_fen + second_part.interest_fen),
    ]
    assert row.penalty_accrued_fen == overdue.penalty_with_payments(
        principal_interest_fen=340_022,
        first_day=due + timedelta(days=1),
        through=today,
        daily_rate=RATE,
        payments=payments,
    )
    # Per part, the three payments add up to the installment; per payment, the holders'
    # receipts to what it paid of each part.
    three = [first_part, second_part, rest]
    assert [sum(p) for p in zip(*(_parts(r) for r in three), strict=True)] == [
        *FIRST,
        row.penalty_paid_fen,
    ]
    for repayment in three:
        assert _sums(await _receipts(repayment.id)) == (
            repayment.principal_fen,
            repayment.interest_fen,
            repayment.penalty_fen,
        )
    assert (await Loan.get(id=made.loan.id)).status == "REPAYING"  # cured
    assert [e["installment"] for e in await _events(made.borrower.id, "PARTIALLY_PAID")] == [1, 1]
    [paid] = await _events(made.borrower.id, "PAID")
    assert (paid["installment"], paid["amount_fen"]) == (1, rest.amount_fen)
    for later in rows[1:]:
        await move_clock_to(later.due_date)
        await _next(made)
    await _each_holder_has_exactly_their_share(made)
    await _books_agree(app, made)


async def test_an_amount_pays_the_older_installment_first_and_the_rest_to_the_next(app, scripted):
    made = await _loan(app, scripted)
    rows = await _rows(made)
    today = await _age(rows[1].due_date + timedelta(days=3))
    one, two = await _row(made, 1), await _row(made, 2)
    late = (today - rows[0].due_date).days
    assert one.penalty_accrued_fen == _fen(340_022 * MICRO * late)
    assert two.penalty_accrued_fen == _fen(340_022 * MICRO * 3) == 510
    due_one, due_two = overdue.amount_due(one), overdue.amount_due(two)

    done = await _pay(made, due_one + 2_000)
    assert (done.installments, views.paid_off(done)) == ([1, 2], [1])
    assert _parts(done) == (
        FIRST[0],
        FIRST[1] + 1_490,
        FIRST[2],
        one.penalty_accrued_fen + 510,
    )
    one, two = await _row(made, 1), await _row(made, 2)
    assert (one.status, one.paid_late) == (InstallmentStatus.PAID, True)
    assert two.status == InstallmentStatus.OVERDUE
    assert _paid(two) == (0, 1_490, 0, 510)
    assert overdue.amount_due(two) == due_two - 2_000
    assert (await Loan.get(id=made.loan.id)).status == "OVERDUE"
    [paid] = await _events(made.borrower.id, "PAID")
    [partly] = await _events(made.borrower.id, "PARTIALLY_PAID")
    assert (paid["installment"], paid["amount_fen"]) == (1, due_one)
    assert (partly["installment"], partly["amount_fen"], partly["remaining_fen"]) == (
        2,
        2_000,
        due_two - 2_000,
    )
    for uid in _lender_ids(made):
        assert [e["installment"] for e in await _events(uid, "RECEIVED")] == [1, 2]

    # Exactly what has fallen due is allowed and pays it all: as COUNT would.
    count = await _ask(made, mode=RepayMode.COUNT, count=1)
    everything = await _pay(made, count.amount_fen)
    assert (everything.installments, views.paid_off(everything)) == ([2], [2])
    assert _parts(everything) == _parts(count)
    assert (await _row(made, 2)).status == InstallmentStatus.PAID
    assert (await Loan.get(id=made.loan.id)).status == "REPAYING"
    await _books_agree(app, made)


# --- refusals, confirmation, idempotency ------------------------------------------------------


async def test_every_refusal_is_typed_and_changes_nothing(app, scripted):
    made = await _loan(app, scripted)
    first = await _row(made, 1)
    before = await _snapshot(made)
    sms_before = await OutgoingMessage.all().count()

    async def refused(amount: Any, **kwargs: Any) -> DomainError:
        with pytest.raises(DomainError) as error:
            await _ask(made, amount, **kwargs)
        return error.value

    # Nothing has fallen due yet (the first installment is due in a month).
    nothing = await refused(10_000)
    assert nothing.code == "NOTHING_DUE"
    assert first.due_date.isoformat() in nothing.message
    await move_clock_to(first.due_date)  # due today: fallen due
    due = overdue.amount_due(await _row(made, 1))
    assert due == sum(FIRST)
    for amount in (0, -1, None, True, 1.5, Decimal("100.00"), "100.00"):
        invalid = await refused(amount)
        assert (invalid.code, invalid.field) == ("INVALID", "amount"), amount
    for mode in (RepayMode.NEXT, RepayMode.COUNT, RepayMode.EARLY_FULL):
        invalid = await refused(10_000, mode=mode, count=1)
        assert (invalid.code, invalid.field) == ("INVALID", "amount"), mode
    too_large = await refused(due + 1)
    assert (too_large.code, too_large.field) == ("AMOUNT_TOO_LARGE", "amount")
    assert "3430.22" in too_large.message
    outsider, _phone = await create_member()
    with pytest.raises(DomainError) as other:
        await service.repay(
            actor=member_actor(outsider.id),
            loan_id=made.loan.id,
            mode=RepayMode.AMOUNT,
            amount_fen=10_000,
            idempotency_key=_key(),
        )
    assert other.value.code == "NOT_FOUND"
    assert await _snapshot(made) == before
    assert await Repayment.all().count() == 0
    assert await PendingOperation.filter(kind="REPAYMENT").count() == 0
    assert await OutgoingMessage.all().count() == sms_before


async def test_confirmation_refuses_what_is_no_longer_as_confirmed(app, scripted):
    made = await _loan(app, scripted)
    rows = await _rows(made)
    await _age(rows[0].due_date + timedelta(days=2))
    due = overdue.amount_due(await _row(made, 1))

    # Asked to pay installment 1 off; a day later the same amount leaves it partly paid.
    asked = await _ask(made, due)
    assert (asked.installments, views.paid_off(asked)) == ([1], [1])
    code = await code_for(made.borrower_phone)
    await clock.advance(days=1)
    before = await _snapshot(made)
    with pytest.raises(DomainError) as changed:
        await _confirm(made, asked, code)
    assert changed.value.code == "AMOUNT_CHANGED"
    assert await _snapshot(made) == before
    refused = await Repayment.get(id=asked.id)
    assert (refused.status, refused.refusal) == (RepaymentStatus.REFUSED, "AMOUNT_CHANGED")

    # Asked for part of installment 1, which another repayment pays off meanwhile.
    asked = await _ask(made, 10_000)
    code = await code_for(made.borrower_phone)
    await _next(made)
    before = await _snapshot(made)
    with pytest.raises(DomainError) as nothing:
        await _confirm(made, asked, code)
    assert nothing.value.code == "NOTHING_DUE"
    assert await _snapshot(made) == before

    # Asked for 50.00 of installment 2 (due today); another payment leaves less due.
    await move_clock_to(rows[1].due_date)
    asked = await _ask(made, 5_000)
    code = await code_for(made.borrower_phone)
    await _pay(made, overdue.amount_due(await _row(made, 2)) - 1_000)
    before = await _snapshot(made)
    with pytest.raises(DomainError) as smaller:
        await _confirm(made, asked, code)
    assert smaller.value.code == "AMOUNT_CHANGED"
    assert "10.00" in smaller.value.message
    assert await _snapshot(made) == before
    await _books_agree(app, made)


async def test_the_same_key_twice_is_one_repayment(app, scripted):
    made = await _loan(app, scripted)
    await _age((await _row(made, 1)).due_date + timedelta(days=4))
    key = _key()
    asked = await _ask(made, 30_000, key=key)
    again = await _ask(made, 30_000, key=key)
    assert again.id == asked.id
    with pytest.raises(DomainError) as reused:
        await _ask(made, 30_001, key=key)
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    code = await code_for(made.borrower_phone)
    done = await _confirm(made, asked, code)
    assert done.status == "DONE"
    with pytest.raises(DomainError) as closed:
        await _confirm(made, asked, code)
    assert closed.value.code == "OPERATION_CLOSED"
    replay = await _ask(made, 30_000, key=key)
    assert (replay.id, replay.status) == (asked.id, RepaymentStatus.DONE)
    assert await Repayment.all().count() == 1
    assert await PendingOperation.filter(kind="REPAYMENT").count() == 1
    assert await Receipt.filter(loan_id=made.loan.id).count() == 3
    assert sum(_paid(await _row(made, 1))) == 30_000
    await _books_agree(app, made)


# --- the risk reserve ---------------------------------------------------------------------------


async def _reserve_on(app: Any, scripted: dict[str, Any]) -> RepayingLoan:
    """The loan, the reserve funded with 50,000.00 and taking 0.3333 of each fee, its
    advance on after 5 days."""
    await parameters.set_value(
        ADMIN, "repayments.riskReserveShare", {"share": str(RESERVE_SHARE)}, "test: share"
    )
    made = await _loan(app, scripted)
    await fund_risk_reserve(app.state.sandbox.sandbox, RESERVE_FUNDS)
    await parameters.set_value(
        ADMIN, "repayments.reserveAdvance", {"enabled": True, "after_days": 5}, "test: advance"
    )
    return made


async def _recovered(made: RepayingLoan) -> list[tuple[int, int]]:
    """Per claim, what the reserve recovered so far (to_reserve receipts)."""
    claims = await Claim.filter(loan_id=made.loan.id).order_by("id")
    answer = []
    for claim in claims:
        rows = await Receipt.filter(claim_id=claim.id, to_reserve=True).values_list(
            "principal_fen", "interest_fen"
        )
        answer.append((sum(r[0] for r in rows), sum(r[1] for r in rows)))
    return answer


async def _finish(made: RepayingLoan) -> None:
    """Installments 2 and 3 on their due dates."""
    for later in (await _rows(made))[1:]:
        await move_clock_to(later.due_date)
        await _next(made)


async def test_an_advanced_installment_paid_in_parts_pays_the_reserve_back_per_claim(app, scripted):
    made = await _reserve_on(app, scripted)
    lenders = _lender_ids(made)
    due = (await _row(made, 1)).due_date
    await _age(due + timedelta(days=5))
    assert await ReserveAdvance.all().count() == 3
    advances = await ReserveAdvance.filter(loan_id=made.loan.id).order_by("claim_id")
    advanced_p = [a.principal_fen for a in advances]
    advanced_i = [a.interest_fen for a in advances]
    assert (sum(advanced_p), sum(advanced_i)) == FIRST[:2]
    await settle_everything(app.state.sandbox.sandbox)
    reserve_after_advance = await ledger.balance(ledger.RISK_RESERVE)
    before = {uid: await _available(uid) for uid in lenders}

    # Two days later, 200.00: 7 days of penalty to the holders, the interest and some
    # principal to the reserve, towards what it advanced of each claim.
    await _age(due + timedelta(days=7))
    penalty = _fen(340_022 * MICRO * 7)
    part = await _pay(made, 20_000)
    assert _parts(part) == (20_000 - 10_000 - penalty, 10_000, 0, penalty)
    back_p = split.toward(part.principal_fen, advanced_p, [0, 0, 0])
    back_i = split.toward(10_000, advanced_i, [0, 0, 0])
    assert await _receipts(part.id, to_reserve=True) == [
        (p, i, 0) for p, i in zip(back_p, back_i, strict=True)
    ]
    assert part.details["reserve_recovery_fen"] == part.principal_fen + 10_000
    holders = await _receipts(part.id)
    assert holders == [(0, 0, q) for q in allocate(penalty, list(SHARES))]
    for uid, (_p, _i, q) in zip(lenders, holders, strict=True):
        assert await _available(uid) - before[uid] == q
        [received] = await _events(uid, "RECEIVED")
        assert (received["amount_fen"], received["principal_fen"]) == (q, 0)
    assert await ledger.balance(ledger.RISK_RESERVE) == (
        reserve_after_advance + part.principal_fen + 10_000
    )

    # A second part, then the rest: the reserve ends with exactly what it advanced of each
    # claim, the holders with the penalty.
    await _age(due + timedelta(days=9))
    second = await _pay(made, 100_000)
    recovered = await _recovered(made)
    assert [r[0] for r in recovered] == [
        a + b
        for a, b in zip(back_p, split.toward(second.principal_fen, advanced_p, back_p), strict=True)
    ]
    await _age(due + timedelta(days=12))
    rest = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )
    assert (await _row(made, 1)).status == InstallmentStatus.PAID
    assert await _recovered(made) == list(zip(advanced_p, advanced_i, strict=True))
    paid_fee_share = int(FIRST[2] * RESERVE_SHARE)
    assert rest.details["reserve_fen"] == paid_fee_share
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS + paid_fee_share
    for repayment in (part, second, rest):
        assert _sums(await _receipts(repayment.id)) == (0, 0, repayment.penalty_fen)
    await _finish(made)
    await _each_holder_has_exactly_their_share(made)
    fee_shares = sum(int(row.fee_fen * RESERVE_SHARE) for row in await _rows(made))
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS + fee_shares
    await _books_agree(app, made)


async def test_paid_in_part_before_the_advance_the_reserve_advances_only_the_rest(app, scripted):
    made = await _reserve_on(app, scripted)
    due = (await _row(made, 1)).due_date
    await _age(due + timedelta(days=2))
    part = await _pay(made, 50_000)
    assert part.details["reserve_recovery_fen"] == 0
    assert _sums(await _receipts(part.id)) == (
        part.principal_fen,
        part.interest_fen,
        part.penalty_fen,
    )
    await _age(due + timedelta(days=5))
    advances = await ReserveAdvance.filter(loan_id=made.loan.id).order_by("claim_id")
    assert sum(a.principal_fen for a in advances) == FIRST[0] - part.principal_fen
    assert sum(a.interest_fen for a in advances) == 0  # paid before the advance
    await _age(due + timedelta(days=6))
    rest = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )
    assert rest.details["reserve_recovery_fen"] == FIRST[0] - part.principal_fen
    assert await _recovered(made) == [(a.principal_fen, a.interest_fen) for a in advances]
    await _finish(made)
    await _each_holder_has_exactly_their_share(made)
    await _books_agree(app, made)


# --- through GraphQL ----------------------------------------------------------------------------


async def _next_event(ws: Any, kind: str) -> dict[str, Any]:
    """The next `myRepaymentEvents` event of `kind` (the DUE and OVERDUE events of the
    days before may still be on their way)."""
    from tests.api.test_subscriptions import _receive

    async with asyncio.timeout(10):
        while True:
            message = await _receive(ws)
            event: dict[str, Any] = message["payload"]["data"]["myRepaymentEvents"]
            if event["kind"] == kind:
                return event


REPAY = """mutation ($input: RepayInput!) { repay(input: $input) { __typename
  ... on RepaymentRequested { operationId repayment { id kind status amount installments
    paidOff principal interest fee penalty } }
  ... on RepayError { code field message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { repayment { id kind status amount paidOff } }
    ... on ConfirmOperationError { code } } }"""
SCHEDULE = """query ($id: ID!) { mySchedule(loanId: $id) { status installments { number
  status principal interest fee penalty totalDue paid paidPrincipal paidInterest paidFee
  paidPenalty owed paidOn } } }"""
EVENTS = """subscription { myRepaymentEvents { kind installment amount principal interest
  fee penalty remaining } }"""


async def test_a_partial_repayment_through_graphql(app, client, scripted):
    from tests.api.test_subscriptions import _open, _send, _server, _wait_for_channel

    made = await _loan(app, scripted)
    token = await token_for(made.borrower_phone)
    first = await _row(made, 1)
    await _age(first.due_date + timedelta(days=4))
    penalty = _fen(340_022 * MICRO * 4)

    def repay(amount: str | None, mode: str = "AMOUNT") -> dict[str, Any]:
        payload: dict[str, Any] = {"loanId": str(made.loan.id), "mode": mode}
        if amount is not None:
            payload["amount"] = amount
        return {"input": {**payload, "idempotencyKey": _key()}}

    # Refusals: typed errors with the field, or the Money scalar's BAD_USER_INPUT.
    for amount, mode, code in (
        ("0.00", "AMOUNT", "INVALID"),
        (None, "AMOUNT", "INVALID"),
        ("10.00", "NEXT", "INVALID"),
        ("99999.00", "AMOUNT", "AMOUNT_TOO_LARGE"),
    ):
        body = await gql(client, REPAY, repay(amount, mode), token=token)
        error = body["data"]["repay"]
        assert (error["__typename"], error["code"], error["field"]) == (
            "RepayError",
            code,
            "amount",
        ), amount
    body = await gql(client, REPAY, repay("1.001"), token=token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await Repayment.all().count() == 0

    async with _server() as url:
        ws = await _open(url, "graphql-transport-ws", token)
        async with ws:
            await _send(ws, {"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
            await _wait_for_channel(repayment_events_channel(made.borrower.id), 1)
            asked = (await gql(client, REPAY, repay("500.00"), token=token))["data"]["repay"]
            assert asked["__typename"] == "RepaymentRequested", asked
            principal = 50_000 - 10_000 - penalty
            assert asked["repayment"] == {
                "id": asked["repayment"]["id"],
                "kind": "AMOUNT",
                "status": "AWAITING_CONFIRMATION",
                "amount": "500.00",
                "installments": [1],
                "paidOff": [],
                "principal": _yuan(principal),
                "interest": "100.00",
                "fee": "0.00",
                "penalty": _yuan(penalty),
            }
            confirmed = await gql(
                client,
                CONFIRM,
                {"id": asked["operationId"], "code": await code_for(made.borrower_phone)},
                token=token,
            )
            assert confirmed["data"]["confirmOperation"]["repayment"] == {
                "id": asked["repayment"]["id"],
                "kind": "AMOUNT",
                "status": "DONE",
                "amount": "500.00",
                "paidOff": [],
            }
            event = await _next_event(ws, "PARTIALLY_PAID")
            assert event == {
                "kind": "PARTIALLY_PAID",
                "installment": 1,
                "amount": "500.00",
                "principal": _yuan(principal),
                "interest": "100.00",
                "fee": "0.00",
                "penalty": _yuan(penalty),
                "remaining": _yuan(sum(FIRST) + penalty - 50_000),
            }

    schedule = (await gql(client, SCHEDULE, {"id": str(made.loan.id)}, token=token))["data"]
    one = schedule["mySchedule"]["installments"][0]
    assert schedule["mySchedule"]["status"] == "OVERDUE"
    assert one == {
        "number": 1,
        "status": "OVERDUE",
        "principal": "3300.22",
        "interest": "100.00",
        "fee": "30.00",
        "penalty": _yuan(penalty),
        "totalDue": _yuan(sum(FIRST) + penalty),
        "paid": "500.00",
        "paidPrincipal": _yuan(principal),
        "paidInterest": "100.00",
        "paidFee": "0.00",
        "paidPenalty": _yuan(penalty),
        "owed": _yuan(sum(FIRST) + penalty - 50_000),
        "paidOn": None,
    }
    await _books_agree(app, made)
