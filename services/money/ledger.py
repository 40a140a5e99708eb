"""Double-entry ledger (architecture "Ledger and settlement").

Every business event is one journal of signed postings summing to zero, written in the
caller's database transaction with a unique idempotency key. Accounts are locked in
code order (a fixed order, so two journals never deadlock) and member accounts may not
go below zero: checked here under the lock, and by a CHECK constraint in the database.
Posted journals are never changed; a correction is a new journal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise import connections
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models.ledger import AccountKind, Journal, LedgerAccount, Posting
from services.errors import DomainError
from services.kit.db import insert_unnest, param
from services.platform import clock

BANK = "x:bank"
SUSPENSE = "x:suspense"
FEE = "p:fee"
RISK_RESERVE = "p:risk_reserve"
GUARANTEE_FUND = "p:guarantee_fund"
MARGIN = "p:margin"

PLATFORM_ACCOUNTS: dict[str, tuple[AccountKind, bool]] = {
    FEE: (AccountKind.PLATFORM_FEE, False),
    RISK_RESERVE: (AccountKind.RISK_RESERVE, False),
    GUARANTEE_FUND: (AccountKind.GUARANTEE_FUND, False),
    MARGIN: (AccountKind.MARGIN, False),
    # The outside world: money entering the provider is taken from the bank account,
    # so it runs negative by exactly the money the provider holds.
    BANK: (AccountKind.BANK, True),
    SUSPENSE: (AccountKind.SUSPENSE, True),
}


class InsufficientFundsError(DomainError):
    code = "INSUFFICIENT_FUNDS"


class LedgerError(Exception):
    """A programming error: unbalanced journal, unknown account, key reused differently."""


def available(user_id: int) -> str:
    return f"m:{user_id}:available"


def frozen(user_id: int) -> str:
    return f"m:{user_id}:frozen"


def withdrawing(user_id: int) -> str:
    return f"m:{user_id}:withdrawing"


_MEMBER_KINDS = {
    "available": AccountKind.MEMBER_AVAILABLE,
    "frozen": AccountKind.MEMBER_FROZEN,
    "withdrawing": AccountKind.MEMBER_WITHDRAWING,
}


async def ensure_platform_accounts() -> None:
    """Create the platform and outside-world accounts if missing (idempotent)."""
    for code, (kind, allow_negative) in PLATFORM_ACCOUNTS.items():
        await LedgerAccount.get_or_create(
            code=code, defaults={"kind": kind, "allow_negative": allow_negative}
        )


def org_margin(code: str) -> str:
    """The margin account of an organisation's account `code` (`g:<id>`)."""
    return f"{code}:margin"


async def ensure_org_accounts(code: str) -> None:
    """Create a guarantee company's available (`g:<id>`) and margin accounts if missing."""
    for account, kind in (
        (code, AccountKind.GUARANTOR_AVAILABLE),
        (org_margin(code), AccountKind.GUARANTOR_MARGIN),
    ):
        await LedgerAccount.get_or_create(code=account, defaults={"kind": kind})


async def ensure_member_accounts(user_id: int) -> None:
    """Create a member's available, frozen and withdrawing accounts if missing."""
    for suffix, kind in _MEMBER_KINDS.items():
        await LedgerAccount.get_or_create(
            code=f"m:{user_id}:{suffix}", defaults={"kind": kind, "user_id": user_id}
        )


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int


async def post(
    *, key: str, kind: str, entries: Sequence[tuple[str, int]], memo: str = ""
) -> Journal:
    """Write one balanced journal; idempotent by `key`.

    The same key with the same entries returns the first journal and changes nothing;
    with different entries it raises LedgerError. Raises InsufficientFundsError when a
    member or platform account would go below zero (nothing is written then).
    """
    return (await post_many([JournalLines(key, kind, entries, memo)]))[0]


@dataclass(frozen=True)
class JournalLines:
    """A journal to write: its idempotency key, kind, (account code, signed fen) entries."""

    key: str
    kind: str
    entries: Sequence[tuple[str, int]]
    memo: str = ""


def _lines(journal: JournalLines) -> list[Entry]:
    lines = [Entry(account, int(amount)) for account, amount in journal.entries if amount]
    if not lines:
        raise LedgerError("a journal needs at least one non-zero posting")
    if sum(line.amount for line in lines) != 0:
        raise LedgerError(f"journal {journal.key} does not balance: {lines}")
    return lines


