"""Compensation (代偿, issue 21, M7.3) and subrogation, through the one advance engine.

Every day after the overdue run (`overdue.on_daily`): for each policy in force whose
loan has an OVERDUE installment due `trigger_days` or more days ago and not advanced
yet, the company pays the holders what the policy covers of it (principal, or principal
and interest, and the penalty accrued through the day when it covers penalty), through
the provider from its account `g:<id>` (`advances.advance_installment`, references
`compensation:<installment>:<claim>`, kind `guarantee_compensation`): all holders or
none. When its available balance is short and the policy lets it draw on the margin, the
shortfall is unfrozen first, in the same transaction (the provider sees the UNFREEZE
before the transfers: one account's instructions go in ledger order); otherwise nothing
moves, the policy is TRIGGERED and the next day tries again. A `GuaranteeCompensation`
row per installment; the header's uniqueness means an installment is never compensated
twice.

Subrogation: the company now holds those parts of the claims; the borrower's later
payments of them go to it first (`settlement`, receipts naming `g:<id>`), and
`_recovered` raises each compensation's `recovered_fen`, oldest installment first.

Status: TRIGGERED while an installment past the trigger is not compensated;
COMPENSATED while some compensation is not all recovered; RECOVERED when all is back;
ACTIVE before anything triggered. CLOSED when the loan settles (`policies.follow_loans`).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import cast

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.guarantees import (
    IN_FORCE,
    Coverage,
    GuaranteeCompany,
    GuaranteeCompensation,
    GuaranteePolicy,
    PolicyStatus,
)
from models.loans import LoanStatus
from models.repayments import InstallmentAdvance, InstallmentStatus, LoanInstallment
from services.errors import DomainError
from services.guarantees import companies, policies
from services.identity.permissions import Actor
from services.money import ledger, movements
from services.payments import instructions
from services.platform import clock
from services.repayments import advances, overdue, reserve

logger = logging.getLogger(__name__)


def _cover(policy: GuaranteePolicy) -> advances.Cover:
    cover = (
        advances.PRINCIPAL_INTEREST
        if policy.coverage == Coverage.PRINCIPAL_INTEREST
        else advances.Cover.PRINCIPAL
    )
    return cover | advances.Cover.PENALTY if policy.covers_penalty else cover


def _payer(company: GuaranteeCompany) -> advances.Payer:
    return advances.Payer(
        recoverer=companies.code_of(company.id),
        reference="compensation",
        kind="guarantee_compensation",
        name=f"the guarantor {company.name}",
        title="Overdue installment compensated by the guarantor",
    )


async def _due(policy: GuaranteePolicy, today: date) -> list[LoanInstallment]:
    """The policy's installments past its trigger and not advanced."""
    assert policy.trigger_days is not None
    rows = await LoanInstallment.filter(
        loan_id=policy.loan_id,
        status=InstallmentStatus.OVERDUE,
        due_date__lte=today - timedelta(days=policy.trigger_days),
    ).order_by("number")
    done = set(
        await InstallmentAdvance.filter(installment_id__in=[r.id for r in rows]).values_list(
            "installment_id", flat=True
        )
    )
    return [row for row in rows if row.id not in done]


async def compensate_one(policy: GuaranteePolicy, row: LoanInstallment) -> bool:
    """Compensate one installment (see the module docstring); False when nothing moved."""
    async with in_transaction():
        company = await GuaranteeCompany.filter(id=policy.company_id).select_for_update().get()
        code = companies.code_of(company.id)
        drawn = 0

        async def prepare(total: int) -> bool:
            nonlocal drawn
            available = await ledger.balance(code)
            if available >= total:
                return True
            margin = await ledger.balance(ledger.org_margin(code))
            if not policy.may_draw_margin or available + margin < total:
                return False
            drawn = total - available
            await movements.unfreeze_org(
                code=code, amount=drawn, reference=f"compensation-margin:{row.id}"
            )
            return True

        found = await advances.advance_installment(
            row.id, payer=_payer(company), cover=_cover(policy), prepare=prepare
        )
        if found is None:
            return False
        await GuaranteeCompensation.create(
            policy_id=policy.id,
            company_id=company.id,
            loan_id=policy.loan_id,
            installment_id=row.id,
            amount_fen=found.total_fen,
            from_margin_fen=drawn,
            created_at=await clock.now(),
        )
    return True


