"""The day's auto-debit in sets (issue 16, P3): the installments that fall due today and
ask nothing unusual are settled many loans to a transaction, each step one statement
for the whole set, with the money to the fen as the one-loan settlement
(`settlement._settle`) would move it.

An installment is *plain* when its loan is REPAYING with nothing unpaid from before
today, the installment is PENDING, nothing of it paid, no penalty, no advance of the
risk reserve on it, it is its loan's only installment due today, and the borrower's
available balance covers it (after their earlier installments of the day, in the job's
order: by loan, then number). Once an installment of a borrower is not plain, every
later one of that borrower is left too, so the one-loan path that tops the balance up by
card sees them in the same order as it always has. Everything not plain is left to that
path (`autodebit`).

For a set of plain installments (`size` loans, and at most `MAX_CLAIMS` claims, a
transaction), under the loans' row locks:
- reads: the loans, their installments, their claims, what each claim's holder has had
  (`holdings.had_on_loans`: receipts and the reserve's advances, summed by the
  database), the borrowers' balances: seven statements whatever the number of loans;
- the split of each installment among its claims is the same largest-remainder split
  towards the claims' targets as the one-loan path (`split.split_payment`, whose
  reserve parts are nothing for an installment never advanced);
- writes: the repayments (one statement), the installments PAID (one), every journal of
  every holder with the running balances and one balance update per account
  (`ledger.post_many`), one SPLIT instruction per loan (one statement), the receipts
  (one), the members' events (one), the credit hooks once per borrower, the notices
  (two).

A race the reads could not see (the balance spent meanwhile) refuses the whole set;
its installments then go the one-loan way. Journals, instructions, receipts, events and
notices are those the one-loan path writes, with the same keys and in the same order
(tests/repayments/test_day_batch.py compares the two, table by table). One exception:
a member who both borrows and holds a claim due the same day, one of them left to the
one-loan path, may see their postings of the day in another order (the same balance at
the end).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast

from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models.bids import Claim
from models.ledger import LedgerAccount
from models.loans import Loan, LoanStatus
from models.repayments import (
    InstallmentStatus,
    LoanInstallment,
    Receipt,
    Repayment,
    ReserveAdvance,
)
from services.contracts import extend_retention
from services.credit import scoring
from services.kit import crashpoints
from services.kit.db import insert_rows, insert_with_ids
from services.loans.states import LoanEvent, transition
from services.money import ledger, movements
from services.payments import instructions
from services.platform import clock, notifier, outbox, parameters
from services.repayments import daybatch_rows as built
from services.repayments import events, holdings, policy, quote, split
from services.repayments.due import _row
from services.repayments.settlement import RECEIPT_COLUMNS
from services.repayments.settlement_split import _reserve_part

logger = logging.getLogger(__name__)

# Claims in one transaction at most: keeps every statement's parameters (a journal key
# per holder, three per ledger account) far below the drivers' 32,767.
MAX_CLAIMS = 5_000
# Loans whose borrower and claim count are read by one statement, before the sets.
_READ_AT_ONCE = 2_000


@dataclass
class _Set:
    """What one transaction reads of its loans."""

    loans: dict[int, Loan]
    rows: dict[int, list[LoanInstallment]]  # loan id -> installments by number
    claims: dict[int, list[built.Claim]]  # loan id -> claims by id
    had: dict[int, holdings.Parts]  # claim id -> what its holder has had so far
    advanced: set[int]  # installment ids the reserve advanced
    balances: dict[int, int]  # borrower id -> available


async def settle_in_sets(
    due: Sequence[LoanInstallment], *, size: int, today: date
) -> tuple[int, list[LoanInstallment]]:
    """Settle the plain installments of `due` (the job's list, in its order) `size`
    loans to a transaction. Returns how many were paid, and the installments left to
    the one-loan path, in the job's order. The crashpoint
    `autodebit.after_installment` (detail: installments paid so far) is hit after each
    transaction's commit."""
    borrowers: dict[int, int] = {}
    counts: dict[int, int] = {}
    loan_ids = sorted({row.loan_id for row in due})
    for start in range(0, len(loan_ids), _READ_AT_ONCE):
        some = loan_ids[start : start + _READ_AT_ONCE]
        borrowers.update(await Loan.filter(id__in=some).values_list("id", "borrower_id"))
        counts.update(await _claim_counts(some))
    left: list[LoanInstallment] = []
    blocked: set[int] = set()  # borrowers with an installment left
    paid = 0
    chunk: list[LoanInstallment] = []
    claims = 0
    for row in [*due, None]:
        if row is not None and (
            not chunk or (len(chunk) < size and claims + counts.get(row.loan_id, 0) <= MAX_CLAIMS)
        ):
            chunk.append(row)
            claims += counts.get(row.loan_id, 0)
            continue
        if chunk:
            done, rest = await _settle_set(chunk, borrowers, blocked, today)
            paid += done
            left += rest
            if done:
                instructions.wake()
                outbox.wake()
                # The kill tests stop a worker here, with `paid` installments committed.
                crashpoints.hit("autodebit.after_installment", str(paid))
        chunk, claims = ([row], counts.get(row.loan_id, 0)) if row is not None else ([], 0)
    order = {row.id: index for index, row in enumerate(due)}
    return paid, sorted(left, key=lambda row: order[row.id])


async def _claim_counts(loan_ids: list[int]) -> dict[int, int]:
    """How many claims each loan has (the size of its part of a transaction)."""
    rows = (
        await Claim.filter(loan_id__in=loan_ids)
        .group_by("loan_id")
        .annotate(count=Count("id"))
        .values_list("loan_id", "count")
    )
    return {int(loan_id): int(count) for loan_id, count in rows}


async def _settle_set(
    chunk: list[LoanInstallment], borrowers: dict[int, int], blocked: set[int], today: date
) -> tuple[int, list[LoanInstallment]]:
    """One transaction's worth; (paid, left). A balance spent meanwhile refuses it all."""
    try:
        async with in_transaction():
            found = await _read(chunk, borrowers)
            plain, left = _choose(chunk, found, borrowers, blocked, today)
            if plain:
                await _write(plain, found, today)
            return len(plain), left
    except ledger.InsufficientFundsError:
        logger.warning("a day batch of %s installments left to the one-loan path", len(chunk))
        # Their borrowers' later installments follow them (the one-loan path's order).
        blocked.update(borrowers[row.loan_id] for row in chunk)
        return 0, list(chunk)


async def _read(chunk: list[LoanInstallment], borrowers: dict[int, int]) -> _Set:
    loan_ids = sorted({row.loan_id for row in chunk})
    loans = {
        loan.id: loan
        for loan in await Loan.filter(id__in=loan_ids).order_by("id").select_for_update()
    }
    rows: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in await LoanInstallment.filter(loan_id__in=loan_ids).order_by("loan_id", "number"):
        rows[row.loan_id].append(row)
    claims: dict[int, list[built.Claim]] = defaultdict(list)
    for claim_id, loan_id, holder_id, principal, line_id, interest_share in await (
        Claim.filter(loan_id__in=loan_ids)
        .order_by("id")
        .values_list("id", "loan_id", "holder_id", "principal_fen", "line_id", "interest_share_fen")
    ):
        claims[loan_id].append(built.Claim(claim_id, holder_id, principal, line_id, interest_share))
    had = await holdings.had_on_loans(loan_ids)
    advanced = set(
        await ReserveAdvance.filter(installment_id__in=[row.id for row in chunk]).values_list(
            "installment_id", flat=True
        )
    )
    codes = {ledger.available(borrowers[loan_id]): borrowers[loan_id] for loan_id in loan_ids}
    balances = {
        codes[code]: balance
        for code, balance in await LedgerAccount.filter(code__in=sorted(codes)).values_list(
            "code", "balance"
        )
    }
    return _Set(loans, rows, claims, had, cast(set[int], advanced), balances)


def _is_plain(
    row: LoanInstallment, loan: Loan | None, rows: list[LoanInstallment], today: date
) -> bool:
    return (
        loan is not None
        and loan.status == LoanStatus.REPAYING
        and row.status == InstallmentStatus.PENDING
        and row.due_date == today
        and row.overdue_since is None
        and not (row.paid_principal_fen or row.paid_interest_fen or row.paid_fee_fen)
        and not (row.penalty_accrued_fen or row.penalty_paid_fen)
        # A guarantee fee goes the one-loan way (same money; batching it is not built).
        and not row.guarantee_fee_fen
        and not any(
            other.due_date < today and other.status != InstallmentStatus.PAID for other in rows
        )
    )


def _choose(
    chunk: list[LoanInstallment],
    found: _Set,
    borrowers: dict[int, int],
    blocked: set[int],
    today: date,
) -> tuple[list[tuple[LoanInstallment, Loan]], list[LoanInstallment]]:
    """The plain installments of the chunk (with their loans, as read under the lock),
    and the rest; `blocked` and the borrowers' running balances updated."""
    plain: list[tuple[LoanInstallment, Loan]] = []
    left: list[LoanInstallment] = []
    seen: set[int] = set()
    running = dict(found.balances)
    for listed in chunk:
        borrower = borrowers[listed.loan_id]
        loan = found.loans.get(listed.loan_id)
        rows = found.rows.get(listed.loan_id, [])
        row = next((one for one in rows if one.id == listed.id), None)
        owed = quote.whole(_row(row)).total_fen if row is not None else 0
        if (
            borrower in blocked
            or row is None
            or listed.loan_id in seen
            or row.id in found.advanced
            or not found.claims.get(listed.loan_id)
            or not _is_plain(row, loan, rows, today)
            or running.get(borrower, 0) < owed
        ):
            blocked.add(borrower)
            left.append(listed)
            continue
        assert loan is not None
        seen.add(loan.id)
        running[borrower] -= owed
        plain.append((row, loan))
    return plain, left


def _split(
    row: LoanInstallment, loan: Loan, found: _Set, order: Sequence[policy.Part], share: Decimal
) -> built.Settled:
    """One plain installment's split, as `settlement._settle` makes it."""
    rows = found.rows[loan.id]
    whole = quote.whole(_row(row))
    line = quote.apply(whole.total_fen, whole, order)
    claims = found.claims[loan.id]
    total_interest = sum(
        one.paid_interest_fen + line.interest_fen
        if one.id == row.id and line.settles
        else one.interest_fen
        for one in rows
    )
    shares = split.split_holdings(
        principal_fen=line.principal_fen,
        interest_fen=line.interest_fen,
        penalty_fen=line.penalty_fen,
        holdings=holdings.as_holdings(
            claims,
            [found.had[claim.id].principal_fen for claim in claims],
            [found.had[claim.id].interest_fen for claim in claims],
        ),
        total_interest_fen=total_interest,
    )
    per_holder: dict[int, holdings.Parts] = defaultdict(holdings.Parts)
    for claim, part in zip(claims, shares, strict=True):
        per_holder[claim.holder_id].add(part)
    return built.Settled(
        loan=loan,
        row=row,
        line=line,
        claims=claims,
        shares=shares,
        reserve_fen=_reserve_part(row.paid_fee_fen, line.fee_fen, share),
        still_open=any(one.status != InstallmentStatus.PAID for one in rows if one.id != row.id),
        per_holder=dict(sorted(per_holder.items())),
    )


async def _write(plain: list[tuple[LoanInstallment, Loan]], found: _Set, today: date) -> None:
    now = await clock.now()
    order = (await parameters.get(policy.ALLOCATION_ORDER)).order
    share = (await parameters.get(policy.RISK_RESERVE_SHARE)).share
    settled = [_split(row, loan, found, order, share) for row, loan in plain]
    ids = await insert_with_ids(
        Repayment,
        built.REPAYMENT_COLUMNS,
        [built.repayment_row(one, order, now) for one in settled],
    )
    for one, repayment_id in zip(settled, ids, strict=True):
        one.repayment_id = repayment_id
    await LoanInstallment.filter(id__in=[one.row.id for one in settled]).update(
        paid_principal_fen=F("principal_fen"),
        paid_interest_fen=F("interest_fen"),
        paid_fee_fen=F("fee_fen"),
        status=InstallmentStatus.PAID,
        paid_on=today,
        paid_late=False,
    )
    await movements.split_many(
        [(built.moves(one), f"repayment:{one.repayment_id}") for one in settled]
    )
    await insert_rows(
        Receipt,
        RECEIPT_COLUMNS,
        [
            (
                one.repayment_id,
                claim.id,
                claim.holder_id,
                one.loan.id,
                part.principal_fen,
                part.interest_fen,
                part.penalty_fen,
                False,
                None,
                now,
            )
            for one in settled
            for claim, part in zip(one.claims, one.shares, strict=True)
            if part.total_fen
        ],
    )
    await events.enqueue_many([event for one in settled for event in built.member_events(one, now)])
    await holdings.principal_paid(
        sorted({one.loan.id for one in settled if any(s.principal_fen for s in one.shares)})
    )
    paid_by: dict[int, list[built.Settled]] = defaultdict(list)
    for one in settled:
        paid_by[one.loan.borrower_id].append(one)
    for borrower_id, theirs in paid_by.items():
        await scoring.on_installments_paid(
            borrower_id, [f"{one.loan.id}#{one.line.number}" for one in theirs]
        )
        principal = sum(one.line.principal_fen for one in theirs)
        if principal:
            await scoring.restore_limit(borrower_id, principal)
    for one in settled:
        if not one.still_open:
            transition(one.loan, LoanEvent.SETTLE)
            await one.loan.save(update_fields=["status"])
            await extend_retention(loan_id=one.loan.id, ended_on=today)
    await notifier.notify_many([built.notice(one) for one in settled])
