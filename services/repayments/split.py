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

import dataclasses
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


# --- holdings: a claim sold in parts (issue 20) -------------------------------------------
#
# A claim sold on the secondary market becomes a *line*: the original claim's targets
# (above) still decide what the line gets of each payment, exactly as before any sale,
# and the line's share is then divided among the holdings of it. A holding's principal
# target is what it is to have of principal in all (the buyer's: what it bought; the
# seller's: what it had lent less what it sold), so the holdings' principal targets add
# up to the line's principal whatever is sold, and the line's principal is split
# towards them. Interest: when a part is sold, every holding of the line is given an
# interest target (`interest_share_fen`): what it had so far plus its part of what the
# line is still to have, the bought part in proportion to the principal bought. If the
# line's whole interest changes later (an early repayment), what the line is still to
# have is shared again in proportion to what each holding still lacked of its target,
# so the targets always add up to the line's. Penalty: by what each holding still has
# outstanding of principal.


@dataclass(frozen=True)
class Holding:
    """One holding of a loan: `line` is the original claim's id (holdings of one line
    share its targets), `principal_fen` its principal target, `interest_share_fen` its
    interest target (None for a claim no part of which was ever sold), `received_*`
    what it has had of each part so far."""

    line: int
    principal_fen: int
    interest_share_fen: int | None
    received_principal: int
    received_interest: int

    @property
    def outstanding_fen(self) -> int:
        return self.principal_fen - self.received_principal


def _lines(holdings: Sequence[Holding]) -> dict[int, list[int]]:
    """The indexes of `holdings` per line, lines in the order of their first holding."""
    found: dict[int, list[int]] = {}
    for index, holding in enumerate(holdings):
        found.setdefault(holding.line, []).append(index)
    return found


def _by_weight(amount_fen: int, weights: Sequence[int], fallback: Sequence[int]) -> list[int]:
    if amount_fen == 0:
        return [0] * len(weights)
    if sum(weights) > 0:
        return allocate(amount_fen, weights)
    return allocate(amount_fen, fallback)


def _line_interest_targets(members: Sequence[Holding], line_target_fen: int) -> list[int]:
    """Each holding's interest target in a line whose whole interest target is now
    `line_target_fen`: what it had so far plus its part of the rest, by what it lacked of
    its stored target (equal to the stored targets while the line's did not change)."""
    if len(members) == 1 and members[0].interest_share_fen is None:
        return [line_target_fen]
    had = [m.received_interest for m in members]
    rest = max(0, line_target_fen - sum(had))
    lacking = [max(0, (m.interest_share_fen or 0) - m.received_interest) for m in members]
    parts = _by_weight(rest, lacking, [max(1, m.outstanding_fen) for m in members])
    return [got + part for got, part in zip(had, parts, strict=True)]


def interest_entitlements(holdings: Sequence[Holding], total_interest_fen: int) -> list[int]:
    """Each holding's interest target as the loan's whole interest now stands."""
    lines = _lines(holdings)
    line_principals = [sum(holdings[i].principal_fen for i in idx) for idx in lines.values()]
    line_targets = interest_targets(total_interest_fen, line_principals)
    found = [0] * len(holdings)
    for target, indexes in zip(line_targets, lines.values(), strict=True):
        members = [holdings[i] for i in indexes]
        for index, value in zip(indexes, _line_interest_targets(members, target), strict=True):
            found[index] = value
    return found


def split_holdings(
    *,
    principal_fen: int,
    interest_fen: int,
    penalty_fen: int,
    holdings: Sequence[Holding],
    total_interest_fen: int,
) -> list[Share]:
    """Share one payment among the holdings (in their order): each line's share as
    `split_payment` gives it to the original claims, then divided among the line's
    holdings towards their own targets. A loan no claim of which was sold gets exactly
    what `split_payment` gives."""
    if not holdings or any(h.principal_fen < 0 for h in holdings):
        raise ValueError("no holding may have a negative principal target")
    lines = _lines(holdings)
    members = [[holdings[i] for i in indexes] for indexes in lines.values()]
    line_shares = split_payment(
        principal_fen=principal_fen,
        interest_fen=interest_fen,
        penalty_fen=penalty_fen,
        principals=[sum(m.principal_fen for m in line) for line in members],
        received_principal=[sum(m.received_principal for m in line) for line in members],
        received_interest=[sum(m.received_interest for m in line) for line in members],
        total_interest_fen=total_interest_fen,
    )
    targets = interest_targets(
        total_interest_fen, [sum(m.principal_fen for m in line) for line in members]
    )
    shares: list[Share | None] = [None] * len(holdings)
    for line, indexes, share, target in zip(
        members, lines.values(), line_shares, targets, strict=True
    ):
        if len(line) == 1:
            shares[indexes[0]] = share
            continue
        principal = toward(
            share.principal_fen,
            [m.principal_fen for m in line],
            [m.received_principal for m in line],
        )
        interest = toward(
            share.interest_fen,
            _line_interest_targets(line, target),
            [m.received_interest for m in line],
        )
        penalty = _by_weight(
            share.penalty_fen,
            [max(0, m.outstanding_fen) for m in line],
            [m.principal_fen for m in line],
        )
        for index, p, i, q in zip(indexes, principal, interest, penalty, strict=True):
            shares[index] = Share(principal_fen=p, interest_fen=i, penalty_fen=q)
    return [share for share in shares if share is not None]


@dataclass(frozen=True)
class Carved:
    """A holding after selling part of it, and the part sold as a new holding."""

    seller: Holding
    bought: Holding


def carve(
    holdings: Sequence[Holding], index: int, principal_fen: int, total_interest_fen: int
) -> tuple[list[Holding], Carved]:
    """Sell `principal_fen` of the outstanding principal of `holdings[index]`: the line's
    holdings with their interest targets fixed as they now stand (the seller's less the
    part sold) and the part sold, a new holding of the same line with nothing had yet.
    The part sold takes the seller's interest still to come in proportion to the
    principal sold (half-up). ValueError when the amount is not within 1 .. what the
    holding still has outstanding."""
    seller = holdings[index]
    outstanding = seller.outstanding_fen
    if not 0 < principal_fen <= outstanding:
        raise ValueError("a sale must be of 1 fen up to the holding's outstanding principal")
    targets = interest_entitlements(holdings, total_interest_fen)
    to_come = targets[index] - seller.received_interest
    sold_interest = (2 * to_come * principal_fen + outstanding) // (2 * outstanding)
    fixed: list[Holding] = []
    for number, (holding, target) in enumerate(zip(holdings, targets, strict=True)):
        if holding.line != seller.line:
            fixed.append(holding)
            continue
        if number == index:
            holding = dataclasses.replace(
                holding,
                principal_fen=holding.principal_fen - principal_fen,
                interest_share_fen=target - sold_interest,
            )
        else:
            holding = dataclasses.replace(holding, interest_share_fen=target)
        fixed.append(holding)
    bought = Holding(
        line=seller.line,
        principal_fen=principal_fen,
        interest_share_fen=sold_interest,
        received_principal=0,
        received_interest=0,
    )
    return fixed, Carved(seller=fixed[index], bought=bought)
