"""The simulation's invariants themselves, on hand-made books (no database)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from simulation.invariants import Broken, _ClaimRow, _Seen, _settled_loan


def _books(last_to_a: tuple[int, int], last_to_b: tuple[int, int]) -> _Seen:
    """Loan 1, claims A (100 fen) and B (200 fen); its whole interest fell from 13 to 10
    fen with an early repayment in full (repayment 9), so the shares went from [4, 9] to
    [3, 7]. Before it: repayment 1 paid A 2 and B 3 fen of interest, the reserve advanced
    A 2 and B 3. `last_to_*`: (to the reserve, to the holder) of repayment 9's interest."""
    seen = _Seen(
        got=defaultdict(lambda: [0, 0, 0]),
        holder_got=defaultdict(lambda: [0, 0]),
        by_repayment=defaultdict(lambda: [0, 0, 0]),
        penalty_by=defaultdict(int),
        interest_by=defaultdict(lambda: [0, 0]),
    )
    for claim, principal, first, advance, (reserve, own) in (
        ("A", 100, 2, 2, last_to_a),
        ("B", 200, 3, 3, last_to_b),
    ):
        number = 1 if claim == "A" else 2
        seen.got[number] = [principal, first + reserve + own, 0]
        seen.holder_got[number] = [principal, first + advance + own]
        seen.interest_by[(1, number)] = [first, first]
        seen.interest_by[(9, number)] = [reserve + own, own]
    return seen


HELD = [_ClaimRow(1, 1, 100), _ClaimRow(2, 1, 200)]


def test_an_advance_above_the_lowered_share_is_the_early_repayment_exception():
    """Seed 126 from 2029-03-18 (the 300-pair sweep), loan 2 on day 169: the reserve had
    advanced a claim its share of the whole as it stood; the early repayment then lowered
    the whole, and the borrower's last payment refunded the reserve exactly that fen.
    The holder had the fen before the early repayment: the exception, not a wrong split
    (the invariant used to count it as received in the last repayment)."""
    _settled_loan(1, HELD, _books(last_to_a=(2, 0), last_to_b=(3, 0)), 10, 9)


def test_a_fen_above_the_share_given_by_the_last_payment_is_still_caught():
    # Here the last repayment itself pays the holder of A a fen past its share.
    with pytest.raises(Broken, match="exact_once_settled"):
        _settled_loan(1, HELD, _books(last_to_a=(1, 1), last_to_b=(3, 0)), 10, 9)
