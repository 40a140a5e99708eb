"""What each claim's holder has had of a loan so far: the one reading every split of the
loan's money starts from (a repayment's settlement, the risk reserve's advance) and the
holder's views show.

A holder has had their own receipts plus every advance the risk reserve paid them
(`reserve_advances` rows). The receipts `to_reserve` are the reserve recovering those
advances from the borrower: the same money again, never counted a second time.

Every split of a loan's principal and interest goes *towards the claims' targets* from
this reading (`services.repayments.split`): the settlement of a repayment and the
reserve's advance alike. An advance split any other way (by principal share alone, as
it once was) rounds each installment towards the same claims, and the later payments
cannot take a fen back: a claim then received one fen more principal than it holds
(issue 13, `tests/repayments/test_reserve_split.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

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


async def advanced_to_claims(claim_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """claim id -> (principal, interest) the reserve paid its holder over the loan so far,
    whether the borrower has repaid it to the reserve yet or not (absent: nothing)."""
    rows = await ReserveAdvance.filter(claim_id__in=list(claim_ids))
    answer: dict[int, tuple[int, int]] = {}
    for row in rows:
        principal, interest = answer.get(row.claim_id, (0, 0))
        answer[row.claim_id] = (principal + row.principal_fen, interest + row.interest_fen)
    return answer


async def had(claim_ids: list[int]) -> dict[int, Parts]:
    """What each claim's holder has had so far: own receipts plus the reserve's advances
    (two queries whatever the number of claims)."""
    answer: dict[int, Parts] = defaultdict(Parts)
    rows = await Receipt.filter(claim_id__in=claim_ids, to_reserve=False).values_list(
        "claim_id", "principal_fen", "interest_fen", "penalty_fen"
    )
    for claim_id, principal, interest, penalty in cast(list[tuple[int, int, int, int]], rows):
        answer[claim_id].add(split.Share(principal, interest, penalty))
    advanced = await advanced_to_claims(claim_ids)
    for claim_id, (principal, interest) in advanced.items():
        answer[claim_id].add(split.Share(principal, interest, 0))
    return answer


async def received(claims: Sequence[Claim]) -> tuple[list[int], list[int]]:
    """Principal and interest each claim's holder has had so far (`had`), in the order of
    `claims`: the `received_*` of `split.split_payment`."""
    got = await had([claim.id for claim in claims])
    return [got[c.id].principal_fen for c in claims], [got[c.id].interest_fen for c in claims]


def total_interest(rows: Iterable[LoanInstallment]) -> int:
    """The loan's whole interest as it now stands (a paid installment's interest is what
    was charged for it): the base of the claims' interest targets."""
    return sum(row.interest_fen for row in rows)
