"""Investor returns (M12.3): each lender's XIRR from their own cash flows, and the
platform-wide one from every lender's flows pooled, realised and expected, as of a
business day. Definitions in docs/returns.md.

The flows are read by SQL, summed per day (three statements whatever the size of the
book): a lender's money out is each claim's principal on the day the loan was disbursed
(the claim's `created_at`; the parts of it sold since included) and each holding bought
on the secondary market at what it cost (price and accrued interest) on the day bought;
money in is what they had of it, each receipt's principal, interest and penalty (not the
`to_reserve` ones: those are the recoveries of whoever advanced), each advance's
principal, interest and penalty (the risk reserve's or a guarantor's), by the day paid,
and each sale's price and accrued interest less the transfer fee (the one fee a lender
pays) on the day sold. The principal outstanding
is counted at par: what came into the book (a claim's principal, a holding bought) less
what went out (principal had, principal sold).

- realised: the flows to the day, plus the principal still outstanding valued at par
  on that day (as if sold at par then).
- expected: the flows to the day, plus what the schedule still owes the holder on loans
  not in default: each open installment's share (the claim's part of the loan) on its
  due date, and what fell due and was not had yet on the day itself. A holding of a
  claim sold in part takes its principal target's part of the loan: the holdings of one
  line add up to the claim's share exactly (the pooled figures are exact), but between
  seller and buyer this splits the line's future flows by principal targets, not by
  what each still has outstanding (docs/secondary-market.md). A loan is in
  default once an installment has been unpaid more than 90 days (bucket M3_PLUS):
  nothing more is expected of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.members import User, UserKind
from models.repayments import InstallmentStatus
from services.analytics import snapshot_store
from services.analytics.window import reading
from services.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from services.identity.permissions import Actor, Permission
from services.kit.db import param
from services.money.xirr import xirr
from services.platform import clock

# A loan is in default (nothing more expected of it) once an installment has been
# unpaid this many days past its due date: the M3_PLUS bucket (services.repayments).
DEFAULT_AFTER_DAYS = 90
RATE_QUANTUM = Decimal("0.0001")
#: The platform-wide returns' name in `figure_snapshots`.
SNAPSHOT = "platform_returns"

_PAID = InstallmentStatus.PAID.value


@dataclass(frozen=True)
class LenderReturns:
    """One lender's (or, with `lender_id` None, every lender's pooled) returns on `as_of`.
    Amounts in fen; rates annual fractions rounded half-up to four places, None where
    the XIRR is undefined (no flow, or nothing both lent and had)."""

    lender_id: int | None
    as_of: date
    invested_fen: int
    received_fen: int
    outstanding_principal_fen: int
    realised_xirr: Decimal | None
    expected_xirr: Decimal | None


def _day(connection: Any, column: str) -> str:
    """The UTC business day of a timestamp column, in the connection's dialect."""
    if connection.capabilities.dialect == "postgres":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def _day_value(connection: Any, day: date) -> Any:
    """A day as a query parameter: a date for asyncpg, ISO text for SQLite (which keeps
    dates as text and whose date adapter is deprecated)."""
    return day if connection.capabilities.dialect == "postgres" else day.isoformat()


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _holder(connection: Any, column: str, lender_id: int | None, number: int) -> str:
    return "" if lender_id is None else f" AND {column} = {param(connection, number)}"


