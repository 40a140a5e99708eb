"""The invariants of holdings when claims are traded (issue 20), and the lines the claims
invariants read.

A claim sold in part or whole becomes a *line*: the original row (the seller's) and the
holdings carved from it (`claims.line_id`). The claims invariants of
`simulation.invariants` hold for lines exactly as they held for claims before any sale
(a line's principal is the sum of its holdings' principal targets, what it received the
sum of theirs; a claim never sold is a line of one). On top of them, per holding:

- `claims.principal_within_claim`: no holding received more principal than its target,
  counted by the borrower's payments and by what its holder had (advances included).
- `claims.outstanding_adds_up`: per loan, the holdings' outstanding principal (target
  less what the borrower's payments gave each) adds up to the loan's outstanding
  principal (its installments' principal less what was paid of it), and their targets
  add up to what the loan lent.
- `claims.exact_once_settled`: once a loan is settled each holding of a sold line had
  exactly its principal target (both ways), and exactly its interest target whenever
  the line's interest target still stands as at its last sale (an early repayment after
  it re-shares the line's new whole, checked at the line).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from models.bids import Claim
from models.loans import Loan
from models.repayments import LoanInstallment
from services.repayments import split
from simulation.broken import holds


class HoldingRow(NamedTuple):
    id: int
    loan_id: int
    principal_fen: int
    line_id: int | None
    interest_share_fen: int | None

    @property
    def line(self) -> int:
        return self.line_id or self.id


async def holding_rows(loan_ids: list[int]) -> list[HoldingRow]:
    rows = (
        await Claim.filter(loan_id__in=loan_ids)
        .order_by("id")
        .values_list("id", "loan_id", "principal_fen", "line_id", "interest_share_fen")
    )
    return [HoldingRow(*row) for row in rows]


def _line_key(found: Any, line_of: dict[int, int]) -> Any:
    return (found[0], line_of[found[1]]) if isinstance(found, tuple) else line_of[found]


def by_line(per_claim: dict[Any, list[int]], line_of: dict[int, int]) -> dict[Any, list[int]]:
    """Amounts keyed by claim (or by (repayment, claim)) summed per line instead."""
    summed: dict[Any, list[int]] = {}
    for found, amounts in per_claim.items():
        into = summed.setdefault(_line_key(found, line_of), [0] * len(amounts))
        for index, amount in enumerate(amounts):
            into[index] += amount
    return summed


def one_by_line(per_claim: dict[Any, int], line_of: dict[int, int]) -> dict[Any, int]:
    """`by_line` of single amounts."""
    summed: dict[Any, int] = defaultdict(int)
    for found, amount in per_claim.items():
        summed[_line_key(found, line_of)] += amount
    return summed


def lines(held: list[HoldingRow]) -> list[tuple[int, int, int]]:
    """(line, loan, principal) of each line in line order: a line's principal is the sum
    of its holdings' principal targets, the original claim's principal."""
    principal: dict[int, int] = defaultdict(int)
    loan_of: dict[int, int] = {}
    for holding in held:
        principal[holding.line] += holding.principal_fen
        loan_of[holding.line] = holding.loan_id
    return [(line, loan_of[line], fen) for line, fen in sorted(principal.items())]


@dataclass
class Received:
    """Per holding: [principal, interest, penalty] by the borrower's payments (`got`), and
    [principal, interest] its holder had (own receipts and advances)."""

    got: dict[int, list[int]]
    had: dict[int, list[int]]


@dataclass(frozen=True)
class Loans:
    """Per loan: what it lent and its outstanding principal (its installments' principal
    less what was paid of it)."""

    lent: dict[int, int]
    owed: dict[int, int]


async def read_loans(loan_ids: list[int]) -> Loans:
    lent = dict(
        cast(
            list[tuple[int, int]],
            await Loan.filter(id__in=loan_ids).values_list("id", "amount_fen"),
        )
    )
    owed: dict[int, int] = defaultdict(int)
    for loan_id, principal, paid in cast(
        list[tuple[int, int, int]],
        await LoanInstallment.filter(loan_id__in=loan_ids).values_list(
            "loan_id", "principal_fen", "paid_principal_fen"
        ),
    ):
        owed[loan_id] += principal - paid
    return Loans(lent=lent, owed=owed)


def check(
    held: list[HoldingRow],
    received: Received,
    loans: Loans,
    settled: Iterable[int],
    interest_of: dict[int, int],
) -> None:
    """The holdings' invariants of the module docstring; `settled` the settled loans,
    `interest_of` each loan's whole interest."""
    per_loan: dict[int, list[HoldingRow]] = defaultdict(list)
    for holding in held:
        per_loan[holding.loan_id].append(holding)
        got = received.got.get(holding.id, [0, 0, 0])[0]
        had = received.had.get(holding.id, [0, 0])[0]
        holds(
            got <= holding.principal_fen and had <= holding.principal_fen,
            "claims.principal_within_claim",
            f"holding {holding.id} of loan {holding.loan_id}: {max(got, had)} > "
            f"{holding.principal_fen}",
        )
    name = "claims.outstanding_adds_up"
    for loan_id, of_loan in per_loan.items():
        targets = sum(h.principal_fen for h in of_loan)
        lent = loans.lent[loan_id]
        holds(targets == lent, name, f"loan {loan_id}: targets {targets}, lent {lent}")
        outstanding = sum(h.principal_fen - received.got.get(h.id, [0])[0] for h in of_loan)
        holds(
            outstanding == loans.owed[loan_id],
            name,
            f"loan {loan_id}: holdings' outstanding {outstanding}, the loan's "
            f"{loans.owed[loan_id]}",
        )
    for loan_id in settled:
        _settled(loan_id, per_loan.get(loan_id, []), received, interest_of[loan_id])


def _settled(loan_id: int, held: list[HoldingRow], received: Received, interest: int) -> None:
    name = "claims.exact_once_settled"
    lines: dict[int, list[HoldingRow]] = defaultdict(list)
    for holding in held:
        lines[holding.line].append(holding)
    line_targets = dict(
        zip(
            lines,
            split.interest_targets(
                interest, [sum(h.principal_fen for h in line) for line in lines.values()]
            ),
            strict=True,
        )
    )
    for line, members in lines.items():
        if len(members) == 1:
            continue  # a line of one is its claim: checked by the claims invariants
        wrong = [
            (h.id, received.got.get(h.id, [0])[0], received.had.get(h.id, [0])[0], h.principal_fen)
            for h in members
            if not received.got.get(h.id, [0])[0]
            == received.had.get(h.id, [0])[0]
            == h.principal_fen
        ]
        holds(not wrong, name, f"loan {loan_id} line {line} principal (got, had, target): {wrong}")
        stored = [h.interest_share_fen for h in members]
        if None in stored or sum(cast(list[int], stored)) != line_targets[line]:
            continue  # the line's whole changed after its last sale: shared again
        wrong_interest = [
            (h.id, received.had.get(h.id, [0, 0])[1], h.interest_share_fen)
            for h in members
            if received.had.get(h.id, [0, 0])[1] != h.interest_share_fen
        ]
        holds(
            not wrong_interest,
            name,
            f"loan {loan_id} line {line} interest (had, target): {wrong_interest}",
        )
