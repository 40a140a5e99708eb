"""The overdue list and collection work (M9.3, M9.4): which loans are overdue, by how long
and how much, who collects them, and what collectors recorded.

A loan is on the list while any of its installments is OVERDUE. Its days overdue are the
oldest overdue installment's (today - due date), its bucket that figure's, and its
overdue amount what is still owed on its overdue installments: principal, interest, fee
and the penalty accrued so far. The list is computed per request in SQL, grouped by
loan, one page at a time (keyset on the loan id); M12's reports will keep their own
figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tortoise.expressions import F, Subquery
from tortoise.functions import Count, Min, Sum
from tortoise.queryset import QuerySet
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


# Days past due of each bucket (`overdue_policy.bucket`), as bounds on a loan's oldest
# overdue due date; a loan not yet past it (0 days) is listed as M1.
_BUCKET_DAYS: dict[Bucket, tuple[int | None, int | None]] = {
    Bucket.M1: (None, 30),
    Bucket.M2: (31, 60),
    Bucket.M3: (61, 90),
    Bucket.M3_PLUS: (91, None),
}


def _owed() -> Any:
    """What an installment still owes: principal, interest, fee and accrued penalty."""
    return (
        F("principal_fen")
        - F("paid_principal_fen")
        + F("interest_fen")
        - F("paid_interest_fen")
        + F("fee_fen")
        - F("paid_fee_fen")
        + F("penalty_accrued_fen")
        - F("penalty_paid_fen")
    )


def _overdue_groups(flt: OverdueFilter, today: date) -> QuerySet[LoanInstallment]:
    """One group per loan with an OVERDUE installment: its oldest due date, what it owes,
    its penalty and its number of overdue installments; filtered in SQL (HAVING)."""
    query = LoanInstallment.filter(status=InstallmentStatus.OVERDUE)
    if flt.collector_id is not None:
        query = query.filter(loan__collector_id=flt.collector_id)
    query = query.annotate(
        oldest_due=Min("due_date"),
        owed=Sum(_owed()),
        penalty=Sum(F("penalty_accrued_fen") - F("penalty_paid_fen")),
        overdue_count=Count("id"),
    ).group_by("loan_id")
    if flt.bucket is not None:
        fewest, most = _BUCKET_DAYS[flt.bucket]
        if most is not None:
            query = query.filter(oldest_due__gte=today - timedelta(days=most))
        if fewest is not None:
            query = query.filter(oldest_due__lte=today - timedelta(days=fewest))
    if flt.min_amount_fen is not None:
        query = query.filter(owed__gte=flt.min_amount_fen)
    if flt.max_amount_fen is not None:
        query = query.filter(owed__lte=flt.max_amount_fen)
    return query


def _day(value: date | str) -> date:
    # SQLite answers an aggregate of a date column as its ISO text.
    return value if isinstance(value, date) else date.fromisoformat(value)


async def overdue_loans(
    flt: OverdueFilter, *, first: int, after_id: int | None, today: date | None = None
) -> Page[OverdueLoan]:
    """Overdue loans in loan id order, filtered; `first` rows after `after_id`. The page
    is found in SQL (grouped by loan, keyset on the loan id): four statements whatever the
    number of overdue loans and installments."""
    today = today or await clock.today()
    groups = _overdue_groups(flt, today)
    total = await Loan.filter(id__in=Subquery(groups.values("loan_id"))).count()
    if after_id is not None:
        groups = groups.filter(loan_id__gt=after_id)
    page = (
        await groups.order_by("loan_id")
        .limit(first)
        .values("loan_id", "oldest_due", "owed", "penalty", "overdue_count")
    )
    loans = {loan.id: loan for loan in await Loan.filter(id__in=[row["loan_id"] for row in page])}
    people = {
        user.id: user
        for user in await User.filter(
            id__in={loan.borrower_id for loan in loans.values()}
            | {loan.collector_id for loan in loans.values() if loan.collector_id}
        )
    }
    rows = []
    for row in page:
        loan = loans[row["loan_id"]]
        days = max(0, (today - _day(row["oldest_due"])).days)
        rows.append(
            OverdueLoan(
                loan=loan,
                borrower=people[loan.borrower_id],
                days_overdue=days,
                bucket=bucket(days) or Bucket.M1,
                overdue_amount_fen=int(row["owed"]),
                penalty_fen=int(row["penalty"]),
                overdue_installments=int(row["overdue_count"]),
                collector=people.get(loan.collector_id) if loan.collector_id else None,
            )
        )
    return Page(rows=rows, total=total)


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