def _flows_sql(connection: Any, lender_id: int | None) -> str:
    """Per day to the as-of day ($1): money lent out, money had, and the principal (at
    par) that came into and went out of the book. Each source is summed per day first
    (PostgreSQL then sums each in parallel), the per-day lists are added up.

    - a claim from a bid (`line_id` null): its principal, the parts sold since included,
      lent on the day the loan was disbursed (the claim's `created_at`);
    - a holding bought on the market: the price and accrued interest paid, on the day of
      the purchase (its principal at par comes in);
    - a sale: the price and accrued interest less the fee, had on that day (the principal
      sold goes out);
    - receipts (not the reserve's) and the reserve's advances: had on their days."""
    on = param(connection, 1)
    stamp = _day(connection, "created_at")
    claim_day = _day(connection, "c.created_at")
    decided = _day(connection, "decided_at")
    done = "status = 'DONE'"
    return (
        "SELECT day, SUM(lent) AS lent, SUM(had) AS had, SUM(par_in) AS par_in,"
        " SUM(par_out) AS par_out FROM ("
        f" SELECT {claim_day} AS day, SUM(c.principal_fen + COALESCE(s.sold, 0)) AS lent,"
        " 0 AS had, SUM(c.principal_fen + COALESCE(s.sold, 0)) AS par_in, 0 AS par_out"
        " FROM claims c LEFT JOIN (SELECT seller_claim_id, SUM(principal_fen) AS sold"
        f" FROM claim_transfers WHERE {done} GROUP BY seller_claim_id) s"
        " ON s.seller_claim_id = c.id"
        f" WHERE c.line_id IS NULL AND {claim_day} <= {on}"
        f"{_holder(connection, 'c.holder_id', lender_id, 2)} GROUP BY {claim_day}"
        " UNION ALL"
        f" SELECT {decided} AS day, SUM(price_fen + accrued_interest_fen) AS lent, 0 AS had,"
        " SUM(principal_fen) AS par_in, 0 AS par_out"
        f" FROM claim_transfers WHERE {done} AND {decided} <= {on}"
        f"{_holder(connection, 'buyer_id', lender_id, 2)} GROUP BY {decided}"
        " UNION ALL"
        f" SELECT {decided} AS day, 0 AS lent,"
        " SUM(price_fen + accrued_interest_fen - fee_fen) AS had, 0 AS par_in,"
        " SUM(principal_fen) AS par_out"
        f" FROM claim_transfers WHERE {done} AND {decided} <= {on}"
        f"{_holder(connection, 'seller_id', lender_id, 2)} GROUP BY {decided}"
        " UNION ALL"
        f" SELECT {stamp} AS day, 0 AS lent,"
        " SUM(principal_fen + interest_fen + penalty_fen) AS had, 0 AS par_in,"
        " SUM(principal_fen) AS par_out"
        f" FROM repayment_receipts WHERE NOT to_reserve AND {stamp} <= {on}"
        f"{_holder(connection, 'holder_id', lender_id, 2)} GROUP BY {stamp}"
        " UNION ALL"
        f" SELECT {stamp} AS day, 0 AS lent,"
        " SUM(principal_fen + interest_fen + penalty_fen) AS had,"
        " 0 AS par_in, SUM(principal_fen) AS par_out"
        f" FROM reserve_advances WHERE {stamp} <= {on}"
        f"{_holder(connection, 'holder_id', lender_id, 2)} GROUP BY {stamp}"
        ") flows GROUP BY day ORDER BY day"
    )


def _open_sql(connection: Any, alias: str, on: str) -> str:
    """Installment `alias` was not yet fully paid on the day `on`."""
    return f"NOT ({alias}.status = '{_PAID}' AND {alias}.paid_on <= {on})"


def _running_sql(connection: Any, lender_id: int | None) -> str:
    """The claims held on the day ($1) on loans not in default then ($2: the due date
    before which an installment still open means default)."""
    on = param(connection, 1)
    cutoff = param(connection, 2)
    return (
        f"{_day(connection, 'c.created_at')} <= {on}"
        f"{_holder(connection, 'c.holder_id', lender_id, 3)}"
        " AND NOT EXISTS (SELECT 1 FROM loan_installments d WHERE d.loan_id = c.loan_id"
        f" AND d.due_date < {cutoff} AND {_open_sql(connection, 'd', on)})"
    )


