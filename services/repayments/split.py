"""How one payment is shared among the holders of a loan's claims. Pure, no I/O.

Each part of a payment (principal, interest, penalty) is split on its own by largest
remainder (`services.money.money.allocate`), so each part's shares add up to it exactly.

Splitting every installment in proportion to the claims' principal alone would let the
rounding drift over a loan (three holders of 1 fen each, three installments of 1 fen:
the first holder would get all three). So principal and interest are split *towards a
target*: each claim's weight is what it still has to receive of its target, so the
payment that completes the part hands every claim exactly the rest of its target.

- principal: target = the claim's principal. Over the whole loan each holder receives
  exactly their principal, whatever the schedule.
- interest: target = the claim's largest-remainder share of the loan's total interest
  (`allocate(total interest, claim principals)`). Over the whole loan each holder
  receives exactly that share. If the total falls (early repayment charges less
  interest than scheduled), the targets are recomputed on the new total; a claim
  already at or past its new target gets nothing more.
- penalty: accrued day by day, its total never known in advance: each payment's penalty
  is split by the claims' principal.

A weight is never above what the claim still lacks, so no share ever exceeds it, and no
share is negative. When every claim has reached its target but money of that part is
left (it cannot happen with the targets above), the claims' principal are the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.money.money import allocate


@dataclass(frozen=True)
class Share:
    """One claim's share of one payment, in fen."""

    principal_fen: int
    interest_fen: int
    penalty_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.penalty_fen


def toward(amount_fen: int, targets: Sequence[int], received: Sequence[int]) -> list[int]:
    """Split `amount_fen` with each holder's weight = what it still lacks of its target
    (`target - received`, at least 0). Largest remainder; the shares add up exactly.
    When the amount is exactly what is still lacking, every holder gets exactly its
    rest. Falls back to the targets as weights when nobody lacks anything."""
    if len(targets) != len(received) or not targets:
        raise ValueError("targets and received must be non-empty and of one length")
    if amount_fen < 0:
        raise ValueError("amount_fen must not be negative")
    if amount_fen == 0:
        return [0] * len(targets)
    lacking = [max(0, target - got) for target, got in zip(targets, received, strict=True)]
    if sum(lacking) == 0:
        weights = list(targets) if sum(targets) > 0 else [1] * len(targets)
        return allocate(amount_fen, weights)
    return allocate(amount_fen, lacking)


def interest_targets(total_interest_fen: int, principals: Sequence[int]) -> list[int]:
    """Each claim's share of the loan's whole interest: largest remainder by principal."""
    return allocate(max(0, total_interest_fen), principals)


def split_payment(
    *,
    principal_fen: int,
    interest_fen: int,
    penalty_fen: int,
    principals: Sequence[int],
    received_principal: Sequence[int],
    received_interest: Sequence[int],
    total_interest_fen: int,
) -> list[Share]:
    """Share one payment among the claims (in the order of `principals`, each claim's
    principal). `received_*` are what each claim received of that part before this
    payment; `total_interest_fen` the loan's whole interest as it now stands."""
    if not principals or any(principal <= 0 for principal in principals):
        raise ValueError("every claim needs a positive principal")
    principal_parts = toward(principal_fen, principals, received_principal)
    interest_parts = toward(
        interest_fen, interest_targets(total_interest_fen, principals), received_interest
    )
    penalty_parts = allocate(penalty_fen, principals) if penalty_fen else [0] * len(principals)
    return [
        Share(principal_fen=p, interest_fen=i, penalty_fen=q)
        for p, i, q in zip(principal_parts, interest_parts, penalty_parts, strict=True)
    ]
