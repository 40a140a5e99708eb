"""Compensation (代偿) and subrogation, issue 21's first must-show.

A loan of 10,000.00 at 12 % over 6 months (equal installments of 1,725.48; installment
1 is 1,625.48 principal + 100.00 interest, service fee 0.30 %/month = 30.00), held
4,999.99 / 3,000.00 / 2,000.01, guaranteed by a company with policy PRINCIPAL_INTEREST,
trigger 30 days, may draw margin. The company has 1,000.00 available and 2,000.00 of
margin. Installment 1 is not paid.

By hand:
- principal 1,625.48 by principal (largest remainder): 812.74 / 487.64 / 325.10
  (812.7384 + 487.644 + 325.1076: floors 812.73, 487.64, 325.10 = 1,625.47; the fen left
  to the largest remainder, .84 of a fen: L1);
- interest 100.00 towards the interest targets (in proportion, nothing had yet):
  50.00 / 30.00 / 20.00;
- so the company pays 1,725.48: its 1,000.00 and 725.48 unfrozen from its margin, which
  is left with 1,274.52; its exposure is then the principal of installments 2-6,
  8,374.52, and the margin required 10 % of it rounded up: 837.46.
- Day 40 the borrower repays installment 1: 1,725.48 + 30.00 fee + 40 days of penalty at
  0.05 %/day on 1,725.48 = 34.5096 -> 34.51. The company gets its 1,725.48 back, per claim
  exactly what it paid; the holders the penalty, by principal: 17.26 / 10.35 / 6.90.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from models.contracts import (
    Contract,
    ContractConsent,
    ContractKind,
    ContractParty,
    ContractStatus,
)
from models.guarantees import Coverage, GuaranteeCompensation, GuaranteePolicy, PolicyStatus
from models.loans import Loan
from models.payments import PaymentInstruction, ProviderAccount
from models.repayments import InstallmentAdvance, LoanInstallment, Receipt, ReserveAdvance
from services.contracts import access as contract_access
from services.contracts import signatures
from services.guarantees import companies, policies
from services.identity.permissions import Actor, Permission
from services.money import ledger
from services.payments.provider import DepositChannel
from services.platform import parameters
from services.repayments import overdue
from services.repayments.due import RepayMode
from simulation.people import member_actor
from tests.factories import create_staff, gql, token_for
from tests.lending import (
    assert_ledger_matches_provider,
    deposit_by_card,
    fund_risk_reserve,
    move_clock_to,
    repay_confirmed,
    repaying_loan,
    settle_everything,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

SHARES = (499_999, 300_000, 200_001)
ADMIN = Actor(
    user_id=None,
    kind="staff",
    permissions=frozenset({Permission.GUARANTORS_MANAGE, Permission.PARAMETERS_MANAGE}),
)


async def _company(sandbox: Any, *, available: int, margin: int) -> tuple[int, Actor]:
    """A company with an open custody account, `available + margin` deposited through the
    gateway and `margin` of it frozen as margin; returns its id and a staff actor."""
    company = await companies.create_company(
        actor=ADMIN, name="Anxin Guarantee Co.", licence_number="GD-2026-0001"
    )
    staff, _phone = await create_staff("guarantor")
    await companies.add_staff(actor=ADMIN, company_id=company.id, user_id=staff.id)
    actor = Actor(
        user_id=staff.id,
        kind="staff",
        permissions=frozenset({Permission.GUARANTEE_MANAGE, Permission.GUARANTEE_READ}),
    )
    await settle_everything(sandbox)
    paid = await companies.deposit(
        actor=actor,
        amount=available + margin,
        channel=DepositChannel.GATEWAY,
        idempotency_key="company-deposit-0001",
    )
    instruction = await PaymentInstruction.get(business_ref=f"deposit:{paid.id}")
    await sandbox.bank_pay(instruction.request_id)
    if margin:
        await companies.fund_margin(actor=actor, amount=margin, idempotency_key="margin-0001")
    await settle_everything(sandbox)
    return company.id, actor


async def _company_matches_provider(sandbox: Any, company_id: int) -> tuple[int, int]:
    """The company's (available, margin) in the ledger, equal to the provider's
    (available, frozen) of its custody account."""
    code = companies.code_of(company_id)
    books = (await ledger.balance(code), await ledger.balance(ledger.org_margin(code)))
    account = await ProviderAccount.get(owner_code=code)
    provider = await sandbox.balance(account.provider_account_id)
    assert (provider.available_fen, provider.frozen_fen) == books
    return books


def _guaranteed_by(
    company_id: int, staff: Actor, *, may_draw_margin: bool = True, fee_rate: str = "0"
):
    async def before_review(loan: Loan) -> None:
        asked = await policies.request(
            actor=member_actor(loan.borrower_id), loan_id=loan.id, company_id=company_id
        )
        await policies.issue(
            actor=staff,
            policy_id=asked.id,
            coverage=Coverage.PRINCIPAL_INTEREST,
            covers_penalty=False,
            trigger_days=30,
            may_draw_margin=may_draw_margin,
            fee_rate=Decimal(fee_rate),
        )

    return before_review


async def test_the_guarantor_pays_the_holders_after_30_days_and_the_borrower_repays_it(
    app, scripted
):
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=100_000, margin=200_000)
    code = companies.code_of(company_id)
    # The reserve is on at 5 days: it must never step in for a guaranteed loan.
    await fund_risk_reserve(sandbox, 1_000_000)
    await parameters.set_value(
        ADMIN, "repayments.reserveAdvance", {"enabled": True, "after_days": 5}, "test: reserve on"
    )
    made = await repaying_loan(
        scripted, sandbox, shares=SHARES, term=6, before_review=_guaranteed_by(company_id, staff)
    )
    lender_ids = [user.id for user, _phone in made.lenders]
    policy = await GuaranteePolicy.get(loan_id=made.loan.id)
    assert (policy.margin_at_issue_fen, policy.required_at_issue_fen) == (200_000, 100_000)
    # The policy follows its loan (on any reading and every day): the loan is disbursed.
    await policies.follow_loans()
    policy = await GuaranteePolicy.get(id=policy.id)
    assert policy.status == PolicyStatus.ACTIVE
    # The guarantee contract: borrower, guarantor (the company) and the three lenders,
    # all consented, signed by the platform, the archived file verifiable.
    guarantee = await Contract.get(loan_id=made.loan.id, kind=ContractKind.GUARANTEE)
    assert guarantee.status == ContractStatus.SIGNED
    parties = await ContractParty.filter(contract_id=guarantee.id).order_by("id")
    assert sorted(str(p.role) for p in parties) == [
        "BORROWER",
        "GUARANTOR",
        "LENDER",
        "LENDER",
        "LENDER",
    ]
    assert next(p for p in parties if p.role == "GUARANTOR").name_masked == "Anxin Guarantee Co."
    consents = {
        str(c.role): str(c.method) for c in await ContractConsent.filter(contract_id=guarantee.id)
    }
    assert consents == {
        "BORROWER": "SMS_CODE",
        "GUARANTOR": "POLICY_ISSUE",
        "LENDER": "BID_CONFIRMATION",
    }
    document = await contract_access.archived_document(guarantee)
    assert (await signatures.verify_document(data=document)).valid
    assert (await signatures.verify_document(data=document[:-1] + b"x")).valid is False
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    assert (first.principal_fen, first.interest_fen, first.fee_fen) == (162_548, 10_000, 3_000)
    before = {uid: await ledger.balance(ledger.available(uid)) for uid in lender_ids}

    today = await move_clock_to(first.due_date + timedelta(days=5))
    assert (await overdue.run_daily(today)).advanced == 0  # the reserve: not this loan
    today = await move_clock_to(first.due_date + timedelta(days=29))
    await overdue.run_daily(today)
    assert not await InstallmentAdvance.filter(loan_id=made.loan.id).exists()
    assert (await GuaranteePolicy.get(id=policy.id)).status == PolicyStatus.ACTIVE

    today = await move_clock_to(first.due_date + timedelta(days=30))
    await overdue.run_daily(today)
    await settle_everything(sandbox)
    rows = await ReserveAdvance.filter(loan_id=made.loan.id).order_by("claim_id")
    assert [(r.holder_id, r.recoverer, r.principal_fen, r.interest_fen) for r in rows] == [
        (lender_ids[0], code, 81_274, 5_000),
        (lender_ids[1], code, 48_764, 3_000),
        (lender_ids[2], code, 32_510, 2_000),
    ]
    got = [await ledger.balance(ledger.available(uid)) - before[uid] for uid in lender_ids]
    assert got == [86_274, 51_764, 34_510]
    [paid] = await GuaranteeCompensation.filter(policy_id=policy.id)
    assert (paid.amount_fen, paid.from_margin_fen, paid.recovered_fen) == (172_548, 72_548, 0)
    assert await _company_matches_provider(sandbox, company_id) == (0, 127_452)
    margin = await companies.margin_of(company_id)
    assert (margin.exposure_fen, margin.required_fen) == (837_452, 83_746)
    assert (await GuaranteePolicy.get(id=policy.id)).status == PolicyStatus.COMPENSATED
    assert await ledger.balance(ledger.RISK_RESERVE) == 1_000_000  # never advanced

    # The same day again, and the next: nothing moves twice.
    await overdue.run_daily(today)
    today = await move_clock_to(first.due_date + timedelta(days=31))
    await overdue.run_daily(today)
    assert await GuaranteeCompensation.filter(policy_id=policy.id).count() == 1
    assert await _company_matches_provider(sandbox, company_id) == (0, 127_452)

    # Day 40: the borrower repays installment 1 with 40 days of penalty.
    today = await move_clock_to(first.due_date + timedelta(days=40))
    await overdue.run_daily(today)
    await deposit_by_card(made.borrower.id, 200_000)
    before = {uid: await ledger.balance(ledger.available(uid)) for uid in lender_ids}
    fee_before = await ledger.balance(ledger.FEE) + await ledger.balance(ledger.RISK_RESERVE)
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.NEXT
    )
    assert done.status == "DONE"
    first = await LoanInstallment.get(id=first.id)
    assert (first.status, first.penalty_paid_fen) == ("PAID", 3_451)
    assert done.amount_fen == 172_548 + 3_000 + 3_451
    assert done.details["recoveries_fen"] == {code: 172_548}
    recovery = await Receipt.filter(repayment_id=done.id, to_reserve=True).order_by("claim_id")
    assert [(r.recoverer, r.principal_fen, r.interest_fen, r.penalty_fen) for r in recovery] == [
        (code, row.principal_fen, row.interest_fen, 0) for row in rows
    ]
    got = [await ledger.balance(ledger.available(uid)) - before[uid] for uid in lender_ids]
    assert got == [1_726, 1_035, 690]
    fees_now = await ledger.balance(ledger.FEE) + await ledger.balance(ledger.RISK_RESERVE)
    assert fees_now - fee_before == 3_000
    installment_2 = await LoanInstallment.get(loan_id=made.loan.id, number=2)
    assert (installment_2.status, installment_2.paid_principal_fen) == ("OVERDUE", 0)
    [paid] = await GuaranteeCompensation.filter(policy_id=policy.id)
    assert paid.recovered_fen == 172_548
    policy = await GuaranteePolicy.get(id=policy.id)
    assert policy.status == PolicyStatus.RECOVERED
    await settle_everything(sandbox)
    assert await _company_matches_provider(sandbox, company_id) == (172_548, 127_452)
    assert (await ledger.check()).ok
    await assert_ledger_matches_provider(sandbox, [made.borrower.id, *lender_ids])


async def test_a_company_short_of_money_compensates_nothing_until_it_tops_up(app, scripted):
    """Without the right to draw on its margin, a company with 500.00 available cannot
    pay 1,725.48: nothing moves, the policy is TRIGGERED; it deposits 2,000.00 and the
    next day's run compensates."""
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=50_000, margin=200_000)
    made = await repaying_loan(
        scripted,
        sandbox,
        shares=SHARES,
        term=6,
        before_review=_guaranteed_by(company_id, staff, may_draw_margin=False),
    )
    lender_ids = [user.id for user, _phone in made.lenders]
    before = {uid: await ledger.balance(ledger.available(uid)) for uid in lender_ids}
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=30))
    await overdue.run_daily(today)
    await settle_everything(sandbox)
    policy = await GuaranteePolicy.get(loan_id=made.loan.id)
    assert policy.status == PolicyStatus.TRIGGERED
    assert not await InstallmentAdvance.filter(loan_id=made.loan.id).exists()
    assert [await ledger.balance(ledger.available(uid)) for uid in lender_ids] == [
        before[uid] for uid in lender_ids
    ]
    assert await _company_matches_provider(sandbox, company_id) == (50_000, 200_000)

    paid = await companies.deposit(
        actor=staff, amount=200_000, channel=DepositChannel.GATEWAY, idempotency_key="top-up-01"
    )
    await sandbox.bank_pay(
        (await PaymentInstruction.get(business_ref=f"deposit:{paid.id}")).request_id
    )
    today = await move_clock_to(first.due_date + timedelta(days=31))
    await overdue.run_daily(today)
    await settle_everything(sandbox)
    [compensation] = await GuaranteeCompensation.filter(policy_id=policy.id)
    assert (compensation.amount_fen, compensation.from_margin_fen) == (172_548, 0)
    assert [await ledger.balance(ledger.available(uid)) - before[uid] for uid in lender_ids] == [
        86_274,
        51_764,
        34_510,
    ]
    assert await _company_matches_provider(sandbox, company_id) == (250_000 - 172_548, 200_000)
    assert (await GuaranteePolicy.get(id=policy.id)).status == PolicyStatus.COMPENSATED
    assert (await ledger.check()).ok


