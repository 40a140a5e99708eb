"""What the day's batch (`daybatch`) writes for one installment it settles: the same
transfers, repayment, receipts, events and notice as the one-loan path
(`settlement._settle`, `settlement._move_money`, `settlement._pay_line`) writes them.
Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from models.loans import Loan
from models.repayments import LoanInstallment, RepaymentKind, RepaymentStatus
from services.money import movements
from services.money.money import format_money
from services.repayments import events, holdings, policy, quote, split
from services.repayments.due import _amounts
from services.repayments.events import RepaymentEventKind
from services.repayments.settlement import line_record, transfers


@dataclass(frozen=True)
class Claim:
    id: int
    holder_id: int
    principal_fen: int
    line_id: int | None = None
    interest_share_fen: int | None = None


@dataclass
class Settled:
    """One plain installment, split: what the batch writes for it."""

    loan: Loan
    row: LoanInstallment
    line: quote.Line
    claims: list[Claim]
    shares: list[split.Share]
    reserve_fen: int
    still_open: bool
    repayment_id: int = 0
    per_holder: dict[int, holdings.Parts] = field(default_factory=dict)


def moves(one: Settled) -> list[movements.Transfer]:
    """The settlement's transfers, as `settlement._move_money` lists them."""
    return transfers(
        one.loan.borrower_id,
        f"repayment:{one.repayment_id}",
        one.per_holder,
        one.line.fee_fen - one.reserve_fen,
        one.reserve_fen,
        {},
    )


def repayment_row(one: Settled, order: Sequence[policy.Part], now: datetime) -> tuple[object, ...]:
    """The repayment as the one-loan path leaves it once DONE."""
    amounts = _amounts(quote.Quote(lines=[one.line]))
    line = one.line
    details = {
        "installment": line.number,
        "allocation_order": [str(part) for part in order],
        "reserve_fen": one.reserve_fen,
        "reserve_recovery_fen": 0,
        "early_fee_asked_fen": 0,
        "accrued_days": 0,
        "lines": [line_record(line)],
    }
    return (
        one.loan.id,
        one.loan.borrower_id,
        str(RepaymentKind.AUTO_DEBIT),
        str(RepaymentStatus.DONE),
        amounts["installments"],
        amounts["amount_fen"],
        amounts["principal_fen"],
        amounts["interest_fen"],
        amounts["fee_fen"],
        amounts["penalty_fen"],
        amounts["early_fee_fen"],
        "",
        details,
        now,
        now,
    )


REPAYMENT_COLUMNS = [
    ("loan_id", "bigint"),
    ("borrower_id", "bigint"),
    ("kind", "text"),
    ("status", "text"),
    ("installments", "jsonb"),
    ("amount_fen", "bigint"),
    ("principal_fen", "bigint"),
    ("interest_fen", "bigint"),
    ("fee_fen", "bigint"),
    ("penalty_fen", "bigint"),
    ("early_fee_fen", "bigint"),
    ("refusal", "text"),
    ("details", "jsonb"),
    ("created_at", "timestamptz"),
    ("done_at", "timestamptz"),
]


def member_events(one: Settled, now: datetime) -> list[events.Event]:
    """The borrower's PAID, then each holder's RECEIVED (by holder id)."""
    loan, number = one.loan, one.line.number
    return [
        events.Event(
            loan.borrower_id, RepaymentEventKind.PAID, loan.id, number, one.line.total_fen, now
        ),
        *(
            events.Event(
                holder_id,
                RepaymentEventKind.RECEIVED,
                loan.id,
                number,
                parts.total_fen,
                now,
                {
                    "principal_fen": parts.principal_fen,
                    "interest_fen": parts.interest_fen,
                    "penalty_fen": parts.penalty_fen,
                },
            )
            for holder_id, parts in one.per_holder.items()
            if parts.total_fen
        ),
    ]


def notice(one: Settled) -> tuple[int, str, str, str]:
    """The borrower's notice, worded as the one-loan path words it."""
    total = format_money(one.line.total_fen)
    if one.still_open:
        return (
            one.loan.borrower_id,
            "repayment",
            "Repayment received",
            f"{total} repaid on loan {one.loan.id}.",
        )
    return (
        one.loan.borrower_id,
        "repayment",
        "Loan settled",
        f"{total} repaid on loan {one.loan.id}: the loan is repaid in full.",
    )
