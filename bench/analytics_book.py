"""The analytics bench's data: a year of a loan book (100,000 disbursed loans by default)
written straight into a migrated PostgreSQL database by COPY, in the tables the lending
and repayment flows write and the figures read (services/analytics): members (borrowers,
lenders, idle members), loans, the accepted bids and the claims they became, the
installment schedules (`services.loans.schedule.build_schedule`), the repayments DONE
and each holder's receipts, and the risk reserve's advances and what it recovered.

Seeded and deterministic: the same `--seed` and size give the same rows. The generator
keeps the totals it wrote (`Expected`) so that the bench checks the figures' answers
against them. The ledger, the contracts and the payment rows are not written: no figure
reads them.

The book, as of `AS_OF` (2026-12-31; business today in the bench), loans disbursed
through 2026 at any time of day:

- borrowers: 60 % of the loan count, drawn with a skew (borrower k about k^-1/3 as
  likely), so the largest ones hold tens of loans; lenders: 20 % of the loan count,
  drawn with a stronger skew (the first lender holds about 0.7 % of all claims); idle
  members: 10 % of the loan count, registered through the year.
- loans: 1,000 to 200,000 yuan (log-uniform, in hundreds), 6.00 % to 17.75 % a year,
  3 to 36 months (mostly 6 and 12), equal installments (60 %) or equal principal; one to
  five claims each, of distinct lenders, adding up to the amount. Besides them, one in
  25 loans never disbursed (listed, failed, rejected, cancelled): counted nowhere.
- repayments: 82 % of borrowers pay each installment on its due date or up to three
  days early; 10 % pay each installment late with probability 0.35 (1-45 days, one in
  ten of those up to 120 days); 8 % pay until some installment and then never. Every
  installment is paid after the one before (repayments pay the oldest first); one
  repayment per installment paid, one receipt per claim (largest-remainder shares of
  principal, interest and penalty). Late installments accrue 0.05 % a day of their
  principal and interest as penalty.
- reserve advances: on a quarter of the loans of late payers and defaulters, an
  installment still unpaid 15 days after its due date is advanced by the risk reserve
  to every holder (their share of principal and interest); when the borrower pays it
  later, those shares are receipts `to_reserve` (what the reserve recovered) and only
  the penalty goes to the holders.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from services.loans.schedule import LoanTerms, RepaymentMethod, build_schedule, round_half_up
from services.money.money import allocate

#: Bump when the generator writes different rows: a database kept with `--reuse` from an
#: older generator is then written again.
GENERATOR_VERSION = 1

START = date(2026, 1, 1)
AS_OF = date(2026, 12, 31)
YEAR_SECONDS = ((AS_OF - START).days + 1) * 86_400

TERMS = (3, 6, 9, 12, 18, 24, 36)
TERM_WEIGHTS = (10, 20, 10, 30, 10, 15, 5)
RESERVE_AFTER_DAYS = 15
PENALTY_MICRO_PER_DAY = 500  # 0.05 % a day: millionths of a fen per fen per day
BUCKETS = (("M1", 1, 30), ("M2", 31, 60), ("M3_PLUS", 61, None), ("OVER_90", 91, None))
CHUNK_LOANS = 2_000

USER_COLUMNS = (
    "id kind status phone_lookup phone_cipher phone_masked display_name password_hash"
    " failed_logins login_locked_until created_at updated_at"
).split()
LOAN_COLUMNS = (
    "id amount_fen annual_rate term_months method day_count purpose bid_window_days"
    " bidding_opens_at bidding_closes_at min_bid_fen max_bid_fen collateral_ref"
    " guarantee_ref status funded_fen bidder_count required_levels next_review_level"
    " auto_review all_in_cost fee_terms rejection_reason created_at listed_at closed_at"
    " borrower_id disbursed_at auto_bid_done_at collector_id schedule_rules"
).split()
BID_COLUMNS = (
    "id requested_fen amount_fen status source auto_rule_id operation_id refusal"
    " created_at decided_at lender_id loan_id"
).split()
CLAIM_COLUMNS = "id bid_id principal_fen created_at holder_id loan_id".split()
INSTALLMENT_COLUMNS = (
    "id number due_date principal_fen interest_fen fee_fen status paid_principal_fen"
    " paid_interest_fen paid_fee_fen penalty_accrued_fen penalty_paid_fen"
    " penalty_accrued_through overdue_since paid_on paid_late warned_on loan_id"
    " penalty_accrued_micro_fen"
).split()
REPAYMENT_COLUMNS = (
    "id kind status installments amount_fen principal_fen interest_fen fee_fen penalty_fen"
    " early_fee_fen operation_id refusal details created_at done_at borrower_id loan_id"
).split()
RECEIPT_COLUMNS = (
    "id holder_id loan_id principal_fen interest_fen penalty_fen created_at claim_id"
    " repayment_id to_reserve recoverer"
).split()
ADVANCE_COLUMNS = (
    "id holder_id principal_fen interest_fen created_at claim_id installment_id loan_id"
).split()
TABLES = (
    "users",
    "loans",
    "bids",
    "claims",
    "loan_installments",
    "repayments",
    "repayment_receipts",
    "reserve_advances",
)


@dataclass
class Money:
    """What was lent and had, in fen: claims' principal; receipts (not `to_reserve`) and
    advances, all of it and the principal in it."""

    invested: int = 0
    received: int = 0
    principal_back: int = 0


@dataclass
class Expected:
    """The totals the generator wrote, as of the end of `AS_OF`: what the figures must
    answer (definitions of services/analytics)."""

    generator: int
    seed: int
    loans: int
    as_of: str
    volume: int = 0
    outstanding_principal: int = 0
    outstanding_interest: int = 0
    outstanding_loans: int = 0
    members: int = 0
    overdue_loans: int = 0
    buckets: dict[str, int] = field(default_factory=lambda: {name: 0 for name, *_ in BUCKETS})
    reserve_advances: int = 0
    reserve_advanced: int = 0
    reserve_recovered: int = 0
    platform: Money = field(default_factory=Money)
    lender_id: int = 0
    lender_claims: int = 0
    lender: Money = field(default_factory=Money)
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Expected:
        data = json.loads(text)
        data["platform"] = Money(**data["platform"])
        data["lender"] = Money(**data["lender"])
        return cls(**data)


def _at(day: date, seconds: int) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(seconds=seconds)


@dataclass
class _Ids:
    """The next id of each table (the generator gives every row its id)."""

    next: dict[str, int]

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


@dataclass
class _Chunk:
    """The rows of a few thousand loans, written together."""

    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in TABLES}
    )


@dataclass
class _Claim:
    id: int
    holder_id: int
    principal: int


class Generator:
    """Draws the book loan by loan from one `random.Random(seed)`."""

    def __init__(self, loans: int, seed: int, first_ids: dict[str, int]) -> None:
        self.rng = random.Random(seed)
        self.loans = loans
        self.ids = _Ids(dict(first_ids))
        self.borrowers = max(1, loans * 6 // 10)
        self.lenders = max(8, loans // 5)
        self.idle = loans // 10
        self.first_borrower = first_ids["users"]
        self.first_lender = self.first_borrower + self.borrowers
        self.expected = Expected(GENERATOR_VERSION, seed, loans, AS_OF.isoformat())
        self.expected.lender_id = self.first_lender

    # --- members -------------------------------------------------------------------------

    def users(self) -> list[tuple[Any, ...]]:
        """Borrowers and lenders registered in the 90 days before the year, idle members
        through it."""
        rows = []
        total = self.borrowers + self.lenders + self.idle
        for number in range(total):
            user_id = self.ids.take("users")
            if number < self.borrowers + self.lenders:
                created = _at(START, -self.rng.randrange(90 * 86_400) - 1)
            else:
                created = _at(START, self.rng.randrange(YEAR_SECONDS))
            rows.append(
                (
                    user_id,
                    "member",
                    "active",
                    f"analytics-bench-{user_id}",
                    "-",
                    f"166****{user_id % 10_000:04d}",
                    f"Member {user_id}",
                    "!",
                    0,
                    None,
                    created,
                    created,
                )
            )
        self.expected.members = total
        self.expected.rows["users"] = total
        return rows

    # --- one loan ------------------------------------------------------------------------

    def _borrower(self) -> int:
        return self.first_borrower + int(self.borrowers * self.rng.random() ** 1.5)

    def _holders(self, count: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < count:
            lender = self.first_lender + int(self.lenders * self.rng.random() ** 2)
            if lender not in chosen:
                chosen.append(lender)
        return chosen

    def _parts(self, units: int, count: int) -> list[int]:
        """`units` hundreds of yuan in `count` positive parts."""
        cuts = sorted(self.rng.sample(range(1, units), count - 1))
        edges = [0, *cuts, units]
        return [(b - a) * 10_000 for a, b in itertools.pairwise(edges)]

    def undisbursed(self, chunk: _Chunk) -> None:
        """A loan that never paid out: listed near the end, or failed, rejected, cancelled."""
        status = self.rng.choice(("LISTED", "FAILED", "REJECTED", "CANCELLED"))
        created = _at(START, self.rng.randrange(YEAR_SECONDS - 86_400 * 30))
        if status == "LISTED":
            created = _at(AS_OF, -self.rng.randrange(10 * 86_400))
        amount = self.rng.randrange(10, 500) * 10_000
        listed = created + timedelta(days=1) if status in ("LISTED", "FAILED") else None
        chunk.rows["loans"].append(
            self._loan_row(
                self.ids.take("loans"),
                amount,
                Decimal("0.1200"),
                12,
                "EQUAL_INSTALLMENT",
                status,
                created,
                listed,
                None,
                self._borrower(),
            )
        )

    def _loan_row(
        self,
        loan_id: int,
        amount: int,
        rate: Decimal,
        term: int,
        method: str,
        status: str,
        created: datetime,
        listed: datetime | None,
        disbursed: datetime | None,
        borrower: int,
        bidders: int = 0,
    ) -> tuple[Any, ...]:
        closes = listed + timedelta(days=20) if listed else None
        closed = disbursed - timedelta(hours=1) if disbursed else None
        return (
            loan_id,
            amount,
            rate,
            term,
            method,
            "MONTHLY_30_360",
            "analytics bench",
            20,
            listed,
            closes,
            5_000,
            amount,
            None,
            None,
            status,
            amount if disbursed else 0,
            bidders,
            "[1]",
            None,
            "[]",
            rate,
            "{}",
            "",
            created,
            listed,
            closed,
            borrower,
            disbursed,
            listed,
            None,
            2,
        )

    def loan(self, chunk: _Chunk) -> None:
        """One disbursed loan with its bids, claims, schedule, repayments, receipts and
        reserve advances, and what it adds to the expected totals."""
        rng = self.rng
        loan_id = self.ids.take("loans")
        units = int(math.exp(rng.uniform(math.log(10), math.log(2001))))
        amount = units * 10_000
        rate = Decimal(rng.randrange(600, 1800, 25)) / 10_000
        term = rng.choices(TERMS, TERM_WEIGHTS)[0]
        method = RepaymentMethod.EQUAL_INSTALLMENT
        if rng.random() < 0.4:
            method = RepaymentMethod.EQUAL_PRINCIPAL
        disbursed = _at(START, rng.randrange(YEAR_SECONDS))
        created = disbursed - timedelta(days=rng.randint(5, 15))
        listed = created + timedelta(days=1)
        borrower = self._borrower()
        count = min(units, rng.randint(1, 5))
        claims = self._claims(chunk, loan_id, units, count, listed, disbursed)
        schedule = build_schedule(LoanTerms(amount, rate, term, method), disbursed.date())
        status = self._installments(chunk, loan_id, borrower, amount, claims, schedule)
        chunk.rows["loans"].append(
            self._loan_row(
                loan_id,
                amount,
                rate,
                term,
                method.value,
                status,
                created,
                listed,
                disbursed,
                borrower,
                count,
            )
        )

    def _claims(
        self,
        chunk: _Chunk,
        loan_id: int,
        units: int,
        count: int,
        listed: datetime,
        disbursed: datetime,
    ) -> list[_Claim]:
        claims = []
        for holder, principal in zip(self._holders(count), self._parts(units, count), strict=True):
            bid_id = self.ids.take("bids")
            bid_at = listed + timedelta(seconds=self.rng.randrange(86_400))
            source = "AUTO" if self.rng.random() < 0.3 else "MANUAL"
            chunk.rows["bids"].append(
                (
                    bid_id,
                    principal,
                    principal,
                    "TRANSFERRED",
                    source,
                    None,
                    None,
                    "",
                    bid_at,
                    disbursed,
                    holder,
                    loan_id,
                )
            )
            claim = _Claim(self.ids.take("claims"), holder, principal)
            chunk.rows["claims"].append((claim.id, bid_id, principal, disbursed, holder, loan_id))
            claims.append(claim)
            self._lent(holder, principal)
        return claims

    def _lent(self, holder: int, principal: int) -> None:
        for money in self._books(holder):
            money.invested += principal

    def _had(self, holder: int, amount: int, principal: int) -> None:
        for money in self._books(holder):
            money.received += amount
            money.principal_back += principal

    def _books(self, holder: int) -> list[Money]:
        if holder == self.expected.lender_id:
            return [self.expected.platform, self.expected.lender]
        return [self.expected.platform]

    def _pay_days(self, schedule: Sequence[Any]) -> tuple[list[date | None], bool]:
        """The day each installment is paid (None: not by `AS_OF`), and whether the
        reserve advances this loan's late installments."""
        rng = self.rng
        kind = rng.random()
        stops = rng.randint(1, len(schedule)) if kind >= 0.92 else None
        days: list[date | None] = []
        previous = date.min
        for installment in schedule:
            due: date = installment.due_date
            if stops is not None and installment.number >= stops:
                days.append(None)
                continue
            if kind < 0.82 or rng.random() >= 0.35:
                day = due - timedelta(days=rng.choice((0, 0, 0, 1, 2, 3)))
            else:
                late = rng.randint(1, 120) if rng.random() < 0.1 else rng.randint(1, 45)
                day = due + timedelta(days=late)
            day = max(day, previous)
            if day > AS_OF or (days and days[-1] is None):
                days.append(None)
                continue
            days.append(day)
            previous = day
        return days, kind >= 0.82 and rng.random() < 0.25

    def _installments(
        self,
        chunk: _Chunk,
        loan_id: int,
        borrower: int,
        amount: int,
        claims: list[_Claim],
        schedule: Sequence[Any],
    ) -> str:
        """The schedule's rows as of `AS_OF`, with the repayments, receipts and advances
        of what was paid; returns the loan's status."""
        paid_days, reserved = self._pay_days(schedule)
        weights = [claim.principal for claim in claims]
        principal_paid = interest_paid = interest_due = 0
        oldest_unpaid: date | None = None
        for installment, paid_on in zip(schedule, paid_days, strict=True):
            due: date = installment.due_date
            principal, interest = installment.principal_fen, installment.interest_fen
            total = principal + interest
            interest_due += interest
            installment_id = self.ids.take("loan_installments")
            # Penalty accrues each day past the due date until paid (or to `AS_OF`).
            late_days = max(0, ((paid_on or AS_OF) - due).days)
            late = late_days > 0
            penalty_micro = total * PENALTY_MICRO_PER_DAY * late_days
            penalty = round_half_up(penalty_micro, 1_000_000)
            advanced_on = due + timedelta(days=RESERVE_AFTER_DAYS)
            advanced = (
                reserved and advanced_on <= AS_OF and (paid_on is None or paid_on > advanced_on)
            )
            if advanced:
                self._advance(
                    chunk, loan_id, installment_id, claims, principal, interest, advanced_on
                )
            if paid_on is not None:
                principal_paid += principal
                interest_paid += interest
                self._repaid(
                    chunk,
                    loan_id,
                    borrower,
                    installment.number,
                    claims,
                    weights,
                    (principal, interest, penalty),
                    paid_on,
                    advanced,
                )
            elif due < AS_OF and oldest_unpaid is None:
                oldest_unpaid = due
            overdue = paid_on is None and due < AS_OF
            chunk.rows["loan_installments"].append(
                (
                    installment_id,
                    installment.number,
                    due,
                    principal,
                    interest,
                    0,
                    "PAID" if paid_on else ("OVERDUE" if overdue else "PENDING"),
                    principal if paid_on else 0,
                    interest if paid_on else 0,
                    0,
                    penalty if late else 0,
                    penalty if paid_on and late else 0,
                    (paid_on or AS_OF) if late else None,
                    due + timedelta(days=1) if late else None,
                    paid_on,
                    bool(paid_on and paid_on > due),
                    None,
                    loan_id,
                    penalty_micro if late else 0,
                )
            )
        return self._tally(amount, principal_paid, interest_due, interest_paid, oldest_unpaid)

    def _tally(
        self,
        amount: int,
        principal_paid: int,
        interest_due: int,
        interest_paid: int,
        oldest_unpaid: date | None,
    ) -> str:
        expected = self.expected
        expected.volume += amount
        principal_left, interest_left = amount - principal_paid, interest_due - interest_paid
        if principal_left <= 0 and interest_left <= 0:
            return "SETTLED"
        expected.outstanding_loans += 1
        expected.outstanding_principal += max(principal_left, 0)
        expected.outstanding_interest += max(interest_left, 0)
        if oldest_unpaid is None:
            return "REPAYING"
        expected.overdue_loans += 1
        days = (AS_OF - oldest_unpaid).days
        for name, low, high in BUCKETS:
            if days >= low and (high is None or days <= high):
                expected.buckets[name] += 1
        return "OVERDUE"

    def _advance(
        self,
        chunk: _Chunk,
        loan_id: int,
        installment_id: int,
        claims: list[_Claim],
        principal: int,
        interest: int,
        day: date,
    ) -> None:
        weights = [claim.principal for claim in claims]
        at = _at(day, 10 * 3600)
        for claim, p, i in zip(
            claims, allocate(principal, weights), allocate(interest, weights), strict=True
        ):
            chunk.rows["reserve_advances"].append(
                (
                    self.ids.take("reserve_advances"),
                    claim.holder_id,
                    p,
                    i,
                    at,
                    claim.id,
                    installment_id,
                    loan_id,
                )
            )
            self.expected.reserve_advances += 1
            self.expected.reserve_advanced += p + i
            self._had(claim.holder_id, p + i, p)

    def _repaid(
        self,
        chunk: _Chunk,
        loan_id: int,
        borrower: int,
        number: int,
        claims: list[_Claim],
        weights: list[int],
        parts: tuple[int, int, int],
        day: date,
        advanced: bool,
    ) -> None:
        """One DONE repayment of one installment and its receipts."""
        principal, interest, penalty = parts
        at = _at(day, 8 * 3600 + self.rng.randrange(12 * 3600))
        repayment_id = self.ids.take("repayments")
        kind = "INSTALLMENTS" if advanced or self.rng.random() < 0.3 else "AUTO_DEBIT"
        chunk.rows["repayments"].append(
            (
                repayment_id,
                kind,
                "DONE",
                f"[{number}]",
                principal + interest + penalty,
                principal,
                interest,
                0,
                penalty,
                0,
                None,
                "",
                "{}",
                at,
                at,
                borrower,
                loan_id,
            )
        )
        shares = zip(
            claims,
            allocate(principal, weights),
            allocate(interest, weights),
            allocate(penalty, weights),
            strict=True,
        )
        receipts = chunk.rows["repayment_receipts"]
        for claim, p, i, pen in shares:
            if advanced:
                receipts.append(
                    (
                        self.ids.take("repayment_receipts"),
                        claim.holder_id,
                        loan_id,
                        p,
                        i,
                        0,
                        at,
                        claim.id,
                        repayment_id,
                        True,
                        "p:risk_reserve",
                    )
                )
                self.expected.reserve_recovered += p + i
                if pen:
                    receipts.append(
                        (
                            self.ids.take("repayment_receipts"),
                            claim.holder_id,
                            loan_id,
                            0,
                            0,
                            pen,
                            at,
                            claim.id,
                            repayment_id,
                            False,
                            None,
                        )
                    )
                    self._had(claim.holder_id, pen, 0)
            else:
                receipts.append(
                    (
                        self.ids.take("repayment_receipts"),
                        claim.holder_id,
                        loan_id,
                        p,
                        i,
                        pen,
                        at,
                        claim.id,
                        repayment_id,
                        False,
                        None,
                    )
                )
                self._had(claim.holder_id, p + i + pen, p)


