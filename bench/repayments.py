"""Benchmark: the daily repayment batch (issue 16, P3) beside a bulk insert of the same rows.

Run: `scripts/bench repayments [--loans L] [--holders H] [--bid-amount 100.00]`
(or `.venv/bin/python -m bench.repayments ...`). Never part of the test run. PostgreSQL
only (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; BENCH_USE_ENV=1 the
server of DATABASE_URL). Its last line is one JSON object with every figure.

It runs twice, for L and for 2L loans, each in a database of its own
(`lendbridge_bench_<run id>`, dropped afterwards), in this process with the app's
lifespan (the in-process sandbox provider and broker).

Set-up (not timed): through the services (`bench/lending_setup.py`,
`bench/repayment_setup.py`), H lenders and one borrower; one loan of H bids (one per
lender: H claims), signed, disbursed and settled at the provider: REPAYING. That loan is
then copied L - 1 times in SQL (loans, installments, claims; each copy's claims carry a
bid id of their own, its bids are not copied), the borrower's credit use raised by the
copies' principal, and the borrower given, by a card deposit through the services, what
the first installments of the L loans ask. The business clock moves to their due date.

Timed: the day's batch as the platform runs it, `autodebit.auto_debit_due()` (each due
installment settled from the borrower's balance: split among the H holders by the
largest-remainder rule, a ledger transfer and a provider instruction per holder, the
fee and reserve parts, a receipt per claim, a RECEIVED event per holder), then until the
platform's own dispatchers (running in the app's lifespan, as in an API process) have
sent every instruction, the provider has called back on each and the outbox is drained:
"to the last posting settled". Checked: every installment PAID,
a receipt per claim, the ledger balanced.

Beside it, in the same database: every row the batch inserted, table by table (the tables
with an integer `id`), copied by one `INSERT INTO <copy> SELECT * FROM <table> WHERE id >
<before>` into tables made `LIKE <table> INCLUDING ALL` (same columns, defaults, indexes
and checks) plus the table's foreign keys, which LIKE leaves out (each posting checks
its journal and account, each receipt its repayment, claim and loan, as in the real
tables: two thirds of the database's time for these rows), in one transaction: the
database's own rate for those rows. Ratio = bulk seconds / settled seconds (goal 0.3);
the same without the foreign keys is printed beside it (`ratio_without_fk`, the
reference before 2026-12-05); doubling = settled seconds at 2L / at L (goal at most
2.2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import bench_database, embedded_app, machine_line, plan_run, use_environment


@dataclass
class Pass:
    loans: int
    holders: int
    setup_seconds: float = 0.0
    batch_seconds: float = 0.0  # auto_debit_due
    settled_seconds: float = 0.0  # batch + until every instruction is settled
    paid: int = 0
    receipts: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted by the batch
    bulk_seconds: float = 0.0  # into copies with the tables' foreign keys
    bulk_without_fk_seconds: float = 0.0  # into copies without them
    backend: str = ""

    @property
    def postings_per_second(self) -> float:
        return self.receipts / self.settled_seconds if self.settled_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.bulk_seconds / self.settled_seconds if self.settled_seconds else 0.0

    @property
    def ratio_without_fk(self) -> float:
        seconds = self.settled_seconds
        return self.bulk_without_fk_seconds / seconds if seconds else 0.0


def _connection() -> Any:
    from tortoise import connections

    return connections.get("default")


async def _columns(table: str, without: set[str]) -> list[str]:
    rows = await _connection().execute_query_dict(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        [table],
    )
    return [row["column_name"] for row in rows if row["column_name"] not in without]


async def _copy_loan(template_id: int, copies: int) -> list[int]:
    """`copies` copies of the loan, its installments and its claims; the new loan ids."""
    if copies < 1:
        return []
    db = _connection()
    loan_columns = ", ".join(f'"{name}"' for name in await _columns("loans", {"id"}))
    made = await db.execute_query_dict(
        f"INSERT INTO loans ({loan_columns}) SELECT {loan_columns} FROM loans,"
        " generate_series(1, $2) WHERE id = $1 RETURNING id",
        [template_id, copies],
    )
    ids = sorted(row["id"] for row in made)
    rows = await _columns("loan_installments", {"id", "loan_id"})
    listed = ", ".join(f'"{name}"' for name in rows)
    taken = ", ".join(f'i."{name}"' for name in rows)
    await db.execute_query(
        f"INSERT INTO loan_installments (loan_id, {listed}) SELECT n.id, {taken}"
        " FROM loan_installments i, unnest($1::bigint[]) AS n(id) WHERE i.loan_id = $2",
        [ids, template_id],
    )
    rows = await _columns("claims", {"id", "loan_id", "bid_id"})
    listed = ", ".join(f'"{name}"' for name in rows)
    taken = ", ".join(f'c."{name}"' for name in rows)
    await db.execute_query(
        f"INSERT INTO claims (loan_id, bid_id, {listed})"
        f" SELECT n.id, c.bid_id + n.id * 1000000000, {taken}"
        " FROM claims c, unnest($1::bigint[]) AS n(id) WHERE c.loan_id = $2",
        [ids, template_id],
    )
    return ids


async def _setup(sandbox: Any, loans: int, holders: int, bid_fen: int) -> tuple[Any, Any]:
    """The L loans of one borrower, each held by the same H lenders, due today; the
    borrower with the money for their first installments. Returns (borrower, due date)."""
    from bench import lending_setup as setup
    from bench import repayment_setup
    from models.bids import BidSource
    from models.loans import Loan, LoanStatus
    from models.payments import BankCard
    from models.repayments import LoanInstallment
    from services.loans import bidding
    from services.money import accounts, ledger
    from services.payments.embedded import settle_until_quiet
    from services.payments.provider import DepositChannel
    from services.platform import clock

    admin = await setup.create_staff("admin")
    await setup.make_room(admin, holders * bid_fen, bid_fen)
    lenders = [await setup.ready_lender(bid_fen, f"Bench Holder {n}") for n in range(holders)]
    borrower = await setup.verified_borrower()
    loan = await setup.listed_loan(borrower.id, holders * bid_fen, min_bid_fen=bid_fen)
    for lender, _phone in lenders:
        await bidding.accept(
            loan_id=loan.id, lender_id=lender.id, requested=bid_fen, source=BidSource.MANUAL
        )
    await settle_until_quiet(sandbox)
    await repayment_setup.sign_contract(borrower, await Loan.get(id=loan.id))
    await settle_until_quiet(sandbox)
    await bidding.disburse(loan.id)
    await settle_until_quiet(sandbox)
    loan = await Loan.get(id=loan.id)
    if loan.status != LoanStatus.REPAYING:
        raise RuntimeError(f"the template loan is {loan.status}, not REPAYING")
    await _copy_loan(loan.id, loans - 1)
    await _connection().execute_query(
        "UPDATE credit_profiles SET used_fen = used_fen + $1 WHERE user_id = $2",
        [(loans - 1) * loan.amount_fen, borrower.id],
    )
    first = await LoanInstallment.get(loan_id=loan.id, number=1)
    owed = loans * (first.principal_fen + first.interest_fen + first.fee_fen)
    short = owed - await ledger.balance(ledger.available(borrower.id))
    if short > 0:
        card = await BankCard.get(user_id=borrower.id, status="bound")
        await accounts.deposit(
            actor=setup.member_actor(borrower.id),
            amount=short,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card.id,
            idempotency_key=f"bench-repayments-{borrower.id}",
        )
        await settle_until_quiet(sandbox)
    today = await clock.today()
    await clock.advance(days=(first.due_date - today).days)
    return borrower, first.due_date


async def _max_ids() -> dict[str, int]:
    db = _connection()
    tables = await db.execute_query_dict(
        "SELECT table_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND column_name = 'id' AND data_type IN ('bigint', 'integer')"
    )
    found = {}
    for row in tables:
        name = row["table_name"]
        top = await db.execute_query_dict(f'SELECT coalesce(max(id), 0) AS top FROM "{name}"')
        found[name] = int(top[0]["top"])
    return found


async def _copy_tables(rows: dict[str, int], prefix: str, *, foreign_keys: bool) -> None:
    """Tables `<prefix><table>` made LIKE each table INCLUDING ALL (columns, defaults,
    indexes, checks) and, with `foreign_keys`, the table's foreign keys too (which LIKE
    leaves out): each row inserted then checks the rows it refers to, as in the table."""
    db = _connection()
    for table in rows:
        await db.execute_script(f'CREATE TABLE "{prefix}{table}" (LIKE "{table}" INCLUDING ALL)')
        if not foreign_keys:
            continue
        for row in await db.execute_query_dict(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND contype = 'f'",
            [table],
        ):
            await db.execute_script(
                f'ALTER TABLE "{prefix}{table}" ADD CONSTRAINT "{prefix}{row["conname"]}"'
                f" {row['definition']}"
            )


async def _bulk(before: dict[str, int], rows: dict[str, int], *, foreign_keys: bool) -> float:
    """The same rows inserted again by INSERT ... SELECT into copies of their tables."""
    from tortoise.transactions import in_transaction

    db = _connection()
    prefix = "bulk_fk_" if foreign_keys else "bulk_"
    await _copy_tables(rows, prefix, foreign_keys=foreign_keys)
    started = time.perf_counter()
    async with in_transaction() as tx:
        for table in rows:
            await tx.execute_query(
                f'INSERT INTO "{prefix}{table}" SELECT * FROM "{table}" WHERE id > $1',
                [before[table]],
            )
    seconds = time.perf_counter() - started
    for table in rows:
        await db.execute_script(f'DROP TABLE "{prefix}{table}"')
    return seconds


async def _until_settled(sandbox: Any) -> None:
    """Until the platform's own dispatchers (the app's lifespan runs them, as an API
    process does) have sent every instruction, the provider has called back on each,
    and the outbox is drained."""
    from models.messaging import OutboxEvent
    from services.payments import instructions
    from services.platform import outbox

    instructions.wake()
    outbox.wake()
    last, still = -1, 0.0
    while True:
        left = (
            await instructions.pending_count()
            + await OutboxEvent.filter(published_at__isnull=True).count()
        )
        if not left:
            return
        still = still + 0.1 if left == last else 0.0
        if still > 60:
            raise RuntimeError(f"{left} instructions and events still open after 60 s")
        last = left
        await sandbox.drain()
        await asyncio.sleep(0.1)


async def one_pass(loans: int, holders: int, bid_fen: int) -> Pass:
    from models.bids import Claim
    from models.repayments import (
        InstallmentStatus,
        LoanInstallment,
        Receipt,
        Repayment,
        RepaymentStatus,
    )
    from services.money import ledger
    from services.repayments import autodebit

    figures = Pass(loans=loans, holders=holders)
    plan = plan_run(postgres=True)
    use_environment(plan)
    async with bench_database(plan) as backend:
        figures.backend = backend
        async with embedded_app() as app:
            sandbox = app.state.sandbox.sandbox
            started = time.perf_counter()
            _borrower, due = await _setup(sandbox, loans, holders, bid_fen)
            figures.setup_seconds = time.perf_counter() - started
            print(f"set-up: {loans} loans x {holders} holders in {figures.setup_seconds:.0f} s")
            before = await _max_ids()
            started = time.perf_counter()
            figures.paid = await autodebit.auto_debit_due()
            figures.batch_seconds = time.perf_counter() - started
            await _until_settled(sandbox)
            figures.settled_seconds = time.perf_counter() - started
            after = await _max_ids()
            figures.rows = {t: after[t] - before[t] for t in after if after[t] > before[t]}
            due_rows = LoanInstallment.filter(due_date=due)
            if (
                figures.paid != loans
                or await due_rows.exclude(status=InstallmentStatus.PAID).exists()
            ):
                refused = await Repayment.filter(status=RepaymentStatus.REFUSED).values_list(
                    "loan_id", "refusal"
                )
                raise RuntimeError(f"{figures.paid} of {loans} installments paid: {refused}")
            figures.receipts = await Receipt.filter(to_reserve=False).count()
            if figures.receipts != await Claim.all().count():
                raise RuntimeError(f"{figures.receipts} receipts for the claims")
            check = await ledger.check()
            if not check.ok:
                raise RuntimeError(f"the ledger does not balance: {check}")
            figures.bulk_seconds = await _bulk(before, figures.rows, foreign_keys=True)
            figures.bulk_without_fk_seconds = await _bulk(before, figures.rows, foreign_keys=False)
    return figures


def _report(passes: list[Pass], plan_line: str) -> dict[str, Any]:
    first, second = passes
    print(f"\n{plan_line}")
    for one in passes:
        rows = sum(one.rows.values())
        print(
            f"{one.loans} loans x {one.holders} holders: batch {one.batch_seconds:.1f} s,"
            f" settled {one.settled_seconds:.1f} s ({one.postings_per_second:.0f} holder"
            f" postings/s); {rows} rows inserted, bulk {one.bulk_seconds:.3f} s:"
            f" ratio {one.ratio:.4f} (without foreign keys: bulk"
            f" {one.bulk_without_fk_seconds:.3f} s, ratio {one.ratio_without_fk:.4f})"
        )
    doubling = second.settled_seconds / first.settled_seconds
    print(f"doubling (2L / L): {doubling:.2f} x (goal at most 2.2); ratio goal 0.3")
    return {
        "loans": first.loans,
        "holders": first.holders,
        "passes": [
            {
                "loans": one.loans,
                "setup_seconds": round(one.setup_seconds, 1),
                "batch_seconds": round(one.batch_seconds, 2),
                "settled_seconds": round(one.settled_seconds, 2),
                "holder_postings": one.receipts,
                "holder_postings_per_second": round(one.postings_per_second, 1),
                "rows_inserted": one.rows,
                "bulk_seconds": round(one.bulk_seconds, 4),
                "ratio": round(one.ratio, 5),
                "bulk_without_fk_seconds": round(one.bulk_without_fk_seconds, 4),
                "ratio_without_fk": round(one.ratio_without_fk, 5),
            }
            for one in passes
        ],
        "ratio": round(min(one.ratio for one in passes), 5),
        "ratio_without_fk": round(min(one.ratio_without_fk for one in passes), 5),
        "doubling": round(doubling, 3),
    }


async def run(args: argparse.Namespace) -> None:
    from services.money.money import parse_money

    bid_fen = parse_money(args.bid_amount)
    passes = []
    for loans in (args.loans, 2 * args.loans):
        passes.append(await one_pass(loans, args.holders, bid_fen))
    plan = plan_run(postgres=True)
    line = machine_line(passes[0].backend, plan)
    summary = _report(passes, line)
    summary["backend"] = passes[0].backend
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1000, help="loans due that day (1000)")
    parser.add_argument("--holders", type=int, default=100, help="holders of each loan (100)")
    parser.add_argument("--bid-amount", default="100.00", help="each holder's share (100.00)")
    args = parser.parse_args()
    if min(args.loans, args.holders) < 1:
        parser.error("--loans and --holders must be positive")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
