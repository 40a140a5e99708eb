"""The overdue list and collection work (M9.3, M9.4): which loans are overdue, by how long
and how much, who collects them, and what collectors recorded.

A loan is on the list while any of its installments is OVERDUE. Its days overdue are the
oldest overdue installment's (today - due date), its bucket that figure's, and its
overdue amount what is still owed on its overdue installments: principal, interest, fee
and the penalty accrued so far. The list is computed per request, from the overdue
installments only (a few thousand rows at most on a platform this size); M12's reports
will keep their own figures.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from tortoise.transactions import in_transaction

from models.access import UserRole
from models.loans import Loan
from models.members import User, UserKind, UserStatus
from models.repayments import (
    CollectionKind,
    CollectionRecord,
    InstallmentStatus,
    LoanInstallment,
)
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission, role_grants
from services.pages import Page
from services.platform import clock
from services.repayments.overdue import amount_due, days_overdue
from services.repayments.overdue_policy import Bucket, bucket

NOTE_MAX = 1000


@dataclass(frozen=True)
class OverdueFilter:
    bucket: Bucket | None = None
    min_amount_fen: int | None = None
    max_amount_fen: int | None = None
    collector_id: int | None = None


@dataclass(frozen=True)
class OverdueLoan:
    loan: Loan
    borrower: User
    days_overdue: int
    bucket: Bucket
    overdue_amount_fen: int
    penalty_fen: int  # accrued and unpaid, part of the amount
    overdue_installments: int
    collector: User | None


async def overdue_loans(
    flt: OverdueFilter, *, first: int, after_id: int | None, today: date | None = None
) -> Page[OverdueLoan]:
    """Overdue loans in loan id order, filtered; `first` rows after `after_id`."""
    today = today or await clock.today()
    rows = await LoanInstallment.filter(status=InstallmentStatus.OVERDUE).order_by(
        "loan_id", "number"
    )
    by_loan: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in rows:
        by_loan[row.loan_id].append(row)
    query = Loan.filter(id__in=list(by_loan))
    if flt.collector_id is not None:
        query = query.filter(collector_id=flt.collector_id)
    loans = await query.order_by("id")
    found: list[tuple[Loan, int, Bucket, int, int, int]] = []
    for loan in loans:
        overdue = by_loan[loan.id]
        days = max(days_overdue(row, today) for row in overdue)
        aged = bucket(days) or Bucket.M1
        amount = sum(amount_due(row) for row in overdue)
        penalty = sum(row.penalty_accrued_fen - row.penalty_paid_fen for row in overdue)
        if flt.bucket is not None and aged != flt.bucket:
            continue
        if flt.min_amount_fen is not None and amount < flt.min_amount_fen:
            continue
        if flt.max_amount_fen is not None and amount > flt.max_amount_fen:
            continue
        found.append((loan, days, aged, amount, penalty, len(overdue)))
    total = len(found)
    if after_id is not None:
        found = [entry for entry in found if entry[0].id > after_id]
    page = found[:first]
    people = {
        user.id: user
        for user in await User.filter(
            id__in={entry[0].borrower_id for entry in page}
            | {entry[0].collector_id for entry in page if entry[0].collector_id}
        )
    }
    return Page(
        rows=[
            OverdueLoan(
                loan=loan,
                borrower=people[loan.borrower_id],
                days_overdue=days,
                bucket=aged,
                overdue_amount_fen=amount,
                penalty_fen=penalty,
                overdue_installments=count,
                collector=people.get(loan.collector_id) if loan.collector_id else None,
            )
            for loan, days, aged, amount, penalty, count in page
        ],
        total=total,
    )


async def _overdue_loan(loan_id: int, *, lock: bool) -> Loan:
    query = Loan.filter(id=loan_id)
    loan = await (query.select_for_update() if lock else query).first()
    if loan is None:
        raise NotFoundError("No such loan", field="loanId")
    if not await LoanInstallment.filter(loan_id=loan.id, status=InstallmentStatus.OVERDUE).exists():
        raise DomainError("The loan has no overdue installment", code="NOT_OVERDUE", field="loanId")
    return loan


async def add_record(
    actor: Actor,
    *,
    loan_id: int,
    kind: CollectionKind,
    note: str,
    promised_amount_fen: int | None = None,
    promised_date: date | None = None,
) -> CollectionRecord:
    """Record a call, visit, message or promise to pay on a loan with an overdue
    installment. A PROMISE needs an amount above zero and a date after today; the other
    kinds take no amount or date and need a note (1-1000 characters; a promise's note may
    be empty). Raises NOT_FOUND, NOT_OVERDUE or INVALID (with the field)."""
    assert actor.user_id is not None
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidInputError(f"The note has at most {NOTE_MAX} characters", field="note")
    today = await clock.today()
    if kind == CollectionKind.PROMISE:
        if promised_amount_fen is None or promised_amount_fen <= 0:
            raise InvalidInputError("A promise needs an amount above zero", field="promisedAmount")
        if promised_date is None or promised_date <= today:
            raise InvalidInputError("A promise needs a date after today", field="promisedDate")
    else:
        if not text:
            raise InvalidInputError("Say what happened", field="note")
        if promised_amount_fen is not None:
            raise InvalidInputError("Only a promise has an amount", field="promisedAmount")
        if promised_date is not None:
            raise InvalidInputError("Only a promise has a date", field="promisedDate")
    async with in_transaction():
        loan = await _overdue_loan(loan_id, lock=True)
        return await CollectionRecord.create(
            loan_id=loan.id,
            collector_id=actor.user_id,
            kind=kind,
            note=text,
            promised_amount_fen=promised_amount_fen,
            promised_date=promised_date,
            created_at=await clock.now(),
        )


async def records(loan_id: int) -> list[CollectionRecord]:
    """A loan's collection records, newest first (an unknown loan has none)."""
    return await CollectionRecord.filter(loan_id=loan_id).order_by("-created_at", "-id")


async def _is_collector(user_id: int) -> bool:
    user = await User.get_or_none(id=user_id)
    if user is None or user.kind != UserKind.STAFF or user.status != UserStatus.ACTIVE:
        return False
    roles = await UserRole.filter(user_id=user_id).values_list("role_id", flat=True)
    grants = await role_grants()
    return any(str(Permission.COLLECTION_WRITE) in grants.get(str(role), ()) for role in roles)


async def assign_collector(actor: Actor, *, loan_id: int, collector_id: int) -> Loan:
    """Make an active staff member holding collection:write the loan's collector. Raises
    NOT_FOUND, NOT_OVERDUE or NOT_A_COLLECTOR (field collectorId)."""
    if not await _is_collector(collector_id):
        raise DomainError(
            "That person is not an active collector", code="NOT_A_COLLECTOR", field="collectorId"
        )
    async with in_transaction():
        loan = await _overdue_loan(loan_id, lock=True)
        loan.collector_id = collector_id
        await loan.save(update_fields=["collector_id"])
    return loan
