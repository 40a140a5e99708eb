"""The guarantee fee (issue 21, M1.9, R3): a monthly rate on the loan's amount, paid by
the borrower with each installment, to the company; it counts in the all-in annual cost.

10,000.00 at 12 % over 6 months with the 0.30 %/month service fee and a 0.20 %/month
guarantee fee: each installment's fee is 50.00, of which 20.00 is the company's and
30.00 the platform's. At 24 % the all-in cost with the service fee is already near the
cap: a 0.50 %/month guarantee fee would take it past 36 %, and is refused with nothing
changed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.guarantees import Coverage, GuaranteePolicy, PolicyStatus
from models.loans import Loan
from models.repayments import LoanInstallment
from services.errors import DomainError
from services.guarantees import companies, policies
from services.money import ledger
from services.repayments.due import RepayMode
from simulation.people import member_actor
from tests.guarantees.test_compensation import SHARES, _company, _guaranteed_by
from tests.lending import (
    assert_ledger_matches_provider,
    deposit_by_card,
    listed_loan,
    move_clock_to,
    repay_confirmed,
    repaying_loan,
    settle_everything,
    verified_borrower,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]


async def test_a_fee_past_the_r3_cap_is_refused_and_changes_nothing(app, scripted):
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=100_000, margin=200_000)
    borrower, _phone = await verified_borrower(scripted)
    seen: dict[str, object] = {}

    async def before_review(loan: Loan) -> None:
        asked = await policies.request(
            actor=member_actor(loan.borrower_id), loan_id=loan.id, company_id=company_id
        )
        before = (loan.fee_terms, loan.all_in_cost)
        with pytest.raises(DomainError) as refused:
            await policies.issue(
                actor=staff,
                policy_id=asked.id,
                coverage=Coverage.PRINCIPAL_INTEREST,
                covers_penalty=False,
                trigger_days=30,
                may_draw_margin=True,
                fee_rate=Decimal("0.005"),
            )
        seen["code"], seen["field"] = refused.value.code, refused.value.field
        again = await Loan.get(id=loan.id)
        seen["unchanged"] = (again.fee_terms, again.all_in_cost) == before
        seen["status"] = (await GuaranteePolicy.get(id=asked.id)).status
        # 0.20 %/month fits: the loan's all-in cost rises with it.
        await policies.issue(
            actor=staff,
            policy_id=asked.id,
            coverage=Coverage.PRINCIPAL_INTEREST,
            covers_penalty=False,
            trigger_days=30,
            may_draw_margin=True,
            fee_rate=Decimal("0.002"),
        )
        seen["cost"] = ((await Loan.get(id=loan.id)).all_in_cost, before[1])

    await listed_loan(borrower.id, 1_000_000, rate="0.2400", term=6, before_review=before_review)
    assert (seen["code"], seen["field"], seen["unchanged"]) == (
        "RATE_CAP_EXCEEDED",
        "feeRate",
        True,
    )
    assert seen["status"] == PolicyStatus.REQUESTED
    after, before = seen["cost"]  # type: ignore[misc]
    assert Decimal("0.36") >= after > before


async def test_each_installment_pays_the_company_its_fee_in_whole_or_in_parts(app, scripted):
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=100_000, margin=200_000)
    code = companies.code_of(company_id)
    made = await repaying_loan(
        scripted,
        sandbox,
        shares=SHARES,
        term=6,
        before_review=_guaranteed_by(company_id, staff, fee_rate="0.002"),
    )
    rows = await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
    assert [(r.fee_fen, r.guarantee_fee_fen) for r in rows] == [(5_000, 2_000)] * 6
    await deposit_by_card(made.borrower.id, 1_000_000)

    # Installment 1 on its due date: 30.00 to the platform, 20.00 to the company.
    await move_clock_to(rows[0].due_date)
    fee_before, company_before = await ledger.balance(ledger.FEE), await ledger.balance(code)
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )
    assert done.amount_fen == 172_548 + 5_000
    assert done.details["guarantee_fee_fen"] == 2_000
    assert await ledger.balance(ledger.FEE) - fee_before == 3_000
    assert await ledger.balance(code) - company_before == 2_000

    # Installment 2 in two parts (AMOUNT, fee first in the allocation order or not): the
    # company has 20.00 of it in all, the platform 30.00.
    await move_clock_to(rows[1].due_date)
    fee_before, company_before = await ledger.balance(ledger.FEE), await ledger.balance(code)
    first = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.AMOUNT, amount=100_001
    )
    rest = await repay_confirmed(
        made.borrower.id,
        made.borrower_phone,
        made.loan.id,
        RepayMode.AMOUNT,
        amount=177_548 - 100_001,
    )
    assert first.amount_fen + rest.amount_fen == 177_548
    assert await ledger.balance(ledger.FEE) - fee_before == 3_000
    assert await ledger.balance(code) - company_before == 2_000

    # Early repayment in full: no fee for the months not begun, for either.
    company_before = await ledger.balance(code)
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.EARLY_FULL
    )
    assert done.status == "DONE"
    assert await ledger.balance(code) == company_before
    rows = await LoanInstallment.filter(loan_id=made.loan.id).order_by("number")
    assert [r.guarantee_fee_fen for r in rows] == [2_000, 2_000, 0, 0, 0, 0]
    assert (await Loan.get(id=made.loan.id)).status == "SETTLED"
    await settle_everything(sandbox)
    assert (await ledger.check()).ok
    lender_ids = [user.id for user, _phone in made.lenders]
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *lender_ids])