def _scheduled_sql(connection: Any, lender_id: int | None) -> str:
    """Per due date after the day: the holders' shares of the installments still open,
    each share the installment's principal and interest times the claim's part of the
    loan, truncated to the fen."""
    on = param(connection, 1)
    return (
        "SELECT i.due_date AS day,"
        " SUM((i.principal_fen + i.interest_fen) * c.principal_fen / l.amount_fen) AS due"
        " FROM claims c JOIN loans l ON l.id = c.loan_id"
        " JOIN loan_installments i ON i.loan_id = c.loan_id"
        f" WHERE {_running_sql(connection, lender_id)}"
        f" AND i.due_date > {on} AND {_open_sql(connection, 'i', on)}"
        " GROUP BY i.due_date ORDER BY i.due_date"
    )


def _arrears_sql(connection: Any, lender_id: int | None) -> str:
    """What the holders are owed on the day and have not had: per claim, its share of
    the installments fallen due or paid by then less the principal and interest it had
    by then (never below zero), summed. Each side is summed once per loan or per claim
    and joined to the claims (not a subquery per claim: over a few hundred thousand
    claims that read the receipts once per claim). For one lender the sums are of
    their claims' rows only (indexes of 0029); for all of them, of every row."""
    on = param(connection, 1)
    loans_held = "" if lender_id is None else " AND i.loan_id IN (SELECT loan_id FROM held)"
    held = "" if lender_id is None else " AND {}.claim_id IN (SELECT id FROM held)"
    receipts = _day(connection, "r.created_at")
    advances = _day(connection, "a.created_at")
    return (
        "WITH held AS (SELECT c.id, c.loan_id, c.principal_fen FROM claims c"
        f" WHERE {_running_sql(connection, lender_id)}),"
        # BIGINT: PostgreSQL's SUM of integers is numeric, and the share below must be
        # truncated to the fen by integer division on both databases.
        " owed AS (SELECT i.loan_id, CAST(SUM(i.principal_fen + i.interest_fen) AS BIGINT)"
        " AS owed"
        " FROM loan_installments i"
        f" WHERE (i.due_date <= {on} OR NOT {_open_sql(connection, 'i', on)})"
        f"{loans_held} GROUP BY i.loan_id),"
        " had AS (SELECT claim_id, SUM(amount) AS had FROM ("
        " SELECT r.claim_id, r.principal_fen + r.interest_fen AS amount"
        f" FROM repayment_receipts r WHERE NOT r.to_reserve AND {receipts} <= {on}"
        f"{held.format('r')}"
        " UNION ALL SELECT a.claim_id, a.principal_fen + a.interest_fen AS amount"
        f" FROM reserve_advances a WHERE {advances} <= {on}{held.format('a')}) flows"
        " GROUP BY claim_id)"
        " SELECT COALESCE(SUM(CASE WHEN owed > had THEN owed - had ELSE 0 END), 0) AS arrears"
        " FROM (SELECT COALESCE(owed.owed, 0) * h.principal_fen / l.amount_fen AS owed,"
        " COALESCE(had.had, 0) AS had"
        " FROM held h JOIN loans l ON l.id = h.loan_id"
        " LEFT JOIN owed ON owed.loan_id = h.loan_id"
        " LEFT JOIN had ON had.claim_id = h.id) per_claim"
    )


@dataclass(frozen=True)
class _Book:
    """What the SQL read: the dated flows to the day, the totals, and what is still to
    come (arrears on the day, scheduled shares on their due dates)."""

    flows: list[tuple[date, int]]
    invested_fen: int
    received_fen: int
    outstanding_fen: int  # principal at par still in the book
    to_come: list[tuple[date, int]]


async def _read(lender_id: int | None, as_of: date) -> _Book:
    async with reading() as (connection, _sql):
        return await _read_on(connection, lender_id, as_of)


