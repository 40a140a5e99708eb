"""A member's money movements (M1.12): every posting on their accounts, filterable,
paginated, with the running balance of the account after it, and a CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.queryset import QuerySet

from models.ledger import Posting
from services.errors import InvalidInputError
from services.identity.permissions import Actor
from services.money.money import format_money
from services.pages import Page

ACCOUNT_NAMES = {"available": "AVAILABLE", "frozen": "FROZEN", "withdrawing": "PENDING_WITHDRAWAL"}
MAX_EXPORT_ROWS = 10_000


@dataclass(frozen=True)
class TransactionFilter:
    kinds: tuple[str, ...] = ()
    date_from: date | None = None  # inclusive, UTC dates
    date_to: date | None = None  # inclusive


@dataclass(frozen=True)
class Movement:
    id: int
    kind: str
    account: str  # AVAILABLE / FROZEN / PENDING_WITHDRAWAL
    amount: int
    balance_after: int
    memo: str
    created_at: datetime


def _query(user_id: int, where: TransactionFilter) -> QuerySet[Posting]:
    if where.date_from and where.date_to and where.date_from > where.date_to:
        raise InvalidInputError("`from` is after `to`", field="from")
    query = Posting.filter(account__user_id=user_id)
    if where.kinds:
        query = query.filter(journal__kind__in=list(where.kinds))
    if where.date_from:
        query = query.filter(
            created_at__gte=datetime.combine(where.date_from, time.min, tzinfo=UTC)
        )
    if where.date_to:
        end = datetime.combine(where.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.filter(created_at__lt=end)
    return query


def _movement(posting: Posting) -> Movement:
    suffix = posting.account.code.rsplit(":", 1)[1]
    return Movement(
        id=posting.id,
        kind=posting.journal.kind,
        account=ACCOUNT_NAMES.get(suffix, suffix.upper()),
        amount=posting.amount,
        balance_after=posting.balance_after,
        memo=posting.journal.memo,
        created_at=posting.created_at,
    )


async def list_movements(
    *, actor: Actor, where: TransactionFilter, first: int, before_id: int | None = None
) -> Page[Movement]:
    """The actor's own movements, newest first (only their own accounts are read)."""
    assert actor.user_id is not None
    query = _query(actor.user_id, where)
    total = await query.count()
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(first).prefetch_related("journal", "account")
    return Page(rows=[_movement(row) for row in rows], total=total)


async def export_csv(*, actor: Actor, where: TransactionFilter) -> str:
    """All matching movements (at most 10,000, newest first) as CSV, amounts in yuan."""
    assert actor.user_id is not None
    rows = (
        await _query(actor.user_id, where)
        .order_by("-id")
        .limit(MAX_EXPORT_ROWS)
        .prefetch_related("journal", "account")
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "time_utc", "kind", "account", "amount", "balance_after", "memo"])
    for row in rows:
        movement = _movement(row)
        writer.writerow(
            [
                movement.id,
                movement.created_at.isoformat(timespec="seconds"),
                movement.kind,
                movement.account,
                format_money(movement.amount),
                format_money(movement.balance_after),
                movement.memo,
            ]
        )
    return out.getvalue()
