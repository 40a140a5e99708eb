"""R5 recovery: the borrower repays an installment the risk reserve advanced.

A loan of 10,000.00 held 3,333.33 / 3,333.33 / 3,333.34, installment 1 missed and
advanced by the reserve after 5 days, then repaid (by the next installment, or by early
repayment in full): the advanced principal and interest go back to `p:risk_reserve`
exactly, the holders get the penalty only, and over the whole loan each holder has
exactly their principal and interest share (advance plus receipts), the reserve its
balance before the advance plus its fee share, the ledger balanced and equal to the
provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.ledger import Journal
from models.loans import Loan
from models.messaging import OutboxEvent
from models.payments import ProviderAccount
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    ReserveAdvance,
)
from services.identity.permissions import Actor, Permission
from services.loans import bid_checks
from services.money import ledger
from services.money.money import allocate
from services.platform import outbox, parameters
from services.repayments import overdue, split
from services.repayments.due import RepayMode
from services.repayments.events import repayment_events_channel
from tests.factories import gql, token_for
from tests.lending import (
    RepayingLoan,
    assert_ledger_matches_provider,
    deposit_by_card,
    fund_risk_reserve,
    move_clock_to,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SHARES = (333_333, 333_333, 333_334)
RESERVE_SHARE = Decimal("0.3333")
RESERVE_FUNDS = 5_000_000
AFTER_DAYS = 5
ADMIN = Actor(user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE}))
RECEIVABLES = """{ myReceivables { claimId loanId principal receivedPrincipal
  receivedInterest receivedPenalty expectedPrincipal expectedInterest } }"""


# --- helpers -----------------------------------------------------------------------------


async def _repay(made: RepayingLoan, mode: RepayMode) -> Repayment:
    done = await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, mode)
    assert done.status == "DONE"
    return done


async def _available(user_id: int) -> int:
    return (await ledger.member_balances(user_id))["available"]


async def _receipts(holder_id: int, *, to_reserve: bool) -> tuple[int, int, int]:
    rows = await Receipt.filter(holder_id=holder_id, to_reserve=to_reserve).values_list(
        "principal_fen", "interest_fen", "penalty_fen"
    )
    return (sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows))


async def _received_events(holder_id: int) -> list[dict[str, Any]]:
    """The RECEIVED events written for the holder (the outbox rows, in order)."""
    channel = repayment_events_channel(holder_id)
    return [
        payload
        for row in await OutboxEvent.all().order_by("id")
        for topic, payload in outbox.messages(row.topic, row.payload)
        if topic == channel and payload["kind"] == "RECEIVED"
    ]


async def _platform_matches_provider(sandbox: Any) -> None:
    for code in (ledger.FEE, ledger.RISK_RESERVE):
        account = await ProviderAccount.get(owner_code=code)
        provider = await sandbox.balance(account.provider_account_id)
        assert provider.available_fen == await ledger.balance(code), code


async def _advanced_loan(app: Any, scripted: dict[str, Any]) -> tuple[RepayingLoan, list[int]]:
    """The loan, the reserve funded with 50,000.00, its fee share at 0.3333, the advance
    on after 5 days, the borrower topped up with 1,000.00; installment 1 missed and
    advanced (the clock at its due date + 5). Returns the loan and the lenders' ids."""
    sandbox = app.state.sandbox.sandbox
    await parameters.set_value(
        ADMIN, "repayments.riskReserveShare", {"share": str(RESERVE_SHARE)}, "test: share"
    )
    made = await repaying_loan(scripted, sandbox, shares=SHARES, term=3)
    await fund_risk_reserve(sandbox, RESERVE_FUNDS)
    await deposit_by_card(made.borrower.id, 100_000)
    await parameters.set_value(
        ADMIN,
        "repayments.reserveAdvance",
        {"enabled": True, "after_days": AFTER_DAYS},
        "test: advance",
    )
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS - 1))
    assert (await overdue.run_daily(today)).advanced == 0  # 4 days: not yet
    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS))
    assert (await overdue.run_daily(today)).advanced == 3
    await settle_everything(sandbox)
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS - (
        first.principal_fen + first.interest_fen
    )
    return made, [user.id for user, _phone in made.lenders]


def _split_of(amount: int) -> list[int]:
    return allocate(amount, list(SHARES))


async def _advances(loan_id: int) -> list[ReserveAdvance]:
    return await ReserveAdvance.filter(loan_id=loan_id).order_by("claim_id")