async def test_a_triggered_policy_whose_loan_is_paid_up_before_compensation_is_active(
    app, scripted
):
    """The company could not pay (TRIGGERED); the borrower then pays everything overdue and
    the loan is REPAYING again: the next day's run finds nothing past the trigger and the
    policy is ACTIVE, with no compensation, nothing drawn from the company."""
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=50_000, margin=200_000)
    made = await repaying_loan(
        scripted,
        sandbox,
        shares=SHARES,
        term=6,
        before_review=_guaranteed_by(company_id, staff, may_draw_margin=False),
    )
    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=30))
    await overdue.run_daily(today)
    policy = await GuaranteePolicy.get(loan_id=made.loan.id)
    assert policy.status == PolicyStatus.TRIGGERED

    await deposit_by_card(made.borrower.id, 500_000)
    overdue_rows = await LoanInstallment.filter(loan_id=made.loan.id, status="OVERDUE").count()
    done = await repay_confirmed(
        made.borrower.id, made.borrower_phone, made.loan.id, RepayMode.COUNT, overdue_rows
    )
    assert done.status == "DONE"
    assert (await Loan.get(id=made.loan.id)).status == "REPAYING"
    today = await move_clock_to(first.due_date + timedelta(days=31))
    await overdue.run_daily(today)
    assert (await GuaranteePolicy.get(id=policy.id)).status == PolicyStatus.ACTIVE
    assert not await GuaranteeCompensation.filter(policy_id=policy.id).exists()
    await settle_everything(sandbox)
    assert await _company_matches_provider(sandbox, company_id) == (50_000, 200_000)


