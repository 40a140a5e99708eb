"""How one installment's payment is shared (for `settlement`): what goes back to whoever
advanced it, what to the holdings, and the fee's parts (a guarantee company's fee, the
risk reserve's share of the service fee)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from models.bids import Claim
from services.repayments import advances, holdings, quote, split


@dataclass(frozen=True)
class _LineSplit:
    """One line's money per claim: to the holder, and to whoever advanced the
    installment (`recoverer`; None when nobody did)."""

    holders: list[split.Share]
    recovered: list[split.Share]
    recoverer: str | None


def _back_to_recoverer(paid_fen: int, advanced: list[int], recovered: list[int]) -> list[int]:
    """Per claim, what of `paid_fen` (one part paid of an advanced installment) goes back
    to its recoverer: up to what it still lacks of that part, split towards what it
    advanced of each claim (`split.toward`: targets `advanced`, received `recovered`)."""
    lacking = sum(max(0, gave - got) for gave, got in zip(advanced, recovered, strict=True))
    return split.toward(min(paid_fen, lacking), advanced, recovered)


def _split_line(
    line: quote.Line,
    advance: advances.AdvanceOf | None,
    recovered: dict[int, advances.Triple],
    claims: list[Claim],
    received_principal: list[int],
    received_interest: list[int],
    total_interest_fen: int,
) -> _LineSplit:
    """Share one installment's payment. The parts someone advanced of it (`advance`;
    `recovered`: claim id -> what it has had back) go back to it first, each part
    towards the advanced parts per claim, so the payment that completes the installment
    gives each claim exactly the rest of its advance (`advances.py`); the rest (all of it
    for an installment not advanced; the parts not covered, and penalty beyond what was
    covered) is split among the holders towards their targets."""
    per_claim = advance.per_claim if advance else {}
    back = [
        _back_to_recoverer(
            paid,
            [per_claim.get(claim.id, advances.NOTHING)[part] for claim in claims],
            [recovered.get(claim.id, advances.NOTHING)[part] for claim in claims],
        )
        for part, paid in enumerate((line.principal_fen, line.interest_fen, line.penalty_fen))
    ]
    holders = split.split_holdings(
        principal_fen=line.principal_fen - sum(back[0]),
        interest_fen=line.interest_fen - sum(back[1]),
        penalty_fen=line.penalty_fen - sum(back[2]),
        holdings=holdings.as_holdings(claims, received_principal, received_interest),
        total_interest_fen=total_interest_fen,
    )
    to_recoverer = [
        split.Share(principal_fen=principal, interest_fen=interest, penalty_fen=penalty)
        for principal, interest, penalty in zip(*back, strict=True)
    ]
    return _LineSplit(
        holders=holders, recovered=to_recoverer, recoverer=advance.recoverer if advance else None
    )


def guarantee_part(
    paid_before_fen: int, paid_fen: int, guarantee_fee_fen: int, fee_fen: int
) -> int:
    """The guarantee company's part of `paid_fen` paid of an installment's fee `fee_fen`
    (of which `guarantee_fee_fen` is the company's), `paid_before_fen` paid before: its
    share of the fee paid so far rounded down, less its share of what was paid before.
    A fee paid in parts gives the company what the whole fee paid at once would."""
    if not guarantee_fee_fen or not fee_fen:
        return 0
    return (paid_before_fen + paid_fen) * guarantee_fee_fen // fee_fen - (
        paid_before_fen * guarantee_fee_fen // fee_fen
    )


def _reserve_part(paid_before_fen: int, fee_fen: int, share: Decimal) -> int:
    """The risk reserve's part of `fee_fen` paid of an installment's fee, of which
    `paid_before_fen` was paid before: its share of the fee paid so far rounded down to
    the fen, less its share of what was paid before. An installment's fee paid in parts
    gives the reserve what the whole fee paid at once would."""
    return int((paid_before_fen + fee_fen) * share) - int(paid_before_fen * share)