async def _assert_whole_loan_shares(
    made: RepayingLoan, lender_ids: Sequence[int], penalty_fen: int
) -> None:
    """Each holder had exactly their principal and interest share (the advance plus their
    own receipts) and their share of the penalty, all of it in their available balance
    (they lent all they had)."""
    rows = await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
    assert all(row.status == InstallmentStatus.PAID for row in rows)
    assert (await Loan.get(id=made.loan.id)).status == "SETTLED"
    targets = split.interest_targets(sum(row.interest_fen for row in rows), list(SHARES))
    advances = await _advances(made.loan.id)
    for index, holder_id in enumerate(lender_ids):
        advance = advances[index]
        assert advance.holder_id == holder_id
        own = await _receipts(holder_id, to_reserve=False)
        assert (own[0] + advance.principal_fen, own[1] + advance.interest_fen, own[2]) == (
            SHARES[index],
            targets[index],
            _split_of(penalty_fen)[index],
        ), holder_id
        assert await _available(holder_id) == SHARES[index] + targets[index] + own[2]
        assert await bid_checks.lender_outstanding(holder_id) == 0


# --- the tests ---------------------------------------------------------------------------


async def test_repaying_an_advanced_installment_pays_the_reserve_back_and_holders_the_penalty(
    app, client, scripted
):
    sandbox = app.state.sandbox.sandbox
    made, lender_ids = await _advanced_loan(app, scripted)
    borrower = made.borrower
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    advances = await _advances(made.loan.id)
    assert [a.holder_id for a in advances] == lender_ids
    # Split as the borrower's payment of installment 1 would be: towards each claim's
    # targets (its principal; its share of the loan's whole interest), nothing had yet.
    rows = await LoanInstallment.filter(loan_id=made.loan.id)
    interest_targets = allocate(sum(row.interest_fen for row in rows), list(SHARES))
    assert [a.principal_fen for a in advances] == _split_of(first.principal_fen)
    assert [a.interest_fen for a in advances] == allocate(first.interest_fen, interest_targets)
    tokens = [await token_for(phone) for _user, phone in made.lenders]

    async def receivables(index: int) -> dict[str, str]:
        body = await gql(client, RECEIVABLES, token=tokens[index])
        [claim] = body["data"]["myReceivables"]
        return dict(claim)

    def yuan(fen: int) -> str:
        return f"{Decimal(fen) / 100:.2f}"

    # The advance counts as received from the day it is paid (view and R4 outstanding).
    for index, advance in enumerate(advances):
        seen = await receivables(index)
        assert (seen["receivedPrincipal"], seen["receivedInterest"], seen["receivedPenalty"]) == (
            yuan(advance.principal_fen),
            yuan(advance.interest_fen),
            "0.00",
        )
        assert seen["expectedPrincipal"] == yuan(SHARES[index] - advance.principal_fen)
        assert await bid_checks.lender_outstanding(advance.holder_id) == (
            SHARES[index] - advance.principal_fen
        )
    before = {uid: await _available(uid) for uid in [borrower.id, *lender_ids]}
    reserve_after_advance = await ledger.balance(ledger.RISK_RESERVE)
    fee_before = await ledger.balance(ledger.FEE)

    # Two days later the borrower repays installment 1 with 7 days of penalty.
    today = await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS + 2))
    await overdue.run_daily(today)
    done = await _repay(made, RepayMode.NEXT)
    first = await LoanInstallment.get(id=first.id)
    unpaid = first.principal_fen + first.interest_fen
    penalty = first.penalty_paid_fen
    assert (
        penalty
        == first.penalty_accrued_fen
        == overdue.penalty_fen(overdue.penalty_micro_fen(unpaid, Decimal("0.0005"), 7))
    )
    assert penalty > 0
    assert (first.status, first.paid_on, first.paid_late) == ("PAID", today, True)
    assert done.amount_fen == unpaid + first.fee_fen + penalty
    fee_share = int(first.fee_fen * RESERVE_SHARE)
    assert done.details["reserve_recovery_fen"] == unpaid
    assert done.details["reserve_fen"] == fee_share

    # The reserve: exactly what it advanced back, plus its share of the fee.
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS + fee_share
    assert await ledger.balance(ledger.RISK_RESERVE) - reserve_after_advance == unpaid + fee_share
    assert await ledger.balance(ledger.FEE) - fee_before == first.fee_fen - fee_share
    assert await Journal.filter(idempotency_key=f"repayment:{done.id}:reserve-recovery").exists()
    assert before[borrower.id] - await _available(borrower.id) == done.amount_fen
    # The holders: the penalty only, recorded apart from what went to the reserve.
    penalties = _split_of(penalty)
    for index, (holder_id, advance) in enumerate(zip(lender_ids, advances, strict=True)):
        assert await _available(holder_id) - before[holder_id] == penalties[index]
        rows = await Receipt.filter(repayment_id=done.id, holder_id=holder_id).order_by(
            "to_reserve"
        )
        assert [
            (r.to_reserve, r.claim_id, r.principal_fen, r.interest_fen, r.penalty_fen) for r in rows
        ] == [
            (False, advance.claim_id, 0, 0, penalties[index]),
            (True, advance.claim_id, advance.principal_fen, advance.interest_fen, 0),
        ]
        assert [(e["installment"], e["amount_fen"]) for e in await _received_events(holder_id)] == [
            (1, penalties[index])
        ]
        # Not counted twice once the reserve has recovered it.
        seen = await receivables(index)
        assert (seen["receivedPrincipal"], seen["receivedInterest"], seen["receivedPenalty"]) == (
            yuan(advance.principal_fen),
            yuan(advance.interest_fen),
            yuan(penalties[index]),
        )
        assert await bid_checks.lender_outstanding(holder_id) == (
            SHARES[index] - advance.principal_fen
        )
    # Nothing on any events channel but the borrower's and the holders'.
    topics = {
        topic
        for row in await OutboxEvent.all()
        for topic, _payload in outbox.messages(row.topic, row.payload)
    }
    members = {repayment_events_channel(uid) for uid in [borrower.id, *lender_ids]}
    assert {t for t in topics if t.endswith(".repayments")} <= members

    # The rest of the loan, each installment on its due date.
    rows = await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
    for row in rows[1:]:
        await move_clock_to(row.due_date)
        paid = await _repay(made, RepayMode.NEXT)
        assert paid.details["reserve_recovery_fen"] == 0
        assert paid.amount_fen == row.principal_fen + row.interest_fen + row.fee_fen
    await _assert_whole_loan_shares(made, lender_ids, penalty)
    fee_shares = sum(int(row.fee_fen * RESERVE_SHARE) for row in rows)
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS + fee_shares
    assert await Receipt.filter(loan_id=made.loan.id, to_reserve=True).count() == 3
    for index, holder_id in enumerate(lender_ids):
        seen = await receivables(index)
        assert (seen["receivedPrincipal"], seen["expectedPrincipal"]) == (
            yuan(SHARES[index]),
            "0.00",
        )
        assert seen["expectedInterest"] == "0.00"
        assert len(await _received_events(holder_id)) == 3
    assert (await ledger.check()).ok
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *lender_ids])
    await _platform_matches_provider(sandbox)