COMPENSATE = """mutation($policy: ID!, $number: Int!) {
  compensateInstallment(input: {policyId: $policy, installment: $number}) {
    __typename
    ... on InstallmentCompensated { compensation { amount fromMargin } policy { status } }
    ... on CompensateInstallmentError { code }
  } }"""


async def test_staff_compensate_at_once_and_never_twice(app, client, scripted):
    """compensateInstallment over the API: refused before the trigger, while the company
    cannot pay, twice, and by another company's staff, nothing moving each time; paid in
    full once the company has the money."""
    sandbox = app.state.sandbox.sandbox
    company_id, staff = await _company(sandbox, available=50_000, margin=200_000)
    made = await repaying_loan(
        scripted,
        sandbox,
        shares=SHARES,
        term=6,
        before_review=_guaranteed_by(company_id, staff, may_draw_margin=False),
    )
    policy = await GuaranteePolicy.get(loan_id=made.loan.id)
    user, phone = await create_staff("guarantor")
    await companies.add_staff(actor=ADMIN, company_id=company_id, user_id=user.id)
    token = await token_for(phone)
    other_user, other_phone = await create_staff("guarantor")
    other = await companies.create_company(
        actor=ADMIN, name="Other Guarantee Co.", licence_number="GD-2026-0002"
    )
    await companies.add_staff(actor=ADMIN, company_id=other.id, user_id=other_user.id)
    variables = {"policy": str(policy.id), "number": 1}

    async def ask(with_token: str) -> dict[str, Any]:
        body = await gql(client, COMPENSATE, variables, token=with_token)
        return body["data"]["compensateInstallment"]

    first = await LoanInstallment.get(loan_id=made.loan.id, number=1)
    today = await move_clock_to(first.due_date + timedelta(days=29))
    await overdue.run_daily(today)
    assert await ask(token) == {"__typename": "CompensateInstallmentError", "code": "NOT_TRIGGERED"}
    today = await move_clock_to(first.due_date + timedelta(days=30))
    await overdue.run_daily(today)  # the company is short: TRIGGERED, nothing moved
    assert await ask(token) == {
        "__typename": "CompensateInstallmentError",
        "code": "MARGIN_INSUFFICIENT",
    }
    assert await ask(await token_for(other_phone)) == {
        "__typename": "CompensateInstallmentError",
        "code": "POLICY_NOT_FOUND",
    }
    assert not await GuaranteeCompensation.exists()
    paid = await companies.deposit(
        actor=staff, amount=200_000, channel=DepositChannel.GATEWAY, idempotency_key="top-up-02"
    )
    await sandbox.bank_pay(
        (await PaymentInstruction.get(business_ref=f"deposit:{paid.id}")).request_id
    )
    assert await ask(token) == {
        "__typename": "InstallmentCompensated",
        "compensation": {"amount": "1725.48", "fromMargin": "0.00"},
        "policy": {"status": "COMPENSATED"},
    }
    assert await ask(token) == {
        "__typename": "CompensateInstallmentError",
        "code": "ALREADY_COMPENSATED",
    }
    assert await GuaranteeCompensation.all().count() == 1
    await settle_everything(sandbox)
    assert await _company_matches_provider(sandbox, company_id) == (250_000 - 172_548, 200_000)
    assert (await ledger.check()).ok
