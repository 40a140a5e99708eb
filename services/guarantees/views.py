"""What a loan shows of its guarantee (M1.9: the listing shows the guarantee and the
guarantor, and the loan's display says who guarantees it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.guarantees import IN_FORCE, GuaranteeCompany, GuaranteePolicy, PolicyStatus


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
