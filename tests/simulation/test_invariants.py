"""The simulation's invariants themselves, on hand-made books (no database)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest

from simulation import guarantee_checks
from simulation.holding_checks import HoldingRow, Loans, Received, check
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


# --- holdings (issue 20): hand-made books of a loan whose claim was sold in part --------

# Loan 1 lent 300 fen: claim 1 (100, never sold) and claim 2 (200), of which 80 fen were
# sold to holding 3 when claim 2 had had 40 of principal: claim 2's target became 120.
# Its interest target was 20 (of the loan's 30): 12 stay with claim 2, 8 go with the part
# sold. The borrower has since paid 60 of principal: 20 to claim 1, 40 to claim 2.
SOLD = [
    HoldingRow(1, 1, 100, None, None),
    HoldingRow(2, 1, 120, None, 12),
    HoldingRow(3, 1, 80, 2, 8),
]
OPEN = Loans(lent={1: 300}, owed={1: 240})


def _received(got: dict[int, list[int]]) -> Received:
    return Received(got=got, had={claim: parts[:2] for claim, parts in got.items()})


def test_the_holdings_outstanding_adds_up_to_the_loans():
    check(SOLD, _received({1: [20, 0, 0], 2: [40, 0, 0]}), OPEN, [], {1: 30})


def test_a_fen_of_principal_paid_to_no_one_is_caught():
    # Holding 3 credited a fen the borrower never paid: every line-level sum that reads
    # the receipts alone would move with it, the loan's outstanding does not.
    with pytest.raises(Broken, match="outstanding_adds_up"):
        check(SOLD, _received({1: [20, 0, 0], 2: [40, 0, 0], 3: [1, 0, 0]}), OPEN, [], {1: 30})


def test_a_carve_that_makes_principal_out_of_nothing_is_caught():
    made_up = [*SOLD[:2], HoldingRow(3, 1, 81, 2, 8)]
    with pytest.raises(Broken, match="outstanding_adds_up"):
        check(made_up, _received({1: [20, 0, 0], 2: [40, 0, 0]}), OPEN, [], {1: 30})


def test_a_holding_paid_past_its_principal_is_caught():
    with pytest.raises(Broken, match="principal_within_claim"):
        check(SOLD, _received({1: [20, 0, 0], 2: [121, 0, 0]}), OPEN, [], {1: 30})


SETTLED = Loans(lent={1: 300}, owed={1: 0})


def test_a_settled_line_pays_each_holding_exactly_its_targets():
    exact = {1: [100, 10, 0], 2: [120, 12, 0], 3: [80, 8, 0]}
    check(SOLD, _received(exact), SETTLED, [1], {1: 30})


def test_a_fen_moved_between_holdings_of_one_line_is_caught():
    # The line (claims 2 and 3) still had exactly its 200 and 20: only the holdings'
    # own targets see the buyer short of a fen of interest.
    moved = {1: [100, 10, 0], 2: [120, 13, 0], 3: [80, 7, 0]}
    with pytest.raises(Broken, match="exact_once_settled"):
        check(SOLD, _received(moved), SETTLED, [1], {1: 30})


# --- guarantees and collateral (issue 21): hand-made books of one company ---------------

# Company g:1 deposited 3,000.00 and compensated installment 7 (1,725.48: the split of
# tests/guarantees/test_compensation.py over claims 1, 2 and 3); the borrower has since
# repaid it all, every claim exactly what it had. It holds 1,725.48 available and
# 1,274.52 of margin: 3,000.00 + 1,725.48 recovered - 1,725.48 compensated.
PER_CLAIM = {1: (81_274, 5_000, 0), 2: (48_764, 3_000, 0), 3: (32_510, 2_000, 0)}


def _company_books(**changes: object) -> guarantee_checks.Books:
    books = guarantee_checks.Books(
        companies=[
            guarantee_checks.Company(
                code="g:1",
                compensation_journals=172_548,
                recovery_journals=172_548,
                available=172_548,
                margin=127_452,
                deposits=300_000,
            )
        ],
        compensations=[guarantee_checks.Compensation(4, "g:1", 7, 172_548, 172_548)],
        headers={7: ("g:1", 172_548)},
        advanced={(7, claim): ("g:1", parts) for claim, parts in PER_CLAIM.items()},
        receipts={"g:1": dict(PER_CLAIM)},
        came_back={7: dict(PER_CLAIM)},
    )
    for name, value in changes.items():
        setattr(books, name, value)
    return books


def _every_company_check(books: guarantee_checks.Books) -> None:
    guarantee_checks.paid_equals_compensations(books)
    guarantee_checks.recovered_within_paid(books)
    guarantee_checks.accounts_for_itself(books)


def test_a_company_whose_books_add_up_keeps_every_check():
    _every_company_check(_company_books())


def test_a_fen_the_ledger_took_that_no_compensation_paid_is_caught():
    books = _company_books()
    books.companies[0].compensation_journals += 1
    books.companies[0].available -= 1
    with pytest.raises(Broken, match="paid_equals_compensations"):
        guarantee_checks.paid_equals_compensations(books)


def test_a_fen_moved_between_two_holders_compensations_is_caught():
    # Every total still adds up; claim 2's recovery is now a fen above what it was paid.
    moved = dict(PER_CLAIM) | {1: (81_275, 5_000, 0), 2: (48_763, 3_000, 0)}
    books = _company_books(advanced={(7, claim): ("g:1", parts) for claim, parts in moved.items()})
    guarantee_checks.paid_equals_compensations(books)
    with pytest.raises(Broken, match="recovered_within_paid"):
        guarantee_checks.recovered_within_paid(books)


def test_a_recovery_counted_on_the_compensation_but_never_received_is_caught():
    books = _company_books(
        compensations=[guarantee_checks.Compensation(4, "g:1", 7, 172_548, 172_548)],
        receipts={"g:1": dict(PER_CLAIM) | {3: (32_509, 2_000, 0)}},
    )
    with pytest.raises(Broken, match="recovered_within_paid"):
        guarantee_checks.recovered_within_paid(books)


def test_a_fen_of_margin_from_nowhere_is_caught():
    books = _company_books()
    books.companies[0].margin += 1
    guarantee_checks.paid_equals_compensations(books)
    guarantee_checks.recovered_within_paid(books)
    with pytest.raises(Broken, match="accounts_for_itself"):
        guarantee_checks.accounts_for_itself(books)


# A disposal netting 19,500.00 (20,000.00 less 500.00 of costs) of which 13,800.00 paid
# the loan: 13,710.00 to the holders and recoverers, 90.00 of fee; 5,700.00 left over.
PROCEEDS = guarantee_checks.Proceeds(
    disposal_id=2,
    net_fen=1_950_000,
    applied_fen=1_380_000,
    surplus_fen=570_000,
    credited_fen=1_950_000,
    repayment=("COLLATERAL", "DONE", 1_380_000),
    receipts_fen=1_371_000,
    fees_fen=9_000,
    taken_fen=1_380_000,
)


def test_a_disposal_whose_proceeds_add_up_keeps_the_check():
    guarantee_checks.proceeds_add(PROCEEDS)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"receipts_fen": 1_370_999}, id="a-fen-paid-to-no-holder"),
        pytest.param({"surplus_fen": 570_001}, id="a-fen-of-surplus-from-nowhere"),
        pytest.param({"taken_fen": 1_380_001}, id="a-fen-more-taken-from-the-owner"),
        pytest.param({"repayment": ("COLLATERAL", "DONE", 1_379_999)}, id="repayment-short"),
        pytest.param({"repayment": None}, id="applied-by-no-repayment"),
    ],
)
def test_a_fen_astray_in_a_disposal_is_caught(changes):
    with pytest.raises(Broken, match="proceeds_add_up"):
        guarantee_checks.proceeds_add(dataclasses.replace(PROCEEDS, **changes))


def test_a_guarantee_fee_the_repayments_never_paid_is_caught():
    books = _company_books()
    books.companies[0].fee_journals = books.companies[0].fees_paid = 3_000
    books.companies[0].available += 3_000
    guarantee_checks.accounts_for_itself(books)  # fees paid with the installments: its own
    books.companies[0].fees_paid = 2_999
    with pytest.raises(Broken, match="accounts_for_itself"):
        guarantee_checks.accounts_for_itself(books)
