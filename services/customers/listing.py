"""The customer list (M5.1): members found by name, phone or ID number, filtered, paged.

Phone and ID numbers are stored encrypted; a full number is found through its keyed
lookup hash (`lookup_hash`), never by comparing clear text, and a masked phone
("138****5678") by the masked column. Anything else is a name: part of the display
name, or the masked real name as shown ("张*"). LIKE wildcards in a name are escaped by
the ORM, so "%" finds a "%" and nothing else.

A page is six statements whatever its size: the members (keyset on id, newest first),
their count, and the page's members' balances, grades, custody accounts and loans, each
for all of them at once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models.credit import CreditProfile
from models.ledger import LedgerAccount
from models.loans import Loan, LoanStatus
from models.members import User, UserKind, UserStatus
from models.payments import ProviderAccount
from services.customers.status import CLOSED_LOAN
from services.errors import InvalidInputError
from services.identity.permissions import Actor, Permission
from services.kit.security import lookup_hash
from services.money.accounts import validate_id_number
from services.pages import Page

SEARCH_MAX = 64
_PHONE = re.compile(r"(?:\+86)?1[3-9]\d{9}")
_MASKED_PHONE = re.compile(r"1[3-9]\d\*{4}\d{4}")


@dataclass(frozen=True)
class CustomerFilter:
    search: str | None = None
    status: UserStatus | None = None
    grade: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    has_overdue: bool | None = None


@dataclass(frozen=True)
class CustomerRow:
    user: User
    grade: str
    real_name_masked: str
    id_number_masked: str
    available_fen: int
    frozen_fen: int
    withdrawing_fen: int
    open_loans: int
    overdue_loans: int


def _search(text: str) -> Q:
    value = re.sub(r"[\s-]", "", text)
    if _PHONE.fullmatch(value):
        return Q(phone_lookup=lookup_hash(value.removeprefix("+86")))
    if _MASKED_PHONE.fullmatch(value):
        return Q(phone_masked=value)
    if re.fullmatch(r"\d{17}[\dXx]", value):
        try:
            number = validate_id_number(value)
        except InvalidInputError:
            return Q(id=-1)  # not a real ID number: nobody has it
        return Q(
            id__in=Subquery(
                ProviderAccount.filter(
                    id_number_lookup=lookup_hash(number), user_id__isnull=False
                ).values("user_id")
            )
        )
    name = text.strip()
    return Q(display_name__icontains=name) | Q(
        id__in=Subquery(
            ProviderAccount.filter(real_name_masked=name, user_id__isnull=False).values("user_id")
        )
    )


def _query(wanted: CustomerFilter) -> QuerySet[User]:
    query = User.filter(kind=UserKind.MEMBER)
    if wanted.search is not None:
        text = wanted.search.strip()
        if len(text) > SEARCH_MAX:
            raise InvalidInputError(f"Search with at most {SEARCH_MAX} characters", field="search")
        if text:
            query = query.filter(_search(text))
    if wanted.status is not None:
        query = query.filter(status=wanted.status)
    if wanted.grade is not None:
        query = query.filter(
            id__in=Subquery(CreditProfile.filter(grade=wanted.grade).values("user_id"))
        )
    zone = UTC  # registration times are stored in UTC, days are UTC days
    if wanted.registered_from is not None:
        query = query.filter(
            created_at__gte=datetime.combine(wanted.registered_from, time(), tzinfo=zone)
        )
    if wanted.registered_to is not None:
        end = wanted.registered_to + timedelta(days=1)
        query = query.filter(created_at__lt=datetime.combine(end, time(), tzinfo=zone))
    if wanted.has_overdue is not None:
        overdue = Subquery(Loan.filter(status=LoanStatus.OVERDUE).values("borrower_id"))
        query = (
            query.filter(id__in=overdue) if wanted.has_overdue else query.exclude(id__in=overdue)
        )
    return query


async def customers(
    *, actor: Actor, wanted: CustomerFilter, first: int, before_id: int | None
) -> Page[CustomerRow]:
    """Members newest first, `first` rows after the cursor (one more tells that a next
    page exists). Raises InvalidInputError (search too long)."""
    if not actor.can(Permission.CUSTOMERS_READ):  # gate 1 checks it too
        return Page(rows=[], total=0)
    query = _query(wanted)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    users = await query.order_by("-id").limit(first)
    return Page(rows=await rows_for(users), total=total)


async def rows_for(users: list[User]) -> list[CustomerRow]:
    """The list's columns for these members (four statements for all of them)."""
    ids = [user.id for user in users]
    if not ids:
        return []
    balances: dict[int, dict[str, int]] = defaultdict(dict)
    for user_id, code, balance in await LedgerAccount.filter(user_id__in=ids).values_list(
        "user_id", "code", "balance"
    ):
        balances[user_id][code.rsplit(":", 1)[1]] = balance
    grades = dict(await CreditProfile.filter(user_id__in=ids).values_list("user_id", "grade"))
    accounts = {
        row[0]: row[1:]
        for row in await ProviderAccount.filter(user_id__in=ids).values_list(
            "user_id", "real_name_masked", "id_number_masked"
        )
    }
    loans: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    counted = (
        await Loan.filter(borrower_id__in=ids)
        .exclude(status__in=CLOSED_LOAN)
        .annotate(n=Count("id"))
        .group_by("borrower_id", "status")
        .values_list("borrower_id", "status", "n")
    )
    for borrower_id, status, n in counted:
        loans[borrower_id][0] += n
        if status == LoanStatus.OVERDUE:
            loans[borrower_id][1] += n
    found = []
    for user in users:
        money = balances.get(user.id, {})
        name, id_masked = accounts.get(user.id, ("", ""))
        found.append(
            CustomerRow(
                user=user,
                grade=grades.get(user.id, "HR"),
                real_name_masked=name,
                id_number_masked=id_masked,
                available_fen=money.get("available", 0),
                frozen_fen=money.get("frozen", 0),
                withdrawing_fen=money.get("withdrawing", 0),
                open_loans=loans[user.id][0],
                overdue_loans=loans[user.id][1],
            )
        )
    return found
