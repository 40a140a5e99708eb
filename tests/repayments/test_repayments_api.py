"""Issue 7 (part A) must-show: claims and repayments.

A loan of 10,000.00 held 3,333.33 / 3,333.33 / 3,333.34 by three lenders, repaid over
12 months by each method through the service on every due date: each lender receives
exactly their principal and their largest-remainder share of the interest, the lenders
together what the borrower paid less the fees, the fee account every fee, the ledger
balanced and equal to the provider. Early repayment mid-term, a repayment refused for
too little balance (nothing changes), one confirmed twice (one payment), the daily
auto-debit, and the GraphQL views (another member sees nothing of them).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.ledger import Posting
from models.loans import Loan
from models.payments import (
    BankCard,
    Deposit,
    PaymentInstruction,
    PendingOperation,
    ProviderAccount,
)
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    RepaymentKind,
    RepaymentStatus,
)
from services.credit import scoring
from services.errors import DomainError
from services.kit.broker import get_broker
from services.loans import bidding
from services.loans.pricing import price
from services.loans.schedule import LoanTerms, RepaymentMethod
from services.money import ledger
from services.money.money import allocate
from services.operations import confirmation
from services.platform import clock, outbox
from services.repayments import autodebit, events, service
from services.repayments.due import RepayMode
from services.repayments.quote import days_30e_360
from tests.factories import create_member, gql, token_for, withdraw_confirmed
from tests.lending import (
    assert_ledger_matches_provider,
    borrower_signs,
    code_for,
    deposit_by_card,
    listed_loan,
    member_actor,
    move_clock_to,
    ready_lender,
    repay_confirmed,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SHARES = (333_333, 333_333, 333_334)
FEE_RATE = Decimal("0.0030")


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def _repaying_loan(
    app: Any,
    scripted: dict[str, Any],
    method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT,
) -> tuple[Loan, tuple[Any, str], list[tuple[Any, str]]]:
    """A 10,000.00 loan at 12 % over 12 months, held 3,333.33 / 3,333.33 / 3,333.34,
    signed, disbursed and settled at the provider: REPAYING."""
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000, method=method)
    lenders = [await ready_lender(500_000, name=f"Lender {n}") for n in "ABC"]
    for (user, phone), amount in zip(lenders, (333_333, 333_333, 500_000), strict=True):
        bid = await bidding.place_bid(
            actor=member_actor(user.id), loan_id=loan.id, amount=amount, idempotency_key=_key("bid")
        )
        await confirmation.confirm_operation(
            actor=member_actor(user.id),
            operation_id=str(bid.operation_id),
            code=await code_for(phone),
        )
    await outbox.dispatch_once()
    await borrower_signs(loan.id, borrower.id, borrower_phone)
    for _ in range(100):
        if (await Loan.get(id=loan.id)).status == "REPAYING":
            break
        await outbox.dispatch_once()
        await bidding.disburse_pending()
        await asyncio.sleep(0.02)
    # The disbursement's transfers settled at the provider before anything else moves.
    await settle_everything(app.state.sandbox.sandbox)
    loan = await Loan.get(id=loan.id)
    assert loan.status == "REPAYING"
    return loan, (borrower, borrower_phone), lenders


async def _received(holder_id: int, loan_id: int) -> tuple[int, int, int]:
    rows = await Receipt.filter(holder_id=holder_id, loan_id=loan_id).values_list(
        "principal_fen", "interest_fen", "penalty_fen"
    )
    return (
        sum(row[0] for row in rows),
        sum(row[1] for row in rows),
        sum(row[2] for row in rows),
    )


async def _platform_matches_provider(sandbox: Any) -> None:
    for code in (ledger.FEE, ledger.RISK_RESERVE):
        account = await ProviderAccount.get(owner_code=code)
        provider = await sandbox.balance(account.provider_account_id)
        assert provider.available_fen == await ledger.balance(code), code


@pytest.mark.parametrize("method", list(RepaymentMethod))
async def test_three_lenders_repaid_over_twelve_months_by_each_method(app, scripted, method):
    sandbox = app.state.sandbox.sandbox
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted, method)
    assert (await scoring.standing(borrower.id)).used_fen == 1_000_000
    claims = await Claim.filter(loan_id=loan.id).order_by("id")
    assert [(c.holder_id, c.principal_fen) for c in claims] == [
        (user.id, share) for (user, _phone), share in zip(lenders, SHARES, strict=True)
    ]
    # The installments are the contract's schedule, priced independently here.
    assert loan.closed_at is not None
    expected = price(
        LoanTerms(
            amount_fen=1_000_000,
            annual_rate=Decimal("0.12"),
            term_months=12,
            method=method,
        ),
        FEE_RATE,
        loan.closed_at.date(),
    )
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    assert [(r.number, r.due_date, r.principal_fen, r.interest_fen, r.fee_fen) for r in rows] == [
        (
            p.installment.number,
            p.installment.due_date,
            p.installment.principal_fen,
            p.installment.interest_fen,
            p.fee_fen,
        )
        for p in expected.installments
    ]
    # The borrower tops up what the interest and fees need on top of the 10,000.00.
    await deposit_by_card(borrower.id, expected.total_paid_fen - 1_000_000)
    fee_before = await ledger.balance(ledger.FEE)

    for row in rows:
        await move_clock_to(row.due_date)
        done = await repay_confirmed(borrower.id, phone, loan.id, RepayMode.NEXT)
        assert (done.status, done.installments) == (RepaymentStatus.DONE, [row.number])
        assert done.amount_fen == row.principal_fen + row.interest_fen + row.fee_fen

    loan = await Loan.get(id=loan.id)
    assert loan.status == "SETTLED"
    paid = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    assert all(r.status == InstallmentStatus.PAID and not r.paid_late for r in paid)
    repayments = await Repayment.filter(loan_id=loan.id, status=RepaymentStatus.DONE)
    borrower_paid = sum(r.amount_fen for r in repayments)
    fees = sum(r.fee_fen for r in repayments)
    assert borrower_paid == expected.total_paid_fen
    assert fees == expected.total_fees_fen
    interest_shares = allocate(expected.total_interest_fen, list(SHARES))
    to_lenders = 0
    for (user, _phone), share, interest in zip(lenders, SHARES, interest_shares, strict=True):
        got = await _received(user.id, loan.id)
        assert got == (share, interest, 0), (method, user.id)
        to_lenders += sum(got)
        books = await ledger.member_balances(user.id)
        assert books["available"] == 500_000 - share + share + interest
    assert to_lenders == borrower_paid - fees
    assert await ledger.balance(ledger.FEE) - fee_before == fees
    assert (await ledger.member_balances(borrower.id))["available"] == 0
    assert (await scoring.standing(borrower.id)).used_fen == 0  # the limit is back
    assert (await ledger.check()).ok
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])
    await _platform_matches_provider(sandbox)


async def test_early_repayment_mid_term_charges_interest_to_the_day_and_the_fee(app, scripted):
    sandbox = app.state.sandbox.sandbox
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted)
    await deposit_by_card(borrower.id, 200_000)
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    for row in rows[:3]:
        await move_clock_to(row.due_date)
        await repay_confirmed(borrower.id, phone, loan.id, RepayMode.NEXT)
    await clock.advance(days=10)
    today = await clock.today()
    remaining = sum(row.principal_fen for row in rows[3:])
    days = days_30e_360(rows[2].due_date, today)
    interest = (remaining * 12 * days * 2 + 100 * 360) // (2 * 100 * 360)  # half-up
    fee = (remaining + 50) // 100  # 1 % half-up: far inside R3 mid-term
    fee_before = await ledger.balance(ledger.FEE)
    balance_before = (await ledger.member_balances(borrower.id))["available"]

    done = await repay_confirmed(borrower.id, phone, loan.id, RepayMode.EARLY_FULL)
    assert done.kind == RepaymentKind.EARLY_FULL
    assert done.installments == list(range(4, 13))
    assert (done.principal_fen, done.interest_fen, done.fee_fen, done.early_fee_fen) == (
        remaining,
        interest,
        0,
        fee,
    )
    assert done.amount_fen == remaining + interest + fee
    assert balance_before - (await ledger.member_balances(borrower.id))["available"] == (
        done.amount_fen
    )
    assert await ledger.balance(ledger.FEE) - fee_before == fee
    assert (await Loan.get(id=loan.id)).status == "SETTLED"
    after = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    assert all(r.status == InstallmentStatus.PAID for r in after)
    assert after[3].interest_fen == interest
    assert all(r.interest_fen == 0 and r.fee_fen == 0 for r in after[4:])
    total_interest = sum(r.interest_fen for r in after)
    for (user, _phone), share, part in zip(
        lenders, SHARES, allocate(total_interest, list(SHARES)), strict=True
    ):
        assert await _received(user.id, loan.id) == (share, part, 0)
    assert (await scoring.standing(borrower.id)).used_fen == 0
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])
    await _platform_matches_provider(sandbox)


async def _snapshot(loan_id: int, user_ids: list[int]) -> dict[str, Any]:
    return {
        "balances": [await ledger.member_balances(user_id) for user_id in user_ids],
        "fee": await ledger.balance(ledger.FEE),
        "installments": await LoanInstallment.filter(loan_id=loan_id)
        .order_by("number")
        .values_list("status", "paid_principal_fen", "paid_interest_fen", "interest_fen"),
        "receipts": await Receipt.all().count(),
        "loan": (await Loan.get(id=loan_id)).status,
        "postings": await Posting.all().count(),
        "instructions": await PaymentInstruction.all().count(),
    }


async def test_too_little_balance_is_a_typed_error_and_changes_nothing(app, scripted):
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted)
    await clock.advance(days=5)
    # The 10,000.00 received does not cover 10,000.00 + interest + the early fee.
    asked = await service.repay(
        actor=member_actor(borrower.id),
        loan_id=loan.id,
        mode=RepayMode.EARLY_FULL,
        idempotency_key=_key("repay"),
    )
    assert asked.amount_fen > 1_000_000
    users = [borrower.id, *(user.id for user, _ in lenders)]
    before = await _snapshot(loan.id, users)
    with pytest.raises(DomainError) as refused:
        await confirmation.confirm_operation(
            actor=member_actor(borrower.id),
            operation_id=str(asked.operation_id),
            code=await code_for(phone),
        )
    assert refused.value.code == "INSUFFICIENT_FUNDS"
    assert await _snapshot(loan.id, users) == before
    refused_row = await Repayment.get(id=asked.id)
    assert (refused_row.status, refused_row.refusal) == (
        RepaymentStatus.REFUSED,
        "INSUFFICIENT_FUNDS",
    )
    assert (await PendingOperation.get(id=asked.operation_id)).status == "CONFIRMED"
    # Other typed refusals when asking: not the borrower's loan, COUNT past the end.
    outsider, _phone = await create_member()
    with pytest.raises(DomainError) as other:
        await service.repay(
            actor=member_actor(outsider.id),
            loan_id=loan.id,
            mode=RepayMode.NEXT,
            idempotency_key=_key("repay"),
        )
    assert other.value.code == "NOT_FOUND"
    with pytest.raises(DomainError) as too_many:
        await service.repay(
            actor=member_actor(borrower.id),
            loan_id=loan.id,
            mode=RepayMode.COUNT,
            count=13,
            idempotency_key=_key("repay"),
        )
    assert (too_many.value.code, too_many.value.field) == ("INVALID", "count")
    assert await _snapshot(loan.id, users) == before


async def test_an_overdue_installment_is_quoted_with_its_penalty_before_the_daily_run(
    app, scripted
):
    """The borrower asks to repay five days late, before the daily overdue run reached
    the loan: the amount asked already holds five days of penalty, and confirming it
    pays exactly that (no AMOUNT_CHANGED)."""
    loan, (borrower, phone), _lenders = await _repaying_loan(app, scripted)
    first = await LoanInstallment.get(loan_id=loan.id, number=1)
    await move_clock_to(first.due_date + timedelta(days=5))
    unpaid = first.principal_fen + first.interest_fen
    penalty = (unpaid * 5 * 5 + 5_000) // 10_000  # 0.0005 a day, half-up
    assert penalty > 0
    asked = await service.repay(
        actor=member_actor(borrower.id),
        loan_id=loan.id,
        mode=RepayMode.NEXT,
        idempotency_key=_key("repay"),
    )
    assert asked.penalty_fen == penalty
    assert asked.amount_fen == unpaid + first.fee_fen + penalty
    confirmed = await confirmation.confirm_operation(
        actor=member_actor(borrower.id),
        operation_id=str(asked.operation_id),
        code=await code_for(phone),
    )
    assert isinstance(confirmed.target, Repayment)
    assert (confirmed.target.status, confirmed.target.amount_fen) == (
        RepaymentStatus.DONE,
        asked.amount_fen,
    )
    paid = await LoanInstallment.get(id=first.id)
    assert (paid.status, paid.paid_late, paid.penalty_paid_fen) == (
        InstallmentStatus.PAID,
        True,
        penalty,
    )


async def test_a_repayment_confirmed_twice_pays_once(app, scripted):
    sandbox = app.state.sandbox.sandbox
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted)
    key = _key("repay")
    asked = await service.repay(
        actor=member_actor(borrower.id),
        loan_id=loan.id,
        mode=RepayMode.COUNT,
        count=2,
        idempotency_key=key,
    )
    code = await code_for(phone)
    await confirmation.confirm_operation(
        actor=member_actor(borrower.id), operation_id=str(asked.operation_id), code=code
    )
    with pytest.raises(DomainError) as again:
        await confirmation.confirm_operation(
            actor=member_actor(borrower.id), operation_id=str(asked.operation_id), code=code
        )
    assert again.value.code == "OPERATION_CLOSED"
    # A replay of the request with its key answers the first repayment; nothing new.
    replay = await service.repay(
        actor=member_actor(borrower.id),
        loan_id=loan.id,
        mode=RepayMode.COUNT,
        count=2,
        idempotency_key=key,
    )
    assert replay.id == asked.id
    assert replay.status == RepaymentStatus.DONE
    assert await Repayment.all().count() == 1
    assert await PendingOperation.filter(kind="REPAYMENT").count() == 1
    assert await Receipt.filter(loan_id=loan.id).count() == 3
    assert await LoanInstallment.filter(loan_id=loan.id, status="PAID").count() == 2
    repaid = sum([(await _received(user.id, loan.id))[0] for user, _ in lenders])
    assert repaid == replay.principal_fen
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])


async def test_auto_debit_on_the_due_date_tops_up_from_the_card_and_repays(app, scripted):
    sandbox = app.state.sandbox.sandbox
    loan, (borrower, _phone), lenders = await _repaying_loan(app, scripted)
    card = await BankCard.get(user_id=borrower.id, status="bound")
    await withdraw_confirmed(borrower.id, card.id, 950_000)  # 50.00 - 1.00 fee left
    first = await LoanInstallment.get(loan_id=loan.id, number=1)
    owed = first.principal_fen + first.interest_fen + first.fee_fen
    left = (await ledger.member_balances(borrower.id))["available"]
    assert left < owed
    assert await autodebit.auto_debit_due() == 0  # nothing is due today
    await move_clock_to(first.due_date)

    assert await autodebit.auto_debit_due() == 1
    debit = await Deposit.get(user_id=borrower.id, channel="AUTO_DEBIT", amount=owed - left)
    assert debit.status == "PAID"
    first = await LoanInstallment.get(id=first.id)
    assert (first.status, first.paid_late) == (InstallmentStatus.PAID, False)
    [repayment] = await Repayment.filter(loan_id=loan.id)
    assert (repayment.kind, repayment.status, repayment.amount_fen) == (
        RepaymentKind.AUTO_DEBIT,
        RepaymentStatus.DONE,
        owed,
    )
    assert repayment.operation_id is None  # the signed agreement is the consent
    # Once per installment and day.
    assert await autodebit.auto_debit_due() == 0
    assert await Deposit.filter(user_id=borrower.id, channel="AUTO_DEBIT").count() == 1
    assert await Repayment.all().count() == 1
    assert (await ledger.member_balances(borrower.id))["available"] == 0
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])


REPAY = """mutation ($input: RepayInput!) { repay(input: $input) { __typename
  ... on RepaymentRequested { operationId repayment { id status amount installments } }
  ... on RepayError { code field } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { repayment { id status kind amount principal interest fee } }
    ... on ConfirmOperationError { code } } }"""
SCHEDULE = """query ($id: ID!) { mySchedule(loanId: $id) { loanId status outstandingPrincipal
  nextDueDate installments { number dueDate principal interest fee penalty totalDue paid
  status paidOn paidLate } } }"""
RECEIVABLES = """{ myReceivables { claimId loanId loanStatus principal receivedPrincipal
  receivedInterest receivedPenalty expectedPrincipal expectedInterest nextDate } }"""
REPAYMENTS = """query ($after: String) { myRepayments(first: 1, after: $after) { totalCount
  pageInfo { hasNextPage endCursor } edges { node { id kind status amount } } } }"""


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def test_repay_and_the_views_through_graphql(app, client, scripted):
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted)
    token = await token_for(phone)
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    schedule = (await gql(client, SCHEDULE, {"id": str(loan.id)}, token=token))["data"]
    assert schedule["mySchedule"]["status"] == "REPAYING"
    assert schedule["mySchedule"]["outstandingPrincipal"] == "10000.00"
    assert len(schedule["mySchedule"]["installments"]) == 12

    received: list[dict[str, Any]] = []
    async with (
        get_broker().subscribe(events.repayment_events_channel(borrower.id)) as mine,
        get_broker().subscribe(events.repayment_events_channel(lenders[2][0].id)) as theirs,
    ):
        asked = await gql(
            client,
            REPAY,
            {"input": {"loanId": str(loan.id), "mode": "NEXT", "idempotencyKey": _key("gql")}},
            token=token,
        )
        result = asked["data"]["repay"]
        assert result["__typename"] == "RepaymentRequested", result
        assert result["repayment"]["status"] == "AWAITING_CONFIRMATION"
        owed = rows[0].principal_fen + rows[0].interest_fen + rows[0].fee_fen
        assert result["repayment"]["amount"] == _yuan(owed)
        confirmed = await gql(
            client,
            CONFIRM,
            {"id": result["operationId"], "code": await code_for(phone)},
            token=token,
        )
        repayment = confirmed["data"]["confirmOperation"]["repayment"]
        assert (repayment["status"], repayment["kind"], repayment["amount"]) == (
            "DONE",
            "INSTALLMENTS",
            _yuan(owed),
        )
        await outbox.dispatch_once()
        async for message in mine:
            received.append(message)
            break
        async for message in theirs:
            received.append(message)
            break
    paid, got = received
    assert (paid["kind"], paid["loan_id"], paid["installment"], paid["amount_fen"]) == (
        "PAID",
        loan.id,
        1,
        owed,
    )
    assert got["kind"] == "RECEIVED"
    assert got["installment"] == 1
    assert got["amount_fen"] == got["principal_fen"] + got["interest_fen"] + got["penalty_fen"]

    schedule = (await gql(client, SCHEDULE, {"id": str(loan.id)}, token=token))["data"]
    first = schedule["mySchedule"]["installments"][0]
    assert (first["status"], first["paid"], first["paidLate"]) == ("PAID", _yuan(owed), False)
    assert schedule["mySchedule"]["nextDueDate"] == rows[1].due_date.isoformat()
    assert schedule["mySchedule"]["outstandingPrincipal"] == _yuan(
        1_000_000 - rows[0].principal_fen
    )

    # The lender sees their claim: received and expected add up to their share.
    lender_token = await token_for(lenders[2][1])
    [claim] = (await gql(client, RECEIVABLES, token=lender_token))["data"]["myReceivables"]
    got_principal = await _received(lenders[2][0].id, loan.id)
    assert claim["principal"] == "3333.34"
    assert claim["receivedPrincipal"] == _yuan(got_principal[0])
    assert claim["receivedInterest"] == _yuan(got_principal[1])
    assert claim["expectedPrincipal"] == _yuan(333_334 - got_principal[0])
    total_interest = sum(r.interest_fen for r in rows)
    assert claim["expectedInterest"] == _yuan(
        allocate(total_interest, list(SHARES))[2] - got_principal[1]
    )
    assert claim["nextDate"] == rows[1].due_date.isoformat()

    # A second repayment, then the list pages newest first.
    await repay_confirmed(borrower.id, phone, loan.id, RepayMode.NEXT)
    page = (await gql(client, REPAYMENTS, token=token))["data"]["myRepayments"]
    assert page["totalCount"] == 2
    assert page["pageInfo"]["hasNextPage"]
    newest = page["edges"][0]["node"]
    after = (await gql(client, REPAYMENTS, {"after": page["pageInfo"]["endCursor"]}, token=token))[
        "data"
    ]["myRepayments"]
    assert int(after["edges"][0]["node"]["id"]) < int(newest["id"])

    # Nobody else sees any of it: a lender of the loan, or a stranger.
    stranger, stranger_phone = await create_member()
    for other in (lender_token, await token_for(stranger_phone)):
        seen = (await gql(client, SCHEDULE, {"id": str(loan.id)}, token=other))["data"]
        assert seen["mySchedule"] is None
        none = (await gql(client, REPAYMENTS, token=other))["data"]["myRepayments"]
        assert none["totalCount"] == 0
        refused = await gql(
            client,
            REPAY,
            {"input": {"loanId": str(loan.id), "mode": "NEXT", "idempotencyKey": _key("gql")}},
            token=other,
        )
        assert refused["data"]["repay"]["code"] == "NOT_FOUND"
    stranger_token = await token_for(stranger_phone)
    assert (await gql(client, RECEIVABLES, token=stranger_token))["data"]["myReceivables"] == []
    assert stranger


async def test_a_share_of_each_fee_goes_to_the_risk_reserve(app, scripted):
    from services.errors import InvalidInputError
    from services.identity.permissions import Actor
    from services.platform import parameters

    sandbox = app.state.sandbox.sandbox
    admin = Actor(user_id=None, kind="staff")
    await parameters.set_value(
        admin, "repayments.riskReserveShare", {"share": "0.3333"}, "reserve test"
    )
    with pytest.raises(InvalidInputError):  # each part exactly once
        await parameters.set_value(
            admin,
            "repayments.allocationOrder",
            {"order": ["PENALTY", "INTEREST", "PRINCIPAL"]},
            "order test",
        )
    loan, (borrower, phone), lenders = await _repaying_loan(app, scripted)
    fee_before = await ledger.balance(ledger.FEE)
    reserve_before = await ledger.balance(ledger.RISK_RESERVE)
    done = await repay_confirmed(borrower.id, phone, loan.id, RepayMode.COUNT, count=2)
    assert done.fee_fen == 6_000  # 0.30 % of 10,000.00, twice
    reserve = 2 * (3_000 * 3_333 // 10_000)  # each fee's share, rounded down
    assert await ledger.balance(ledger.RISK_RESERVE) - reserve_before == reserve
    assert await ledger.balance(ledger.FEE) - fee_before == done.fee_fen - reserve
    assert done.details["allocation_order"] == ["PENALTY", "INTEREST", "PRINCIPAL", "FEE"]
    await settle_everything(sandbox)
    await assert_ledger_matches_provider(sandbox, [borrower.id, *(u.id for u, _ in lenders)])
    await _platform_matches_provider(sandbox)
