"""What each claim's holder has had of a loan so far: the one reading every split of the
loan's money starts from (a repayment's settlement, the risk reserve's advance) and the
holder's views show.

A holder has had their own receipts plus every advance paid them (`reserve_advances`
rows: the risk reserve's, or a guarantee company's compensation; `advances.py`). The
receipts `to_reserve` are the payer recovering those advances from the borrower: the
same money again, never counted a second time.

Every split of a loan's principal and interest goes *towards the claims' targets* from
this reading (`services.repayments.split`): the settlement of a repayment and the
reserve's advance alike. An advance split any other way (by principal share alone, as
it once was) rounds each installment towards the same claims, and the later payments
cannot take a fen back: a claim then received one fen more principal than it holds
(issue 13, `tests/repayments/test_reserve_split.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tortoise.functions import Sum
from tortoise.queryset import QuerySet

from models.bids import Claim
from models.repayments import LoanInstallment, Receipt, ReserveAdvance
from services.repayments import split


@dataclass
class Parts:
    """Principal, interest and penalty, in fen, added up."""

    principal_fen: int = 0
    interest_fen: int = 0
    penalty_fen: int = 0

    def add(self, share: split.Share) -> None:
        self.principal_fen += share.principal_fen
        self.interest_fen += share.interest_fen
        self.penalty_fen += share.penalty_fen

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.penalty_fen


async def _summed(
    receipts: QuerySet[Receipt], advances: QuerySet[ReserveAdvance]
) -> dict[int, Parts]:
    """Per claim, the `receipts` plus the `advances` (every part), summed by
    the database: two statements whatever the number of claims and receipts."""
    answer: dict[int, Parts] = defaultdict(Parts)
    for claim_id, principal, interest, penalty in await (
        receipts.group_by("claim_id")
        .annotate(p=Sum("principal_fen"), i=Sum("interest_fen"), q=Sum("penalty_fen"))
        .values_list("claim_id", "p", "i", "q")
    ):
        answer[int(claim_id)].add(split.Share(int(principal), int(interest), int(penalty)))
    for claim_id, principal, interest, penalty in await (
        advances.group_by("claim_id")
        .annotate(p=Sum("principal_fen"), i=Sum("interest_fen"), q=Sum("penalty_fen"))
        .values_list("claim_id", "p", "i", "q")
    ):
        answer[int(claim_id)].add(split.Share(int(principal), int(interest), int(penalty)))
    return answer


async def had(claim_ids: list[int]) -> dict[int, Parts]:
    """What each claim's holder has had so far: own receipts plus every advance (whether
    the borrower has repaid those to the payer yet or not)."""
    return await _summed(
        Receipt.filter(claim_id__in=claim_ids, to_reserve=False),
        ReserveAdvance.filter(claim_id__in=claim_ids),
    )


async def had_on_loans(loan_ids: list[int]) -> dict[int, Parts]:
    """`had` of every claim on `loan_ids` (a day batch's set of loans)."""
    return await _summed(
        Receipt.filter(loan_id__in=loan_ids, to_reserve=False),
        ReserveAdvance.filter(loan_id__in=loan_ids),
    )


async def received(claims: Sequence[Claim]) -> tuple[list[int], list[int]]:
    """Principal and interest each claim's holder has had so far (`had`), in the order of
    `claims`: the `received_*` of `split.split_payment`."""
    got = await had([claim.id for claim in claims])
    return [got[c.id].principal_fen for c in claims], [got[c.id].interest_fen for c in claims]


class _Holds(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def principal_fen(self) -> int: ...
    @property
    def line_id(self) -> int | None: ...
    @property
    def interest_share_fen(self) -> int | None: ...


def as_holdings(
    claims: Sequence[_Holds], received_principal: Sequence[int], received_interest: Sequence[int]
) -> list[split.Holding]:
    """The claims (models or the day batch's rows) as the split's holdings, with what each
    has had: a claim is its own line unless it was carved from another (`line_id`)."""
    return [
        split.Holding(
            line=claim.line_id or claim.id,
            principal_fen=claim.principal_fen,
            interest_share_fen=claim.interest_share_fen,
            received_principal=principal,
            received_interest=interest,
        )
        for claim, principal, interest in zip(
            claims, received_principal, received_interest, strict=True
        )
    ]


def total_interest(rows: Iterable[LoanInstallment]) -> int:
    """The loan's whole interest as it now stands (a paid installment's interest is what
    was charged for it): the base of the claims' interest targets."""
    return sum(row.interest_fen for row in rows)


# --- what was paid of principal -----------------------------------------------------------

# Called in the transaction that pays principal to a loan's holdings (a repayment's
# settlement, the day batch, the reserve's advance) with the loans concerned: what each
# holding has outstanding just fell (the secondary market reprices its open listings).
_principal_paid_hooks: list[Callable[[Sequence[int]], Awaitable[None]]] = []


def on_principal_paid(hook: Callable[[Sequence[int]], Awaitable[None]]) -> None:
    _principal_paid_hooks.append(hook)


async def principal_paid(loan_ids: Sequence[int]) -> None:
    """Tell the hooks, in the caller's transaction, that principal of `loan_ids` was
    paid to their holdings (call `outbox.wake()` after the commit)."""
    if loan_ids:
        for hook in _principal_paid_hooks:
            await hook(loan_ids)
