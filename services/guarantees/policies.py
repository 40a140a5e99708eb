"""Guarantee policies (issue 21, M1.9, M7.1-M7.2): a borrower asks a company to guarantee
their loan while it is in review; the company issues (within its margin) or declines.

- `request`: the borrower, loan PENDING_REVIEW or IN_REVIEW, one open request or policy
  per loan (`GUARANTEE_EXISTS`), company ACTIVE (`COMPANY_NOT_ACTIVE`).
- `issue`: the company's staff, a REQUESTED policy of their own company (another
  company's is `POLICY_NOT_FOUND`, never saying whose), the loan still in review
  (`LOAN_ALREADY_LISTED`: lenders bid on fixed terms), coverage, penalty cover, trigger
  days (`guarantees.triggerDays` bounds), may-draw-margin, and a guarantee fee: a
  monthly rate on the amount paid with each installment (part of its fee, to the
  company), refused when the loan's all-in annual cost with it passes the 36 % cap
  (`RATE_CAP_EXCEEDED`: R3). Under the company's row lock
  the margin must cover the required share of the exposure with this loan
  (`MARGIN_INSUFFICIENT`); both figures are kept on the policy.
- `decline`: REQUESTED → DECLINED with a reason.
- The policy follows its loan (`follow_loans`, run by the daily job and before any
  reading): a request not answered when the loan is listed is DECLINED; an issued
  policy becomes ACTIVE when the loan is disbursed and CLOSED when it fails, is
  cancelled or rejected; a policy in force is CLOSED when the loan settles.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, cast

from pydantic import BaseModel, ConfigDict, Field
from tortoise.transactions import in_transaction

from models.guarantees import (
    IN_FORCE,
    CompanyStatus,
    Coverage,
    GuaranteeCompany,
    GuaranteePolicy,
    GuarantorStaff,
    PolicyStatus,
)
from models.loans import Loan, LoanStatus
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.guarantees import companies
from services.identity.permissions import Actor, Permission
from services.loans import contracting
from services.loans.pricing import price
from services.platform import clock, parameters
from services.platform.parameters import Param


class TriggerDays(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    least: Annotated[int, Field(ge=1, le=365)]
    most: Annotated[int, Field(ge=1, le=365)]


TRIGGER_DAYS = Param(
    "guarantees.triggerDays",
    TriggerDays,
    {"least": 1, "most": 90},
    "M7.3: the days overdue after which a policy's company compensates the holders: the "
    "least and most a policy may set.",
)

# At most 2 % of the amount a month (the R3 cap refuses most fees well below that).
MAX_FEE_RATE = Decimal("0.02")
_IN_REVIEW = (LoanStatus.PENDING_REVIEW, LoanStatus.IN_REVIEW)
_OPEN = (PolicyStatus.REQUESTED, *IN_FORCE)
_DISBURSED = (LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE)
_NEVER_LENT = (LoanStatus.FAILED, LoanStatus.CANCELLED, LoanStatus.REJECTED)


async def request(*, actor: Actor, loan_id: int, company_id: int) -> GuaranteePolicy:
    loan = await Loan.get_or_none(id=loan_id)
    if loan is None or loan.borrower_id != actor.user_id:
        raise NotFoundError("No such loan", field="loanId")
    company = await GuaranteeCompany.get_or_none(id=company_id)
    if company is None:
        raise NotFoundError("No such company", field="companyId")
    if company.status != CompanyStatus.ACTIVE:
        raise DomainError("The company issues no new guarantees", code="COMPANY_NOT_ACTIVE")
    async with in_transaction():
        loan = await Loan.filter(id=loan_id).select_for_update().get()
        if loan.status not in _IN_REVIEW:
            raise DomainError(
                "A guarantee is asked for while the loan is in review",
                code="LOAN_NOT_IN_REVIEW",
                field="loanId",
            )
        if await GuaranteePolicy.filter(loan_id=loan.id, status__in=list(_OPEN)).exists():
            raise DomainError("The loan has a guarantee or a request", code="GUARANTEE_EXISTS")
        return await GuaranteePolicy.create(
            loan_id=loan.id,
            company_id=company.id,
            requested_by=actor.user_id,
            created_at=await clock.now(),
        )


async def _own_policy(actor: Actor, policy_id: int, *, lock: bool) -> GuaranteePolicy:
    company = await companies.company_of(actor)
    query = GuaranteePolicy.filter(id=policy_id, company_id=company.id)
    policy = await (query.select_for_update() if lock else query).first()
    if policy is None:
        raise DomainError("No such policy", code="POLICY_NOT_FOUND", field="policyId")
    return policy


async def issue(
    *,
    actor: Actor,
    policy_id: int,
    coverage: Coverage,
    covers_penalty: bool,
    trigger_days: int,
    may_draw_margin: bool,
    fee_rate: Decimal = Decimal(0),
) -> GuaranteePolicy:
    if not Decimal(0) <= fee_rate <= MAX_FEE_RATE or fee_rate != fee_rate.quantize(
        Decimal("0.000001")
    ):
        raise InvalidInputError(
            f"A monthly fee rate from 0 to {MAX_FEE_RATE} (six places)", field="feeRate"
        )
    bounds = await parameters.get(TRIGGER_DAYS)
    if not bounds.least <= trigger_days <= bounds.most:
        raise InvalidInputError(
            f"Trigger days from {bounds.least} to {bounds.most}", field="triggerDays"
        )
    async with in_transaction():
        policy = await _own_policy(actor, policy_id, lock=False)
        company = await GuaranteeCompany.filter(id=policy.company_id).select_for_update().get()
        loan = await Loan.filter(id=policy.loan_id).select_for_update().get()
        policy = await GuaranteePolicy.filter(id=policy.id).select_for_update().get()
        if policy.status != PolicyStatus.REQUESTED:
            raise DomainError("The policy is not a request", code="POLICY_NOT_REQUESTED")
        if loan.status not in _IN_REVIEW:
            raise DomainError("The loan is listed already", code="LOAN_ALREADY_LISTED")
        if company.status != CompanyStatus.ACTIVE:
            raise DomainError("The company is suspended", code="COMPANY_NOT_ACTIVE")
        now = await companies.margin_of(company.id)
        required = companies.required_margin(
            now.exposure_fen + loan.amount_fen, await companies._share()
        )
        if now.margin_fen < required:
            raise DomainError(
                f"The margin {now.margin_fen} fen is short of the {required} fen required",
                code="MARGIN_INSUFFICIENT",
            )
        if fee_rate:
            await _charge_fee(loan, fee_rate, companies.code_of(company.id))
        policy.fee_rate = fee_rate
        policy.status = PolicyStatus.ISSUED
        policy.coverage = coverage
        policy.covers_penalty = covers_penalty
        policy.trigger_days = trigger_days
        policy.may_draw_margin = may_draw_margin
        policy.issued_by = actor.user_id
        policy.issued_at = await clock.now()
        policy.margin_at_issue_fen = now.margin_fen
        policy.required_at_issue_fen = required
        policy.version += 1
        await policy.save()
    return policy


async def _charge_fee(loan: Loan, fee_rate: Decimal, code: str) -> None:
    """Add the guarantee fee to the loan's terms (paid with each installment, on the
    amount, as the service fee), refused when the all-in annual cost with it passes the
    R3 cap (RATE_CAP_EXCEEDED, field feeRate); the loan's all-in cost is updated."""
    terms = contracting.terms_of(loan)
    priced = price(terms, contracting.service_fee_rate_of(loan) + fee_rate, await clock.today())
    if priced.exceeds_cap:
        raise DomainError(
            f"With this fee the all-in annual cost would be {priced.all_in_cost * 100:.2f}%, "
            "above the 36% cap",
            code="RATE_CAP_EXCEEDED",
            field="feeRate",
        )
    loan.fee_terms = {
        **loan.fee_terms,
        "monthly_guarantee_fee_rate": str(fee_rate),
        "guarantee_fee_to": code,
    }
    loan.all_in_cost = priced.all_in_cost
    await loan.save(update_fields=["fee_terms", "all_in_cost"])


