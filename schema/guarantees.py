"""Root fields: guarantees (issue 21, M1.9, M7): companies, margin, policies."""

from __future__ import annotations

import strawberry

from resolvers import guarantees as r
from schema.directives import auth
from schema.pagination import Connection
from schema.types import guarantees as t
from services.identity.permissions import Permission


@strawberry.type
class GuaranteesQuery:
    guarantee_policies: Connection[t.GuaranteePolicy] = strawberry.field(
        resolver=r.guarantee_policies,
        extensions=auth(Permission.PROFILE_READ),
        description="Guarantee policies and requests, newest first: a company's staff see "
        "their company's, finance and auditors (finance:read) every one, a member the "
        "policies of their own loans; anyone else an empty list.",
    )
    guarantor_exposure: t.GuarantorExposure = strawberry.field(
        resolver=r.guarantor_exposure,
        extensions=auth(Permission.GUARANTEE_READ),
        description="A guarantee company's book: available, margin, exposure, the margin "
        "required, compensations paid and recovered, its policies by status. Its staff "
        "read their own company's, finance and auditors any (anyone else: not found).",
    )


@strawberry.type
class GuaranteesMutation:
    request_guarantee: t.RequestGuaranteeResult = strawberry.mutation(
        resolver=r.request_guarantee,
        extensions=auth(Permission.LOAN_PUBLISH),
        description="Ask a guarantee company to guarantee your loan while it is reviewed.",
    )
    issue_guarantee_policy: t.IssueGuaranteePolicyResult = strawberry.mutation(
        resolver=r.issue_guarantee_policy,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Guarantee a loan your company was asked to, on your terms, within your "
        "company's margin (the loan still in review).",
    )
    decline_guarantee_request: t.DeclineGuaranteeRequestResult = strawberry.mutation(
        resolver=r.decline_guarantee_request,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Say no to a request your company was sent, with the reason.",
    )
    compensate_installment: t.CompensateInstallmentResult = strawberry.mutation(
        resolver=r.compensate_installment,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Pay the holders of an installment past your policy's trigger now (the "
        "daily run does it otherwise); your company takes over those parts of the claims.",
    )
    create_guarantee_company: t.CreateGuaranteeCompanyResult = strawberry.mutation(
        resolver=r.create_guarantee_company,
        extensions=auth(Permission.GUARANTORS_MANAGE),
        description="Register a licensed guarantee company and open its custody account.",
    )
    add_guarantor_staff: t.AddGuarantorStaffResult = strawberry.mutation(
        resolver=r.add_guarantor_staff,
        extensions=auth(Permission.GUARANTORS_MANAGE),
        description="Let a staff user with the guarantor role act for a company.",
    )
    deposit_to_guarantor: t.DepositToGuarantorResult = strawberry.mutation(
        resolver=r.deposit_to_guarantor,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Put money into your company's custody account through the bank "
        "gateway or a POS terminal (pay at payUrl); credited when the bank confirms.",
    )
    fund_guarantee_margin: t.FundGuaranteeMarginResult = strawberry.mutation(
        resolver=r.fund_guarantee_margin,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Move money of your company's from available to its margin (frozen "
        "at the provider). Idempotent by key; no SMS confirmation (the company's own "
        "account, see docs/guarantees.md).",
    )
    release_guarantee_margin: t.ReleaseGuaranteeMarginResult = strawberry.mutation(
        resolver=r.release_guarantee_margin,
        extensions=auth(Permission.GUARANTEE_MANAGE),
        description="Move money of your company's from its margin back to available, never "
        "below the margin its exposure requires. Idempotent by key.",
    )
