"""Readings of guarantees: what a loan shows of its guarantee (M1.9: the listing shows
the guarantee and the guarantor), a company's book, a page's compensations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from tortoise.functions import Count, Sum

from models.guarantees import (
    IN_FORCE,
    GuaranteeCompany,
    GuaranteeCompensation,
    GuaranteePolicy,
    PolicyStatus,
)
from services.guarantees import companies, policies
from services.guarantees.companies import Margin


@dataclass(frozen=True)
class LoanGuarantee:
    policy: GuaranteePolicy
    company: GuaranteeCompany

    @property
    def display(self) -> str:
        """The line a listing shows beside the borrower's grade."""
        return f"由 {self.company.name} 担保 · guaranteed by {self.company.name}"


# A loan shows the policy standing behind it (issued or in force) and, once settled, the
# one that did (closed after being issued).
_SHOWN = (*IN_FORCE, PolicyStatus.CLOSED)


async def guarantees_of(loan_ids: Sequence[int]) -> dict[int, LoanGuarantee]:
    """loan id -> its guarantee, for the loans that have one (two statements)."""
    policies = await GuaranteePolicy.filter(
        loan_id__in=list(loan_ids), status__in=list(_SHOWN), issued_at__isnull=False
    ).order_by("id")
    if not policies:
        return {}
    companies = {
        company.id: company
        for company in await GuaranteeCompany.filter(id__in={p.company_id for p in policies})
    }
    return {p.loan_id: LoanGuarantee(p, companies[p.company_id]) for p in policies}


@dataclass(frozen=True)
class Book:
    """A company's book (`guarantorExposure`): its margin figures, its policies by status
    and what it has compensated and had back."""

    margin: Margin
    policy_counts: dict[str, int]
    compensations_paid_fen: int
    compensations_recovered_fen: int


async def book_of(company_id: int) -> Book:
    """The company's book, its open policies brought in line with their loans first (so
    none whose loan failed or settled since the daily run counts)."""
    open_ids = await GuaranteePolicy.filter(
        company_id=company_id, status__in=[PolicyStatus.REQUESTED, *IN_FORCE]
    ).values_list("id", flat=True)
    if open_ids:
        await policies.follow_loans(cast(list[int], open_ids))
    counts = {
        str(status): int(count)
        for status, count in await GuaranteePolicy.filter(company_id=company_id)
        .group_by("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    }
    totals = cast(
        list[tuple[Any, Any]],
        await GuaranteeCompensation.filter(company_id=company_id)
        .group_by("company_id")
        .annotate(paid=Sum("amount_fen"), back=Sum("recovered_fen"))
        .values_list("paid", "back"),
    )
    paid, back = (int(totals[0][0] or 0), int(totals[0][1] or 0)) if totals else (0, 0)
    return Book(await companies.margin_of(company_id), counts, paid, back)


async def compensations_of(policy_ids: Sequence[int]) -> dict[int, list[GuaranteeCompensation]]:
    """policy id -> its compensations, oldest installment first (one statement)."""
    paid: dict[int, list[GuaranteeCompensation]] = defaultdict(list)
    for row in await GuaranteeCompensation.filter(policy_id__in=list(policy_ids)).order_by(
        "installment_id"
    ):
        paid[row.policy_id].append(row)
    return paid