async def decline(*, actor: Actor, policy_id: int, reason: str) -> GuaranteePolicy:
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 500:
        raise InvalidInputError("A reason of 1 to 500 characters", field="reason")
    async with in_transaction():
        policy = await _own_policy(actor, policy_id, lock=True)
        if policy.status != PolicyStatus.REQUESTED:
            raise DomainError("The policy is not a request", code="POLICY_NOT_REQUESTED")
        policy.status = PolicyStatus.DECLINED
        policy.decline_reason = reason
        policy.version += 1
        await policy.save()
    return policy


def _followed(policy: GuaranteePolicy, loan_status: LoanStatus) -> PolicyStatus:
    status = PolicyStatus(policy.status)
    if status == PolicyStatus.REQUESTED and loan_status not in _IN_REVIEW:
        return PolicyStatus.DECLINED
    if status == PolicyStatus.ISSUED and loan_status in _DISBURSED:
        return PolicyStatus.ACTIVE
    if status == PolicyStatus.ISSUED and loan_status in _NEVER_LENT:
        return PolicyStatus.CLOSED
    if status in IN_FORCE and loan_status == LoanStatus.SETTLED:
        return PolicyStatus.CLOSED
    return status


async def follow_loans(policy_ids: Iterable[int] | None = None) -> int:
    """Bring policies in line with their loans (see the module docstring); how many
    changed."""
    query = GuaranteePolicy.filter(status__in=list(_OPEN))
    if policy_ids is not None:
        query = query.filter(id__in=list(policy_ids))
    policies = await query
    if not policies:
        return 0
    statuses = dict(
        await Loan.filter(id__in=[p.loan_id for p in policies]).values_list("id", "status")
    )
    changed = 0
    for policy in policies:
        new = _followed(policy, LoanStatus(statuses[policy.loan_id]))
        if new != policy.status:
            updated = await GuaranteePolicy.filter(id=policy.id, status=policy.status).update(
                status=new,
                version=policy.version + 1,
                decline_reason="Not issued before the loan was listed"
                if new == PolicyStatus.DECLINED
                else policy.decline_reason,
            )
            changed += updated
    return changed


async def visible(
    actor: Actor,
    *,
    status: PolicyStatus | None = None,
    loan_id: int | None = None,
    company_id: int | None = None,
    first: int = 500,
    before_id: int | None = None,
) -> tuple[list[GuaranteePolicy], int]:
    """The policies `actor` may see, newest first, a page of at most `first` (keyset:
    ids below `before_id`) and how many there are in all: a company's staff their
    company's; finance and auditors (`finance:read`) any; a member their own loans'.
    The open policies in that scope follow their loans first (`follow_loans`)."""
    query = GuaranteePolicy.all()
    staff = await GuarantorStaff.get_or_none(user_id=actor.user_id) if actor.user_id else None
    if staff is not None:
        query = query.filter(company_id=staff.company_id)
    elif Permission.FINANCE_READ not in actor.permissions:
        query = query.filter(loan__borrower_id=actor.user_id or 0)
    if loan_id is not None:
        query = query.filter(loan_id=loan_id)
    if company_id is not None:
        query = query.filter(company_id=company_id)
    open_ids = await query.filter(status__in=list(_OPEN)).values_list("id", flat=True)
    if open_ids:
        await follow_loans(cast(list[int], open_ids))
    if status is not None:
        query = query.filter(status=status)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first), total
