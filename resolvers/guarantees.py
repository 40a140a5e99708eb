"""Guarantees (issue 21): policies, a company's book, requests, issuing, margin, staff."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.guarantees import (
    Coverage,
    GuaranteeCompany,
    GuaranteeCompensation,
    GuaranteePolicy,
    PolicyStatus,
)
from models.payments import Deposit
from resolvers.identity.access import decode_user_id
from resolvers.ids import number_of
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money, Rate, SignedRate
from schema.types import guarantees as t
from schema.types.money import accounts as money_types
from services.errors import DomainError
from services.guarantees import companies, policies
from services.guarantees import compensation as compensations
from services.guarantees import views as guarantee_views
from services.payments.provider import DepositChannel


def _id(value: strawberry.ID, field: str) -> int:
    return number_of(value, field)


def _company(row: GuaranteeCompany) -> t.GuaranteeCompany:
    return t.GuaranteeCompany(
        id=strawberry.ID(str(row.id)),
        name=row.name,
        licence_number=row.licence_number,
        status=t.GuaranteeCompanyStatus(str(row.status)),
        created_at=row.created_at,
    )


def _compensation(row: GuaranteeCompensation) -> t.GuaranteeCompensation:
    return t.GuaranteeCompensation(
        installment_id=strawberry.ID(str(row.installment_id)),
        amount=Money(row.amount_fen),
        from_margin=Money(row.from_margin_fen),
        recovered=Money(row.recovered_fen),
        created_at=row.created_at,
    )


def _money_or_none(fen: int | None) -> Money | None:
    return Money(fen) if fen is not None else None


def _policy(
    row: GuaranteePolicy, company: GuaranteeCompany, paid: Sequence[GuaranteeCompensation]
) -> t.GuaranteePolicy:
    return t.GuaranteePolicy(
        id=strawberry.ID(str(row.id)),
        loan_id=strawberry.ID(str(row.loan_id)),
        company=_company(company),
        status=t.GuaranteePolicyStatus(str(row.status)),
        coverage=t.GuaranteeCoverage(str(row.coverage)) if row.coverage else None,
        covers_penalty=row.covers_penalty,
        fee_rate=Rate(Decimal(row.fee_rate)),
        trigger_days=row.trigger_days,
        may_draw_margin=row.may_draw_margin,
        issued_at=row.issued_at,
        decline_reason=row.decline_reason or None,
        margin_at_issue=_money_or_none(row.margin_at_issue_fen),
        required_at_issue=_money_or_none(row.required_at_issue_fen),
        compensations=[_compensation(found) for found in paid],
        created_at=row.created_at,
    )


async def _policies(rows: Sequence[GuaranteePolicy]) -> dict[int, t.GuaranteePolicy]:
    """The rows shaped, their companies and compensations read in one statement each."""
    if not rows:
        return {}
    found = {
        company.id: company
        for company in await GuaranteeCompany.filter(id__in={row.company_id for row in rows})
    }
    paid = await guarantee_views.compensations_of([row.id for row in rows])
    return {row.id: _policy(row, found[row.company_id], paid[row.id]) for row in rows}


async def _one_policy(row: GuaranteePolicy) -> t.GuaranteePolicy:
    return (await _policies([row]))[row.id]


async def guarantee_policies(
    info: Info,
    status: Annotated[
        t.GuaranteePolicyStatus | None,
        strawberry.argument(description="Only policies in this status."),
    ] = None,
    loan_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only the policies of this loan.")
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="Page size: 20 unless given, at most 100.")
    ] = 20,
    after: Annotated[
        str | None,
        strawberry.argument(description="The endCursor of the page before (newest first)."),
    ] = None,
) -> Connection[t.GuaranteePolicy]:
    actor = await info.context.get_actor()
    size = clamp_first(first)
    before_id = cursor_key(after)
    try:
        wanted_loan = _id(loan_id, "loanId") if loan_id is not None else None
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    # policies.visible() is the one scoping point; it pages in SQL (keyset on id, newest
    # first), one row more than the page to tell whether another follows.
    page, total = await policies.visible(
        actor,
        status=PolicyStatus(status.value) if status is not None else None,
        loan_id=wanted_loan,
        first=size + 1,
        before_id=before_id,
    )
    shaped = await _policies(page[:size])
    return build_connection(
        page,
        first=size,
        total=total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=lambda row: shaped[row.id],
    )


def _coverage_ratio(margin_fen: int, required_fen: int) -> SignedRate | None:
    if required_fen == 0:
        return None
    ratio = (Decimal(margin_fen) / Decimal(required_fen)).quantize(
        Decimal("0.0001"), rounding=ROUND_DOWN
    )
    return SignedRate(ratio)


async def guarantor_exposure(
    info: Info,
    company_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="The company: omitted or your own for its staff; required for "
            "finance and auditors. Another company's is not found."
        ),
    ] = None,
) -> t.GuarantorExposure:
    actor = await info.context.get_actor()
    try:
        wanted = _id(company_id, "companyId") if company_id is not None else None
        company = await companies.readable_company(actor, wanted)
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    book = await guarantee_views.book_of(company.id)
    figures, counts = book.margin, book.policy_counts
    paid, recovered = book.compensations_paid_fen, book.compensations_recovered_fen
    return t.GuarantorExposure(
        company=_company(company),
        available=Money(figures.available_fen),
        margin=Money(figures.margin_fen),
        exposure=Money(figures.exposure_fen),
        required_margin=Money(figures.required_fen),
        coverage_ratio=_coverage_ratio(figures.margin_fen, figures.required_fen),
        compensations_paid=Money(paid),
        compensations_recovered=Money(recovered),
        outstanding=Money(paid - recovered),
        policy_counts=t.GuaranteePolicyCounts(
            **{status.value.lower(): counts.get(status.value, 0) for status in PolicyStatus}
        ),
    )


async def request_guarantee(info: Info, input: t.RequestGuaranteeInput) -> t.RequestGuaranteeResult:
    try:
        policy = await policies.request(
            actor=await info.context.get_actor(),
            loan_id=_id(input.loan_id, "loanId"),
            company_id=_id(input.company_id, "companyId"),
        )
    except DomainError as error:
        return t.RequestGuaranteeError.from_domain(error)
    return t.GuaranteeRequested(policy=await _one_policy(policy))


def _policy_not_found(error: DomainError) -> DomainError:
    """An id that cannot exist is answered as a policy that does not."""
    if error.code == "NOT_FOUND":
        return DomainError(error.message, code="POLICY_NOT_FOUND", field="policyId")
    return error


async def issue_guarantee_policy(
    info: Info, input: t.IssueGuaranteePolicyInput
) -> t.IssueGuaranteePolicyResult:
    try:
        policy = await policies.issue(
            actor=await info.context.get_actor(),
            policy_id=_id(input.policy_id, "policyId"),
            coverage=Coverage(input.coverage.value),
            covers_penalty=input.covers_penalty,
            trigger_days=input.trigger_days,
            may_draw_margin=input.may_draw_margin,
            fee_rate=Decimal(input.fee_rate),
        )
    except DomainError as error:
        return t.IssueGuaranteePolicyError.from_domain(_policy_not_found(error))
    return t.GuaranteePolicyIssued(policy=await _one_policy(policy))


async def decline_guarantee_request(
    info: Info, input: t.DeclineGuaranteeRequestInput
) -> t.DeclineGuaranteeRequestResult:
    try:
        policy = await policies.decline(
            actor=await info.context.get_actor(),
            policy_id=_id(input.policy_id, "policyId"),
            reason=input.reason,
        )
    except DomainError as error:
        return t.DeclineGuaranteeRequestError.from_domain(_policy_not_found(error))
    return t.GuaranteeRequestDeclined(policy=await _one_policy(policy))


async def compensate_installment(
    info: Info, input: t.CompensateInstallmentInput
) -> t.CompensateInstallmentResult:
    try:
        paid = await compensations.compensate_now(
            actor=await info.context.get_actor(),
            policy_id=_id(input.policy_id, "policyId"),
            number=input.installment,
        )
    except DomainError as error:
        return t.CompensateInstallmentError.from_domain(_policy_not_found(error))
    policy = await GuaranteePolicy.get(id=paid.policy_id)
    return t.InstallmentCompensated(
        compensation=_compensation(paid), policy=await _one_policy(policy)
    )


async def create_guarantee_company(
    info: Info, input: t.CreateGuaranteeCompanyInput
) -> t.CreateGuaranteeCompanyResult:
    try:
        company = await companies.create_company(
            actor=await info.context.get_actor(),
            name=input.name,
            licence_number=input.licence_number,
        )
    except DomainError as error:
        return t.CreateGuaranteeCompanyError.from_domain(error)
    return t.GuaranteeCompanyCreated(company=_company(company))


async def add_guarantor_staff(
    info: Info, input: t.AddGuarantorStaffInput
) -> t.AddGuarantorStaffResult:
    try:
        staff = await companies.add_staff(
            actor=await info.context.get_actor(),
            company_id=number_of(input.company_id, "companyId", what="No such company"),
            user_id=decode_user_id(input.user_id),
        )
    except DomainError as error:
        return t.AddGuarantorStaffError.from_domain(error)
    company = await GuaranteeCompany.get(id=staff.company_id)
    return t.GuarantorStaffAdded(company=_company(company), user_id=input.user_id)


def _deposit(row: Deposit) -> money_types.DepositType:
    return money_types.DepositType(
        id=strawberry.ID(str(row.id)),
        amount=Money(row.amount),
        channel=money_types.DepositChannelEnum(row.channel),
        status=money_types.DepositStatus(row.status),
        pay_url=row.pay_url,
        created_at=row.created_at,
    )


async def deposit_to_guarantor(
    info: Info, input: t.DepositToGuarantorInput
) -> t.DepositToGuarantorResult:
    try:
        row = await companies.deposit(
            actor=await info.context.get_actor(),
            amount=int(input.amount),
            channel=DepositChannel(input.channel.value),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.DepositToGuarantorError.from_domain(error)
    return money_types.DepositStarted(deposit=_deposit(row))


def _moved(figures: companies.Margin) -> t.GuaranteeMarginMoved:
    return t.GuaranteeMarginMoved(
        available=Money(figures.available_fen),
        margin=Money(figures.margin_fen),
        exposure=Money(figures.exposure_fen),
        required_margin=Money(figures.required_fen),
    )


async def fund_guarantee_margin(
    info: Info, input: t.GuaranteeMarginInput
) -> t.FundGuaranteeMarginResult:
    try:
        figures = await companies.fund_margin(
            actor=await info.context.get_actor(),
            amount=int(input.amount),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.FundGuaranteeMarginError.from_domain(error)
    return _moved(figures)


async def release_guarantee_margin(
    info: Info, input: t.GuaranteeMarginInput
) -> t.ReleaseGuaranteeMarginResult:
    try:
        figures = await companies.release_margin(
            actor=await info.context.get_actor(),
            amount=int(input.amount),
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        return t.ReleaseGuaranteeMarginError.from_domain(error)
    return _moved(figures)
