"""A loan's schedule rules are one of its terms, frozen when it is published: an equal
principal loan published before issue 13 (`schedule_rules` 1, what migration 0020 gives
every loan already there) whose contract was made on the floor rule when it filled is
paid out on that schedule, a loan published now on half-up (2). The payout makes the
contract data again from the loan and must find the same contract (anything else is
CONFLICT), then writes that schedule as the installments.

¥1,000.06 at 12 % over 12 months: 100,006 = 8,333 x 12 + 10 and 2 x 10 >= 12, so the
two rules differ. Floor: 8,333 x 11, then 100,006 - 91,663 = 8,343. Half-up:
hu(8,333.83) = 8,334 x 11, then 100,006 - 91,674 = 8,332.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from models.bids import BidSource
from models.contracts import Contract
from models.loans import Loan, LoanStatus
from models.repayments import LoanInstallment
from services import jobs
from services.contracts.data import ScheduleLine
from services.contracts.issue import create_loan_contract
from services.loans import bidding, contracting
from services.loans.contracting import FULL_TOPIC
from services.loans.pricing import monthly_fee_fen
from services.loans.schedule import RepaymentMethod, ScheduleRules, due_date, round_half_up
from services.platform import outbox
from tests.lending import (
    borrower_signs,
    listed_loan,
    ready_lender,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

AMOUNT = 100_006
FLOOR = [8_333] * 11 + [8_343]
HALF_UP = [8_334] * 11 + [8_332]


async def _nothing(*_args: object) -> None:
    return None


async def _filled(scripted: dict[str, Any], rules: ScheduleRules | None) -> tuple[Loan, str]:
    """An equal principal loan of AMOUNT at 12 % over 12 months, filled by one lender
    (the caller keeps the loan.full event from making its contract). `rules` FLOOR
    stands for a loan published before issue 13 (the column as migration 0020 left
    it), None keeps what publishing froze. Returns the loan and its borrower's phone."""
    borrower, phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, AMOUNT, method=RepaymentMethod.EQUAL_PRINCIPAL)
    assert loan.schedule_rules == ScheduleRules.HALF_UP  # published now
    if rules is not None:
        await Loan.filter(id=loan.id).update(schedule_rules=rules.value)
    lender, _phone = await ready_lender(AMOUNT)
    await bidding.accept(
        loan_id=loan.id, lender_id=lender.id, requested=AMOUNT, source=BidSource.MANUAL
    )
    loan = await Loan.get(id=loan.id)
    assert loan.status == LoanStatus.FULL
    return loan, phone


async def _contract_made_when_it_filled(loan: Loan, principals: list[int]) -> None:
    """The loan's contract as the platform made it when the loan filled, its schedule
    worked out here from `principals`: interest hu(balance x 1 %), the monthly fee
    0.30 % of the amount (hu(300.018) = 300), due monthly from the day it filled."""
    data = await contracting.contract_data(loan)
    fee = monthly_fee_fen(AMOUNT, Decimal(loan.fee_terms["monthly_service_fee_rate"]), 1)
    assert fee == 300
    lines, balance = [], AMOUNT
    for number, principal in enumerate(principals, start=1):
        interest = round_half_up(balance, 100)
        lines.append(
            ScheduleLine(
                number,
                due_date(data.start_date, number),
                principal,
                interest,
                fee,
                principal + interest + fee,
            )
        )
        balance -= principal
    await create_loan_contract(dataclasses.replace(data, schedule=lines))


async def _contract_schedule(loan_id: int) -> list[list[Any]]:
    """[number, due date, principal, interest, fee, total] of the loan's contract."""
    [contract] = await Contract.filter(loan_id=loan_id)
    schedule: list[list[Any]] = contract.terms["schedule"]
    return schedule


async def _installments(loan_id: int) -> list[list[Any]]:
    rows = await LoanInstallment.filter(loan_id=loan_id).order_by("number")
    return [
        [
            row.number,
            row.due_date.isoformat(),
            row.principal_fen,
            row.interest_fen,
            row.fee_fen,
            row.principal_fen + row.interest_fen + row.fee_fen,
        ]
        for row in rows
    ]


@pytest.mark.parametrize(
    ("rules", "frozen", "principals"),
    [
        (ScheduleRules.FLOOR, ScheduleRules.FLOOR, FLOOR),  # published before issue 13
        (None, ScheduleRules.HALF_UP, HALF_UP),  # published now
    ],
    ids=["published-before", "published-now"],
)
async def test_a_signed_loan_is_paid_out_on_the_schedule_of_its_contract(
    app, scripted, monkeypatch, rules, frozen, principals
):
    with monkeypatch.context() as patched:
        patched.setitem(outbox._handlers, FULL_TOPIC, _nothing)
        loan, phone = await _filled(scripted, rules)
        await outbox.dispatch_once()  # the loan.full event, made harmless
    assert loan.schedule_rules == frozen
    await _contract_made_when_it_filled(loan, principals)

    # The borrower signs (the contract is found again from the loan's terms: a
    # different schedule would be CONFLICT) and the loan.full event pays out.
    await borrower_signs(loan.id, loan.borrower_id, phone)
    for _ in range(200):
        if (await Loan.get(id=loan.id)).status == LoanStatus.REPAYING:
            break
        await outbox.dispatch_once()
        await asyncio.sleep(0.02)
    await settle_everything(app.state.sandbox.sandbox)
    assert (await Loan.get(id=loan.id)).status == LoanStatus.REPAYING
    contract = await _contract_schedule(loan.id)
    assert [line[2] for line in contract] == principals
    assert await _installments(loan.id) == contract


async def test_disburse_pending_pays_out_an_old_loan_and_the_loans_after_it(
    app, scripted, monkeypatch
):
    """The safety net pays every signed FULL loan in id order: a loan whose contract was
    made on the floor rule, among others, is paid out on it, and so are the loans after."""
    # Only disburse_pending pays out here: not the loan.full event, not the periodic job.
    monkeypatch.setitem(outbox._handlers, FULL_TOPIC, _nothing)
    monkeypatch.setattr(jobs.registered()["loans_disburse_full"], "run", _nothing)
    expected = []
    for rules, principals in ((None, HALF_UP), (ScheduleRules.FLOOR, FLOOR), (None, HALF_UP)):
        loan, phone = await _filled(scripted, rules)
        await _contract_made_when_it_filled(loan, principals)
        await borrower_signs(loan.id, loan.borrower_id, phone)
        expected.append((loan.id, principals))
    await outbox.dispatch_once()
    statuses = await Loan.filter(id__in=[loan_id for loan_id, _ in expected]).values_list(
        "status", flat=True
    )
    assert statuses == [LoanStatus.FULL] * 3

    assert await bidding.disburse_pending() == 3
    await settle_everything(app.state.sandbox.sandbox)
    for loan_id, principals in expected:
        assert (await Loan.get(id=loan_id)).status == LoanStatus.REPAYING
        contract = await _contract_schedule(loan_id)
        assert [line[2] for line in contract] == principals
        assert await _installments(loan_id) == contract