async def refresh_status(policy: GuaranteePolicy, today: date) -> PolicyStatus:
    """The policy's status from its compensations (see the module docstring)."""
    if policy.status not in IN_FORCE or policy.status == PolicyStatus.ISSUED:
        return PolicyStatus(policy.status)
    rows = await GuaranteeCompensation.filter(policy_id=policy.id)
    if await _due(policy, today):
        status = PolicyStatus.TRIGGERED
    elif any(row.recovered_fen < row.amount_fen for row in rows):
        status = PolicyStatus.COMPENSATED
    elif rows:
        status = PolicyStatus.RECOVERED
    else:
        status = PolicyStatus.ACTIVE
    if status != policy.status:
        await GuaranteePolicy.filter(id=policy.id).update(status=status, version=policy.version + 1)
        policy.status = status
        policy.version += 1
    return status


async def compensate_overdue(today: date) -> int:
    """The day's compensations; how many installments were compensated."""
    await policies.follow_loans()
    made = 0
    # A policy TRIGGERED whose loan was paid up before the company paid (REPAYING again)
    # is refreshed too: nothing is past the trigger any more.
    for policy in await GuaranteePolicy.filter(
        Q(loan__status=LoanStatus.OVERDUE) | Q(status=PolicyStatus.TRIGGERED),
        status__in=list(IN_FORCE),
    ).order_by("id"):
        for row in await _due(policy, today):
            if await compensate_one(policy, row):
                made += 1
            else:
                # The policy stays TRIGGERED (its staff see it in guaranteePolicies) and
                # the next day's run tries again.
                logger.warning(
                    "policy %s: installment %s of loan %s past the trigger, not compensated "
                    "(the company is short)",
                    policy.id,
                    row.number,
                    policy.loan_id,
                )
        await refresh_status(policy, today)
    if made:
        instructions.wake()
    return made


@advances.on_recovered
async def _recovered(amounts: dict[str, dict[int, int]]) -> None:
    """In the paying transaction: raise the compensations' `recovered_fen`, oldest
    installment first, and the policies' status."""
    today = await clock.today()
    for code, per_loan in amounts.items():
        if not code.startswith("g:"):
            continue
        company_id = int(code[2:])
        for loan_id, amount in per_loan.items():
            rows = await GuaranteeCompensation.filter(
                company_id=company_id, loan_id=loan_id
            ).order_by("installment_id")
            left = amount
            for row in rows:
                part = min(left, row.amount_fen - row.recovered_fen)
                if part > 0:
                    await GuaranteeCompensation.filter(id=row.id).update(
                        recovered_fen=row.recovered_fen + part
                    )
                    left -= part
            if left:
                raise RuntimeError(f"{code} recovered {left} fen more than it paid on {loan_id}")
            for policy in await GuaranteePolicy.filter(
                company_id=company_id, loan_id=loan_id, status__in=list(IN_FORCE)
            ):
                await refresh_status(policy, today)


@reserve.exclude_loans
async def _guaranteed(loan_ids: list[int]) -> set[int]:
    """The reserve never advances a loan a company stands behind."""
    found = await GuaranteePolicy.filter(
        loan_id__in=loan_ids, status__in=list(IN_FORCE)
    ).values_list("loan_id", flat=True)
    return set(cast(list[int], found))


@overdue.on_daily
async def _daily(today: date) -> None:
    await compensate_overdue(today)


async def compensate_now(*, actor: Actor, policy_id: int, number: int) -> GuaranteeCompensation:
    """The company's staff compensate one installment at once (after topping up, say)
    rather than wait for the next day's run. Typed refusals, nothing moved:
    POLICY_NOT_FOUND (not their company's), NOT_TRIGGERED (the installment is not past
    the trigger, or is paid), ALREADY_COMPENSATED, MARGIN_INSUFFICIENT (the company
    cannot pay it, drawing on the margin only where the policy allows)."""
    company = await companies.company_of(actor)
    policy = await GuaranteePolicy.filter(id=policy_id, company_id=company.id).first()
    if policy is None or policy.status not in IN_FORCE or policy.trigger_days is None:
        raise DomainError("No such policy in force", code="POLICY_NOT_FOUND", field="policyId")
    row = await LoanInstallment.get_or_none(loan_id=policy.loan_id, number=number)
    if row is None:
        raise DomainError("No such installment", code="NOT_TRIGGERED", field="installment")
    if await GuaranteeCompensation.filter(installment_id=row.id).exists():
        raise DomainError("That installment is compensated already", code="ALREADY_COMPENSATED")
    today = await clock.today()
    if row.id not in {due.id for due in await _due(policy, today)}:
        raise DomainError(
            f"Installment {number} is not past the policy's {policy.trigger_days} days",
            code="NOT_TRIGGERED",
            field="installment",
        )
    if not await compensate_one(policy, row):
        raise DomainError(
            "The company's balance (and margin, where the policy allows) does not cover it",
            code="MARGIN_INSUFFICIENT",
        )
    await refresh_status(policy, today)
    instructions.wake()
    return await GuaranteeCompensation.get(installment_id=row.id)
