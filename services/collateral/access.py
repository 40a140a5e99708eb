"""Who may see a loan's collateral: the one point where it is scoped to an actor."""

from __future__ import annotations

from models.bids import Claim
from models.loans import Loan
from services.identity.permissions import Actor, Permission


async def may_see(actor: Actor, loan: Loan) -> bool:
    """Staff with `loan:review`, the loan's borrower and the holders of its claims."""
    if actor.can(Permission.LOAN_REVIEW):
        return True
    if actor.user_id is None:
        return False
    if loan.borrower_id == actor.user_id:
        return True
    return await Claim.filter(loan_id=loan.id, holder_id=actor.user_id).exists()
