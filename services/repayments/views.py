"""The member's views of repayments: schedule, receivables (claims), repayments."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import cast

from models.bids import Claim
from models.loans import Loan
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Repayment,
)
from services.identity.permissions import Actor
from services.pages import Page
from services.repayments import holdings, split


@dataclass(frozen=True)
class Schedule:
    loan: Loan
    installments: list[LoanInstallment]

    @property
    def outstanding_principal_fen(self) -> int:
        return sum(row.principal_fen - row.paid_principal_fen for row in self.installments)

    @property
    def next_due_date(self) -> date | None:
        open_rows = [row for row in self.installments if row.status != InstallmentStatus.PAID]
        return open_rows[0].due_date if open_rows else None


async def schedule_of(actor: Actor, loan_id: int) -> Schedule | None:
    """The borrower's own loan's installments; None for anyone else (or no such loan)."""
    loan = await Loan.get_or_none(id=loan_id, borrower_id=actor.user_id)
    if loan is None:
        return None
    rows = await LoanInstallment.filter(loan_id=loan.id).order_by("number")
    return Schedule(loan=loan, installments=rows)


@dataclass(frozen=True)
class Receivable:
    """One claim held: what its holder received (the risk reserve's advances included,
    its recovery of them not counted again) and what it still expects."""

    claim: Claim
    loan: Loan
    received_principal_fen: int
    received_interest_fen: int
    received_penalty_fen: int
    expected_principal_fen: int
    expected_interest_fen: int
    next_due_date: date | None


@dataclass(frozen=True)
class _LoanView:
    """What a holder's view needs of one loan: each claim's share of the loan's whole
    interest (claim id -> fen) and the earliest unpaid installment's due date (None once
    every installment is paid: nothing more is expected then)."""

    interest_targets: dict[int, int]
    next_due_date: date | None


async def _loan_views(loan_ids: list[int], had: dict[int, holdings.Parts]) -> dict[int, _LoanView]:
    """`_LoanView` of each loan, from two queries whatever the number of loans: all their
    claims (in id order, the split's order) and all their installments (in number order);
    `had` is what every holding of them had (`holdings.had_on_loans`)."""
    claims = await Claim.filter(loan_id__in=loan_ids).order_by("loan_id", "id")
    rows = await (
        LoanInstallment.filter(loan_id__in=loan_ids)
        .order_by("loan_id", "number")
        .values_list("loan_id", "interest_fen", "status", "due_date")
    )
    claims_of: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        claims_of[claim.loan_id].append(claim)
    interest: dict[int, int] = defaultdict(int)
    next_due: dict[int, date] = {}
    for loan_id, row_interest, status, due_date in cast(list[tuple[int, int, str, date]], rows):
        interest[loan_id] += row_interest
        if status != InstallmentStatus.PAID:
            next_due.setdefault(loan_id, due_date)
    return {
        loan_id: _loan_view(claims_of[loan_id], had, interest[loan_id], next_due.get(loan_id))
        for loan_id in loan_ids
    }


def _loan_view(
    claims: list[Claim],
    had: dict[int, holdings.Parts],
    total_interest_fen: int,
    next_due_date: date | None,
) -> _LoanView:
    """The view of a loan from its claims (in id order), what each had and its whole
    interest: each holding's interest target as the split pays it
    (`split.interest_entitlements`: a claim never sold, its largest-remainder share of the
    whole; a holding of a claim sold in part, its part of that claim's share)."""
    targets = split.interest_entitlements(
        holdings.as_holdings(
            claims,
            [had[claim.id].principal_fen for claim in claims],
            [had[claim.id].interest_fen for claim in claims],
        ),
        total_interest_fen,
    )
    return _LoanView(
        interest_targets={claim.id: target for claim, target in zip(claims, targets, strict=True)},
        next_due_date=next_due_date,
    )


def _receivable(claim: Claim, loan: Loan, view: _LoanView, got: holdings.Parts) -> Receivable:
    """A claim's receivable: what was had of it (`holdings.had`), what is still to come. Once the
    loan is repaid no interest is expected (an early repayment charged less than the
    schedule's)."""
    open_loan = view.next_due_date is not None
    return Receivable(
        claim=claim,
        loan=loan,
        received_principal_fen=got.principal_fen,
        received_interest_fen=got.interest_fen,
        received_penalty_fen=got.penalty_fen,
        expected_principal_fen=claim.principal_fen - got.principal_fen,
        expected_interest_fen=(
            max(0, view.interest_targets[claim.id] - got.interest_fen) if open_loan else 0
        ),
        next_due_date=view.next_due_date,
    )


async def receivables_of(user_id: int) -> list[Receivable]:
    """Every claim the member holds, newest first. Six queries however many claims and
    loans (the held claims, their loans, the loans' claims and installments, `holdings.had`'s
    receipts and advances), the figures computed here."""
    held = await Claim.filter(holder_id=user_id).order_by("-id")
    if not held:
        return []
    loan_ids = sorted({claim.loan_id for claim in held})
    loans = {loan.id: loan for loan in await Loan.filter(id__in=loan_ids)}
    had = await holdings.had_on_loans(loan_ids)
    views = await _loan_views(loan_ids, had)
    return [
        _receivable(claim, loans[claim.loan_id], views[claim.loan_id], had[claim.id])
        for claim in held
    ]


def paid_off(repayment: Repayment) -> list[int]:
    """The installments a repayment pays off: all it pays, except that an amount (mode
    AMOUNT) may leave the last one partly paid (as confirmed: `details["settles"]`)."""
    settles = repayment.details.get("settles")
    numbers = repayment.installments if settles is None else settles
    return [int(number) for number in numbers]


async def repayments_of(user_id: int, *, first: int, before_id: int | None) -> Page[Repayment]:
    """The borrower's repayments, newest first (`first` rows before `before_id`)."""
    query = Repayment.filter(borrower_id=user_id)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return Page(rows=await query.order_by("-id").limit(first), total=total)
