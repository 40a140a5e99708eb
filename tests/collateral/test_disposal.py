"""Issue 21's second must-show: a defaulted loan with a pledged property, two valuations,
the transfer of rights and a disposal at a loss; the proceeds split among the holders,
one of whom bought part of a claim on the secondary market, to the fen.

A loan of 30,000.00 at 12 % over 12 months, equal principal, held A 12,000.00 and B
18,000.00. Installments 1 and 2 are paid on their due dates; then B sells 6,000.00 of
principal to C on the market. Installment 3 is not paid. The borrower's flat is valued
48,000.00, later 27,000.00. With `collateral.defaultDays` at 10, on the 11th day after
installment 3 fell due the loan is in default: the rights go to the holders (asked by
one reviewer, approved by a level-3 reviewer), the flat is sold for 15,000.00 with
1,200.00 of costs, and the net 13,800.00 arrives in the borrower's custody account.

They pay, oldest first, installment 3 whole (principal, interest, fee and 11 days of
penalty), then the rest accelerated: installment 4's principal with the interest accrued
since installment 3's due date (11 days, 30/360), then the principal of installments 5,
6, ... until the money runs out, the last in part. Each payment goes to the holdings
as the borrower's own would: principal and penalty by outstanding principal, interest
towards each holding's target, C's part to C, not to B.

By hand (outstanding A 10,000.00, B 9,000.00, C 6,000.00: 40 / 36 / 24 %):
- installment 3: 2,500.00 + 250.00 interest + 90.00 fee + 15.13 penalty (11 days at
  0.05 % of 2,750.00 = 15.125); installment 4: 2,500.00 + 82.50 (22,500.00 x 12 % x
  11/360); 5, 6 and 7: 2,500.00 each; 8: the 862.37 left. 13,800.00 in all.
- principal 13,362.37 by 40/36/24: 5,344.948, 4,810.4532, 3,206.9688 -> 5,344.95,
  4,810.45, 3,206.97 (the two fen to the largest remainders, A and C); interest 332.50:
  133.00 / 119.70 / 79.80; penalty 15.13: 6.05 / 5.45 / 3.63.
- A 5,484.00, B 4,935.60, C 3,290.40; the 90.00 fee to the platform.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.bids import Claim
from models.collateral import CollateralDisposal, CollateralItem, DisposalStatus, TransferTo
from models.guarantees import GuaranteePolicy, PolicyStatus
from models.loans import Loan
from models.payments import PaymentInstruction
from models.repayments import LoanInstallment, Receipt, Repayment
from services.collateral import disposal
from services.errors import DomainError
from services.guarantees import companies, policies
from services.identity.permissions import Actor, Permission
from services.loans.schedule import RepaymentMethod
from services.money import ledger
from services.money.money import allocate
from services.payments.provider import DepositChannel
from services.platform import clock, parameters
from services.repayments import holdings, overdue
from services.repayments.due import RepayMode
from tests.collateral.test_items import _flat, _value
from tests.factories import create_staff
from tests.guarantees.test_compensation import SHARES, _company, _guaranteed_by
from tests.lending import (
    assert_ledger_matches_provider,
    deposit_by_card,
    move_clock_to,
    ready_lender,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)
from tests.transfers.test_market import _buy, _list

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

ADMIN = Actor(user_id=None, kind="staff", permissions=frozenset({Permission.PARAMETERS_MANAGE}))


async def _staff(level3: bool) -> Actor:
    user, _phone = await create_staff("risk_l3" if level3 else "risk_l1")
    permissions = {Permission.LOAN_REVIEW}
    if level3:
        permissions.add(Permission.LOAN_REVIEW_L3)
    return Actor(user_id=user.id, kind="staff", permissions=frozenset(permissions))


async def _pay_next(made: Any, sandbox: Any) -> None:
    row = next(
        r
        for r in await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
        if r.status != "PAID"
    )
    await move_clock_to(row.due_date)
    await deposit_by_card(made.borrower.id, 1_000_000)
    await repay_confirmed(made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT)
    await settle_everything(sandbox)


async def test_a_disposal_at_a_loss_pays_every_holder_including_a_buyer_to_the_fen(app, scripted):
    sandbox = app.state.sandbox.sandbox
    await parameters.set_value(ADMIN, "collateral.defaultDays", {"days": 10}, "test: default")
    made = await repaying_loan(
        scripted,
        sandbox,
        shares=(1_200_000, 1_800_000),
        term=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
    )
    (a, _), (b, _) = made.lenders
    flat = await _flat(made.loan.id)
    assert flat.owner_id == made.borrower.id
    first = await _value(flat, 4_800_000)
    assert first.ltv == Decimal("0.6250")
    await _pay_next(made, sandbox)
    await _pay_next(made, sandbox)

    c = await ready_lender(2_000_000, name="Buyer C")
    b_claim = await Claim.get(loan_id=made.loan.id, holder_id=b.id)
    listing = await _list(b, b_claim.id, 600_000)
    await _buy(c, listing.id, 600_000)
    await settle_everything(sandbox)
    second = await _value(flat, 2_700_000)
    assert second.ltv is not None
    assert second.ltv < 1

    third = await LoanInstallment.get(loan_id=made.loan.id, number=3)
    today = await move_clock_to(third.due_date + timedelta(days=10))
    await overdue.run_daily(today)
    asker, approver = await _staff(level3=False), await _staff(level3=True)
    with pytest.raises(DomainError) as refused:
        await disposal.request_transfer(
            actor=asker, item_id=flat.id, to=TransferTo.HOLDERS, to_name="", reason="default"
        )
    assert refused.value.code == "LOAN_NOT_IN_DEFAULT"  # 10 days: not more than 10
    today = await move_clock_to(third.due_date + timedelta(days=11))
    await overdue.run_daily(today)
    transfer = await disposal.request_transfer(
        actor=asker, item_id=flat.id, to=TransferTo.HOLDERS, to_name="", reason="In default"
    )
    with pytest.raises(DomainError) as refused:
        await disposal.approve_transfer(actor=asker, transfer_id=transfer.id)
    assert refused.value.code == "FORBIDDEN"
    await disposal.approve_transfer(actor=approver, transfer_id=transfer.id)
    assert (await CollateralItem.get(id=flat.id)).status == "TRANSFERRED"

    # What each holding holds before the sale (outstanding principal), and their money.
    holdings = await Claim.filter(loan_id=made.loan.id).order_by("id")
    by_holder = {claim.holder_id: claim for claim in holdings}
    outstanding = {}
    for claim in holdings:
        had = sum(
            r.principal_fen for r in await Receipt.filter(claim_id=claim.id, to_reserve=False)
        )
        outstanding[claim.holder_id] = claim.principal_fen - had
    assert outstanding == {a.id: 1_000_000, b.id: 900_000, c[0].id: 600_000}
    before = {uid: await ledger.balance(ledger.available(uid)) for uid in outstanding}
    owner_before = await ledger.balance(ledger.available(made.borrower.id))
    fees_before = await ledger.balance(ledger.FEE) + await ledger.balance(ledger.RISK_RESERVE)

    sold = await disposal.record_disposal(
        actor=asker,
        item_id=flat.id,
        buyer="Auction house buyer",
        price_fen=1_500_000,
        costs_fen=120_000,
        sold_on=await clock.today(),
        channel=DepositChannel.GATEWAY,
        idempotency_key="disposal-0001",
    )
    assert (sold.net_fen, sold.status) == (1_380_000, DisposalStatus.RECORDED)
    instruction = await PaymentInstruction.get(business_ref=f"disposal:{sold.id}")
    await sandbox.bank_pay(instruction.request_id)
    await settle_everything(sandbox)

    sold = await CollateralDisposal.get(id=sold.id)
    assert (sold.status, sold.applied_fen, sold.surplus_fen) == (
        DisposalStatus.DISTRIBUTED,
        1_380_000,
        0,
    )
    assert (await CollateralItem.get(id=flat.id)).status == "DISPOSED"
    paid = await Repayment.get(id=sold.repayment_id)
    assert (paid.kind, paid.amount_fen, paid.early_fee_fen) == ("COLLATERAL", 1_380_000, 0)
    lines = paid.details["lines"]
    assert [line["number"] for line in lines][:3] == [3, 4, 5]
    assert all(line["settles"] for line in lines[:-1])
    assert not lines[-1]["settles"]
    # Installment 3 whole, with its fee and 11 days of penalty; later ones principal
    # (and installment 4 the interest accrued over the 11 days), no fee.
    third = await LoanInstallment.get(id=third.id)
    assert (lines[0]["principal_fen"], lines[0]["interest_fen"], lines[0]["fee_fen"]) == (
        third.principal_fen,
        third.interest_fen,
        third.fee_fen,
    )
    assert lines[0]["penalty_fen"] == third.penalty_accrued_fen > 0
    remaining = sum(o for o in outstanding.values()) - third.principal_fen
    # 30/360: 11 days of 12 % on the principal left after installment 3.
    assert lines[1]["interest_fen"] == int(
        (Decimal(remaining) * Decimal("0.12") * 11 / 360).quantize(Decimal(1), "ROUND_HALF_UP")
    )
    assert all(line["fee_fen"] == 0 for line in lines[1:])
    principal = sum(line["principal_fen"] for line in lines)
    interest = sum(line["interest_fen"] for line in lines)
    penalty = sum(line["penalty_fen"] for line in lines)
    assert principal + interest + penalty + third.fee_fen == 1_380_000

    got = {uid: await ledger.balance(ledger.available(uid)) - before[uid] for uid in outstanding}
    receipts = {
        uid: await Receipt.filter(repayment_id=paid.id, claim_id=by_holder[uid].id).values_list(
            "principal_fen", "interest_fen", "penalty_fen"
        )
        for uid in outstanding
    }
    parts = {
        uid: tuple(sum(col) for col in zip(*rows, strict=True)) for uid, rows in receipts.items()
    }
    order = [a.id, b.id, c[0].id]
    # Principal and penalty: by outstanding principal (10,000.00 / 9,000.00 / 6,000.00).
    assert [parts[uid][0] for uid in order] == allocate(principal, [outstanding[u] for u in order])
    assert [parts[uid][2] for uid in order] == allocate(penalty, [outstanding[u] for u in order])
    assert sum(parts[uid][1] for uid in order) == interest
    assert [got[uid] for uid in order] == [sum(parts[uid]) for uid in order]
    assert sum(got.values()) + third.fee_fen == 1_380_000
    assert [got[uid] for uid in order] == [548_400, 493_560, 329_040]
    fees_now = await ledger.balance(ledger.FEE) + await ledger.balance(ledger.RISK_RESERVE)
    assert fees_now - fees_before == third.fee_fen
    # The owner: the proceeds came in and all went out. The loan still owes the rest:
    # nothing fallen due is unpaid any more, so it is REPAYING again, the later
    # installments' principal less what the proceeds paid of it.
    assert await ledger.balance(ledger.available(made.borrower.id)) == owner_before
    assert (await Loan.get(id=made.loan.id)).status == "REPAYING"
    rows = await LoanInstallment.filter(loan_id=made.loan.id)
    assert sum(r.principal_fen - r.paid_principal_fen for r in rows) == (
        sum(outstanding.values()) - principal
    )

    # The same item again: refused, nothing moves.
    with pytest.raises(DomainError) as refused:
        await disposal.record_disposal(
            actor=asker,
            item_id=flat.id,
            buyer="Someone else",
            price_fen=100_000,
            costs_fen=0,
            sold_on=await clock.today(),
            channel=DepositChannel.GATEWAY,
            idempotency_key="disposal-0002",
        )
    assert refused.value.code == "PROCEEDS_ALREADY_DISTRIBUTED"
    assert await CollateralDisposal.filter(item_id=flat.id).count() == 1
    assert (await ledger.check()).ok
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *order])


async def test_a_guarantor_that_compensated_is_paid_first_and_a_surplus_stays_the_owners(
    app, scripted
):
    """The guaranteed loan of tests/guarantees/test_compensation.py (10,000.00, held
    4,999.99 / 3,000.00 / 2,000.01): the company compensates installment 1 (1,725.48) on
    day 30; the flat's rights go to it (allowed: it compensated); a first sale's proceeds
    do not arrive (the bank refuses: nothing paid, the flat TRANSFERRED again); a second
    sale nets 19,500.00, more than all that is owed: the company has its 1,725.48 back
    first (receipts naming it), the holders everything else of their claims, the loan is
    SETTLED and the surplus stays in the borrower's account."""
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=100_000, margin=200_000)
    code = companies.code_of(company_id)
    made = await repaying_loan(
        scripted, sandbox, shares=SHARES, term=6, before_review=_guaranteed_by(company_id, staff)
    )
    flat = await _flat(made.loan.id)
    await _value(flat, 2_000_000)
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    asker, approver = await _staff(level3=False), await _staff(level3=True)
    with pytest.raises(DomainError) as refused:
        await disposal.request_transfer(
            actor=asker, item_id=flat.id, to=TransferTo.GUARANTOR, to_name="", reason="subrogation"
        )
    assert refused.value.code == "NOT_COMPENSATED"
    today = await move_clock_to(first.due_date + timedelta(days=30))
    await overdue.run_daily(today)
    await settle_everything(sandbox)
    transfer = await disposal.request_transfer(
        actor=asker, item_id=flat.id, to=TransferTo.GUARANTOR, to_name="", reason="subrogation"
    )
    await disposal.approve_transfer(actor=approver, transfer_id=transfer.id)

    async def sell(price: int, key: str) -> CollateralDisposal:
        return await disposal.record_disposal(
            actor=asker,
            item_id=flat.id,
            buyer="Buyer",
            price_fen=price,
            costs_fen=50_000,
            sold_on=await clock.today(),
            channel=DepositChannel.GATEWAY,
            idempotency_key=key,
        )

    owner_before = await ledger.balance(ledger.available(made.borrower.id))
    failed = await sell(1_500_000, "sale-0001")
    with pytest.raises(DomainError) as refused:
        await sell(1_600_000, "sale-0001b")
    assert refused.value.code == "DISPOSAL_PENDING"
    request_id = (await PaymentInstruction.get(business_ref=f"disposal:{failed.id}")).request_id
    await sandbox.bank_reject(request_id, "buyer's bank refused")
    await settle_everything(sandbox)
    assert (await CollateralDisposal.get(id=failed.id)).status == DisposalStatus.FAILED
    assert (await CollateralItem.get(id=flat.id)).status == "TRANSFERRED"
    assert await ledger.balance(ledger.available(made.borrower.id)) == owner_before

    company_before = await ledger.balance(code)
    sold = await sell(2_000_000, "sale-0002")
    request_id = (await PaymentInstruction.get(business_ref=f"disposal:{sold.id}")).request_id
    await sandbox.bank_pay(request_id)
    await settle_everything(sandbox)
    sold = await CollateralDisposal.get(id=sold.id)
    assert sold.status == DisposalStatus.DISTRIBUTED
    assert sold.applied_fen + sold.surplus_fen == 1_950_000
    assert sold.surplus_fen > 0
    paid = await Repayment.get(id=sold.repayment_id)
    assert paid.details["recoveries_fen"] == {code: 172_548}
    assert await ledger.balance(code) - company_before == 172_548
    assert (await Loan.get(id=made.loan.id)).status == "SETTLED"
    assert await ledger.balance(ledger.available(made.borrower.id)) == (
        owner_before + sold.surplus_fen
    )
    # Every holder had exactly their principal (the compensation counted as had).
    claims = await Claim.filter(loan_id=made.loan.id).order_by("id")
    had = await holdings.had([claim.id for claim in claims])
    assert [had[claim.id].principal_fen for claim in claims] == list(SHARES)
    await policies.follow_loans()
    assert (await GuaranteePolicy.get(loan_id=made.loan.id)).status == PolicyStatus.CLOSED
    assert (await ledger.check()).ok
    lender_ids = [user.id for user, _phone in made.lenders]
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *lender_ids])