async def post_many(journals: Sequence[JournalLines], *, answer: bool = True) -> list[Journal]:
    """Write several balanced journals, in their order, as `post` would one after the
    other (the same postings, running balances and checks), in a number of statements
    that does not grow with them: a settlement's transfer to each of a loan's holders.
    Idempotent by each key as `post` is (a journal written before is checked and
    returned, the others written). All or nothing: InsufficientFundsError when an
    account that may not go negative would, at any point of the sequence. With
    `answer` false nothing is returned (on PostgreSQL the journals and their postings
    are then written by one statement, no id coming back: a day's batch writes
    thousands)."""
    lines = {journal.key: _lines(journal) for journal in journals}
    if len(lines) != len(journals):
        raise LedgerError("one idempotency key twice in one call")
    async with in_transaction() as connection:
        existing = await _existing(connection, list(lines))
        for key, stored in existing.items():
            await _check_same(stored, lines[key])
        new = [asked for asked in journals if asked.key not in existing]
        if not new:
            return [existing[asked.key] for asked in journals]
        codes = sorted({line.account for journal in new for line in lines[journal.key]})
        # Fixed lock order (by code) so concurrent journals cannot deadlock.
        accounts = {
            account.code: account
            for account in await LedgerAccount.filter(code__in=codes)
            .order_by("code")
            .select_for_update()
        }
        missing = [code for code in codes if code not in accounts]
        if missing:
            raise LedgerError(f"unknown ledger accounts: {missing}")
        running = {code: accounts[code].balance for code in codes}
        after: list[list[int]] = []
        for asked in new:
            # Each journal's net per account, checked as `post` checks one journal.
            deltas: Counter[str] = Counter()
            for line in lines[asked.key]:
                deltas[line.account] += line.amount
            for code, delta in deltas.items():
                if not accounts[code].allow_negative and running[code] + delta < 0:
                    raise InsufficientFundsError("Not enough money in the account", field="amount")
            balances = []
            for line in lines[asked.key]:
                running[line.account] += line.amount
                balances.append(running[line.account])
            after.append(balances)
        today = await clock.today()
        postings = [
            (asked.key, accounts[line.account].id, line.amount, balance_after)
            for asked, balances in zip(new, after, strict=True)
            for line, balance_after in zip(lines[asked.key], balances, strict=True)
        ]
        if connection.capabilities.dialect == "postgres" and not answer:
            await _insert_together(connection, new, postings, today)
            written = {}
        elif connection.capabilities.dialect == "postgres":
            written = await _insert_unnest(connection, new, postings, today)
        else:
            written = await _insert_orm(new, postings, today)
        await _set_balances(connection, {accounts[code].id: running[code] for code in codes})
    if not answer:
        return []
    return [existing.get(asked.key) or written[asked.key] for asked in journals]


async def _insert_together(
    connection: Any,
    new: list[JournalLines],
    postings: list[tuple[str, int, int, int]],
    today: date,
) -> None:
    """The journals and their postings in one statement on PostgreSQL: the journals
    inserted in a CTE, the postings joined to them by key, in their order."""
    now = datetime.now(UTC)
    columns: list[Sequence[Any]] = (
        list(zip(*postings, strict=True)) if postings else [[], [], [], []]
    )
    await connection.execute_query(
        "WITH j AS (INSERT INTO ledger_journals"
        " (idempotency_key, kind, memo, business_date, created_at)"
        " SELECT k, t, m, $4::date, $5::timestamptz"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, t, m)"
        " RETURNING id, idempotency_key)"
        " INSERT INTO ledger_postings (journal_id, account_id, amount, balance_after, created_at)"
        " SELECT j.id, p.a, p.x, p.b, $5::timestamptz"
        " FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::bigint[])"
        " WITH ORDINALITY AS p(k, a, x, b, n) JOIN j ON j.idempotency_key = p.k ORDER BY p.n",
        [
            [j.key for j in new],
            [j.kind for j in new],
            [j.memo[:255] for j in new],
            today,
            now,
            list(columns[0]),
            list(columns[1]),
            list(columns[2]),
            list(columns[3]),
        ],
    )


async def _existing(connection: Any, keys: list[str]) -> dict[str, Journal]:
    """The journals already written under `keys`. Many keys on PostgreSQL: first which
    exist, by one array parameter (no SQL text with thousands of parameters to build
    and plan), then those few read."""
    if connection.capabilities.dialect == "postgres" and len(keys) > 100:
        found = await connection.execute_query_dict(
            "SELECT idempotency_key FROM ledger_journals WHERE idempotency_key = ANY($1::text[])",
            [keys],
        )
        keys = [str(row["idempotency_key"]) for row in found]
        if not keys:
            return {}
    return {
        journal.idempotency_key: journal
        for journal in await Journal.filter(idempotency_key__in=keys).using_db(connection)
    }


async def _insert_orm(
    new: list[JournalLines], postings: list[tuple[str, int, int, int]], today: date
) -> dict[str, Journal]:
    """The journals and their postings written through the ORM (SQLite)."""
    await Journal.bulk_create(
        [
            Journal(idempotency_key=j.key, kind=j.kind, memo=j.memo[:255], business_date=today)
            for j in new
        ]
    )
    written = {
        journal.idempotency_key: journal
        for journal in await Journal.filter(idempotency_key__in=[j.key for j in new])
    }
    await Posting.bulk_create(
        [
            Posting(
                journal_id=written[key].id,
                account_id=account_id,
                amount=amount,
                balance_after=balance_after,
            )
            for key, account_id, amount, balance_after in postings
        ]
    )
    return written