async def _read_on(connection: Any, lender_id: int | None, as_of: date) -> _Book:
    on = _day_value(connection, as_of)
    cutoff = _day_value(connection, as_of - timedelta(days=DEFAULT_AFTER_DAYS))
    holder = [] if lender_id is None else [lender_id]
    rows = await connection.execute_query_dict(_flows_sql(connection, lender_id), [on, *holder])
    flows: list[tuple[date, int]] = []
    invested = received = outstanding = 0
    for row in rows:
        lent, had = int(row["lent"]), int(row["had"])
        invested += lent
        received += had
        outstanding += int(row["par_in"]) - int(row["par_out"])
        flows.append((_as_day(row["day"]), had - lent))
    scheduled = await connection.execute_query_dict(
        _scheduled_sql(connection, lender_id), [on, cutoff, *holder]
    )
    arrears = await connection.execute_query_dict(
        _arrears_sql(connection, lender_id), [on, cutoff, *holder]
    )
    to_come = [(as_of, int(arrears[0]["arrears"]))]
    to_come += [(_as_day(row["day"]), int(row["due"])) for row in scheduled]
    return _Book(flows, invested, received, outstanding, [f for f in to_come if f[1]])


def _rate(flows: list[tuple[date, int]]) -> Decimal | None:
    """The XIRR of the flows as a Decimal rounded half-up to four places (the `Rate`
    on the wire), None where it is undefined."""
    found = xirr(flows)
    if found is None:
        return None
    return Decimal(repr(found)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


async def compute(lender_id: int | None, as_of: date) -> LenderReturns:
    book = await _read(lender_id, as_of)
    outstanding = book.outstanding_fen
    realised = list(book.flows)
    if outstanding:
        realised.append((as_of, outstanding))
    return LenderReturns(
        lender_id=lender_id,
        as_of=as_of,
        invested_fen=book.invested_fen,
        received_fen=book.received_fen,
        outstanding_principal_fen=outstanding,
        realised_xirr=_rate(realised),
        expected_xirr=_rate(book.flows + book.to_come),
    )


async def _day_asked(as_of: date | None) -> date:
    """The as-of day: today on the business clock when not given; a day after today is
    refused (InvalidInputError, field asOf): nothing is known of it yet."""
    today = await clock.today()
    if as_of is None:
        return today
    if as_of > today:
        raise InvalidInputError("asOf may not be after today", field="asOf")
    return as_of


async def lender_returns(
    *, actor: Actor, lender_id: int | None = None, as_of: date | None = None
) -> LenderReturns:
    """A lender's returns as of a day (default today). A member reads their own
    (`lender_id` None or their own id); staff with `analytics:read` read any member's.

    Raises PermissionDeniedError when a member asks for another lender (whether or not
    that lender exists: ids are not probed this way) or a caller without a user asks at
    all, NotFoundError when staff ask for an id that is no member, InvalidInputError for
    a day after today.
    """
    if actor.user_id is None:
        raise PermissionDeniedError("Only a member or staff can read returns")
    wanted = actor.user_id if lender_id is None else lender_id
    if wanted != actor.user_id:
        if not actor.can(Permission.ANALYTICS_READ):
            raise PermissionDeniedError("You may read only your own returns")
        if not await User.exists(id=wanted, kind=UserKind.MEMBER):
            raise NotFoundError("No such lender", field="lenderId")
    return await compute(wanted, await _day_asked(as_of))


async def platform_returns(*, actor: Actor, as_of: date | None = None) -> LenderReturns:
    """Every lender's flows pooled into one XIRR, realised and expected, as of a day
    (default today); `lender_id` is None. A closed day is read from its snapshot when
    the job took one (`services.analytics.snapshots`). Needs `analytics:read`
    (PermissionDeniedError); InvalidInputError for a day after today."""
    if not actor.can(Permission.ANALYTICS_READ):
        raise PermissionDeniedError("Platform returns are for staff with analytics:read")
    day = await _day_asked(as_of)
    if day < await clock.today():  # a closed day: its snapshot, when the job took one
        taken = await snapshot_store.stored(LenderReturns, SNAPSHOT, day)
        if taken is not None:
            return taken
    return await compute(None, day)
