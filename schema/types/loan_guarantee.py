"""What a loan shows of its guarantee (M1.9): the type and its field's resolver, read
for a whole page through `schema.loaders`."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="The guarantee standing behind a loan (M1.9).")
class LoanGuarantee:
    company_id: strawberry.ID = strawberry.field(description="The guarantee company.")
    guarantor: str = strawberry.field(description="The company's name.")
    coverage: str = strawberry.field(description="PRINCIPAL or PRINCIPAL_INTEREST.")
    covers_penalty: bool = strawberry.field(description="Penalty interest is covered too.")
    trigger_days: int = strawberry.field(
        description="Days an installment is overdue before the company pays the lenders."
    )
    status: str = strawberry.field(
        description="ISSUED, ACTIVE, TRIGGERED, COMPENSATED, RECOVERED or CLOSED."
    )
    display: str = strawberry.field(
        description='What the listing shows beside the grade: "由 X 担保 · guaranteed by X".'
    )


async def loan_guarantee(root: Any, info: strawberry.Info) -> LoanGuarantee | None:
    # One pair of statements for every loan of the answer (schema.loaders), none unless asked.
    found = await info.context.loaders.loan_guarantees.load(int(root.id))
    if found is None:
        return None
    policy = found.policy
    return LoanGuarantee(
        company_id=strawberry.ID(str(found.company.id)),
        guarantor=found.company.name,
        coverage=str(policy.coverage),
        covers_penalty=policy.covers_penalty,
        trigger_days=policy.trigger_days or 0,
        status=str(policy.status),
        display=found.display,
    )