async def _insert_unnest(
    connection: Any,
    new: list[JournalLines],
    postings: list[tuple[str, int, int, int]],
    today: date,
) -> dict[str, Journal]:
    """The same rows in two statements on PostgreSQL (`insert_unnest`), no model object
    per posting and no read of the journals back: a day's settlement writes thousands."""
    now = datetime.now(UTC)
    rows = await insert_unnest(
        connection,
        "ledger_journals",
        [
            ("idempotency_key", "text"),
            ("kind", "text"),
            ("memo", "text"),
            ("business_date", "date"),
            ("created_at", "timestamptz"),
        ],
        [(j.key, j.kind, j.memo[:255], today, now) for j in new],
        returning="id, idempotency_key",
    )
    ids = {str(row["idempotency_key"]): int(row["id"]) for row in rows}
    await insert_unnest(
        connection,
        "ledger_postings",
        [
            ("journal_id", "bigint"),
            ("account_id", "bigint"),
            ("amount", "bigint"),
            ("balance_after", "bigint"),
            ("created_at", "timestamptz"),
        ],
        [(ids[key], account_id, amount, after, now) for key, account_id, amount, after in postings],
    )
    written = {}
    for j in new:
        journal = Journal(
            id=ids[j.key],
            idempotency_key=j.key,
            kind=j.kind,
            memo=j.memo[:255],
            business_date=today,
            created_at=now,
        )
        journal._saved_in_db = True
        written[j.key] = journal
    return written


async def _set_balances(connection: Any, balances: dict[int, int]) -> None:
    """Every account's new balance in one UPDATE."""
    values: list[int] = []
    cases = []
    for account_id, amount in balances.items():
        values += [account_id, amount]
        cases.append(
            f"WHEN {param(connection, len(values) - 1)}"
            f" THEN CAST({param(connection, len(values))} AS BIGINT)"
        )
    ids = ", ".join(param(connection, 2 * n + 1) for n in range(len(balances)))
    await connection.execute_query(
        f"UPDATE ledger_accounts SET balance = CASE id {' '.join(cases)} END WHERE id IN ({ids})",
        values,
    )


async def _check_same(journal: Journal, lines: list[Entry]) -> None:
    stored = await Posting.filter(journal=journal).values_list("account__code", "amount")
    if Counter(stored) != Counter((line.account, line.amount) for line in lines):
        raise LedgerError(f"idempotency key {journal.idempotency_key} reused with other postings")


async def balance(code: str) -> int:
    account = await LedgerAccount.get_or_none(code=code)
    return account.balance if account else 0


async def member_balances(user_id: int) -> dict[str, int]:
    """available, frozen and withdrawing of a member, in fen."""
    rows = await LedgerAccount.filter(user_id=user_id).values_list("code", "balance")
    result = dict.fromkeys(_MEMBER_KINDS, 0)
    for code, amount in rows:
        result[code.rsplit(":", 1)[1]] = amount
    return result


@dataclass(frozen=True)
class LedgerCheck:
    unbalanced_journals: list[int]
    drifted_accounts: list[str]
    negative_accounts: list[str]

    @property
    def ok(self) -> bool:
        return not (self.unbalanced_journals or self.drifted_accounts or self.negative_accounts)


async def check() -> LedgerCheck:
    """Every journal sums to zero; every balance equals the sum of its postings; no
    account that may not go negative is negative.

    Balances and their postings' sums come from one statement, so from one snapshot:
    journals committed while the check runs (provider callbacks, other workers) count
    whole or not at all, never as a balance ahead of its postings. A journal is written
    in one transaction, so the journal sums cannot catch one half-written either.
    """
    sums = (
        await Posting.all()
        .group_by("journal_id")
        .annotate(total=Sum("amount"))
        .values_list("journal_id", "total")
    )
    unbalanced = sorted(journal for journal, total in sums if int(total or 0) != 0)
    rows = await connections.get("default").execute_query_dict(
        "SELECT a.code, a.balance, a.allow_negative, COALESCE(SUM(p.amount), 0) AS total"
        " FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id"
        " GROUP BY a.id, a.code, a.balance, a.allow_negative"
    )
    drifted, negative = [], []
    for row in rows:
        if int(row["total"]) != int(row["balance"]):
            drifted.append(row["code"])
        if not row["allow_negative"] and int(row["balance"]) < 0:
            negative.append(row["code"])
    return LedgerCheck(unbalanced, sorted(drifted), sorted(negative))