COLUMNS = {
    "users": USER_COLUMNS,
    "loans": LOAN_COLUMNS,
    "bids": BID_COLUMNS,
    "claims": CLAIM_COLUMNS,
    "loan_installments": INSTALLMENT_COLUMNS,
    "repayments": REPAYMENT_COLUMNS,
    "repayment_receipts": RECEIPT_COLUMNS,
    "reserve_advances": ADVANCE_COLUMNS,
}


async def _first_ids(connection: Any) -> dict[str, int]:
    found = {}
    for table in TABLES:
        found[table] = int(
            await connection.fetchval(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        )
    return found


async def _copy(connection: Any, chunk: _Chunk, expected: Expected) -> None:
    async with connection.transaction():
        for table in TABLES:
            rows = chunk.rows[table]
            if rows:
                await connection.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
                expected.rows[table] += len(rows)


async def generate(dsn: str, loans: int, seed: int) -> Expected:
    """Write the book of `loans` disbursed loans (seeded by `seed`) into the migrated,
    empty-of-lending database at `dsn`, by COPY, a few thousand loans per transaction;
    then the sequences moved past the ids written and the tables vacuumed and analysed
    (as autovacuum would have them). Returns the totals written."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(dsn)
    try:
        generator = Generator(loans, seed, await _first_ids(connection))
        users = generator.users()
        async with connection.transaction():
            await connection.copy_records_to_table("users", records=users, columns=USER_COLUMNS)
        undisbursed = loans // 25
        for start in range(0, loans, CHUNK_LOANS):
            chunk = _Chunk()
            for _ in range(start, min(loans, start + CHUNK_LOANS)):
                generator.loan(chunk)
            for _ in range(
                undisbursed * start // loans, undisbursed * min(loans, start + CHUNK_LOANS) // loans
            ):
                generator.undisbursed(chunk)
            await _copy(connection, chunk, generator.expected)
        expected = generator.expected
        expected.lender_claims = int(
            await connection.fetchval(
                "SELECT COUNT(*) FROM claims WHERE holder_id = $1", expected.lender_id
            )
        )
        for table in TABLES:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
            await connection.execute(f"VACUUM ANALYZE {table}")
        return expected
    finally:
        await connection.close()