async def test_early_repayment_in_full_with_an_advanced_installment_open(app, scripted):
    sandbox = app.state.sandbox.sandbox
    made, lender_ids = await _advanced_loan(app, scripted)
    borrower = made.borrower
    rows = await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
    first = rows[0]
    assert rows[1].due_date > first.due_date + timedelta(days=AFTER_DAYS + 2)
    before = {uid: await _available(uid) for uid in [borrower.id, *lender_ids]}

    await overdue.run_daily(await move_clock_to(first.due_date + timedelta(days=AFTER_DAYS + 2)))
    done = await _repay(made, RepayMode.EARLY_FULL)
    assert done.kind == "EARLY_FULL"
    assert done.installments == [1, 2, 3]
    assert done.early_fee_fen > 0
    first = await LoanInstallment.get(id=first.id)
    unpaid = first.principal_fen + first.interest_fen
    penalty = first.penalty_paid_fen
    assert penalty > 0
    assert done.details["reserve_recovery_fen"] == unpaid
    fee_share = int(first.fee_fen * RESERVE_SHARE)  # the later installments carry no fee
    assert done.fee_fen == first.fee_fen
    assert await ledger.balance(ledger.RISK_RESERVE) == RESERVE_FUNDS + fee_share
    assert before[borrower.id] - await _available(borrower.id) == done.amount_fen
    reserve_rows = await Receipt.filter(repayment_id=done.id, to_reserve=True).order_by("claim_id")
    advances = await _advances(made.loan.id)
    assert [(r.claim_id, r.principal_fen, r.interest_fen, r.penalty_fen) for r in reserve_rows] == [
        (a.claim_id, a.principal_fen, a.interest_fen, 0) for a in advances
    ]
    # Each holder's RECEIVED for installment 1 is the penalty only; the later ones pay
    # the remaining principal and the interest to the day.
    penalties = _split_of(penalty)
    for index, holder_id in enumerate(lender_ids):
        events = await _received_events(holder_id)
        assert [e["installment"] for e in events] == [1, 2, 3]
        assert (events[0]["principal_fen"], events[0]["interest_fen"]) == (0, 0)
        assert events[0]["amount_fen"] == events[0]["penalty_fen"] == penalties[index]
    await _assert_whole_loan_shares(made, lender_ids, penalty)
    assert (await ledger.check()).ok
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *lender_ids])
    await _platform_matches_provider(sandbox)
