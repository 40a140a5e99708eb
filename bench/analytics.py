"""Benchmark: the analytics figures (issue 19, M12.1-M12.3) over a year of a loan book
on PostgreSQL: `platform_figures`, `risk_figures`, `platform_returns` and the
`lender_returns` of the lender with the most claims, as of the book's last day.

Run: `scripts/bench analytics [--loans 100000] [--seed 1] [--repeat 5] [--reuse]
[--timeout 120]` (or `.venv/bin/python -m bench.analytics ...`). Never part of the
test run.

Set-up (not timed): a database on the PostgreSQL server (BENCH_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432; with BENCH_USE_ENV=1 the server of DATABASE_URL),
migrated by the project, and the book written into it by `bench/analytics_book.py`
(seeded; about a minute for 100,000 loans). By default the database is a scratch one,
dropped afterwards. With `--reuse` it is `lendbridge_bench_analytics_<loans>_<seed>`,
kept: a later run with the same size, seed and generator migrates it (new migrations
apply) and measures at once; the generator's totals are kept as the database's comment.
The business clock is set to the book's last day; the in-process broker.

Timed, in this process through the services (the ORM's pool, as the resolvers call
them): each figure once untimed (its answers checked against the totals the generator
wrote: volume, outstanding principal and interest, overdue loans by bucket, reserve
advances, each side of the returns' money), then `--repeat` times: median and max.
A physical reference in the same run: a sequential scan (`SELECT count(*)` with index
scans off) of each table a figure reads, `--repeat` times, median; a figure's
`ratio_to_scan` is its median over the sum of the scans of the tables it reads (what a
figure that reads each of them once, with no snapshot, could not beat).

Then the next morning: the clock moved a day on and the book's last day snapshot by the
`analytics_snapshots` job's function (`snapshot_job_s`), and every figure timed and
checked again as of that (now closed) day: `closed_day`, what `under_one_second` is
about. `figures` are the same figures as of the day while it is today, computed live.

Prints ONE JSON line; exits 1 when an answer is wrong (the line says which). A figure
that does not answer within `--timeout` seconds is cancelled and shown `timed_out`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench import analytics_book as book
from bench.common import DEFAULT_POSTGRES, machine_line
from simulation import scratch

#: The tables each figure reads: the scans its time is compared with.
TABLES_READ = {
    "platform_figures": ("users", "loans", "repayments", "loan_installments", "claims"),
    "risk_figures": (
        "users",
        "loans",
        "repayments",
        "loan_installments",
        "repayment_receipts",
        "reserve_advances",
    ),
    "platform_returns": (
        "claims",
        "loans",
        "loan_installments",
        "repayment_receipts",
        "reserve_advances",
    ),
    "lender_returns": (
        "claims",
        "loans",
        "loan_installments",
        "repayment_receipts",
        "reserve_advances",
    ),
}
SCANNED = tuple(dict.fromkeys(table for tables in TABLES_READ.values() for table in tables))


def _server() -> str:
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    if os.environ.get("BENCH_USE_ENV") == "1":
        server = scratch.postgres_server(os.environ.get("DATABASE_URL", "")) or server
    return server


def _dsn(url: str) -> str:
    """An asyncpg DSN of a database URL (no pool options, a scheme asyncpg knows)."""
    url = url.split("?")[0]
    for scheme in ("postgres://", "asyncpg://"):
        if url.startswith(scheme):
            return "postgresql://" + url.removeprefix(scheme)
    return url


def plan(loans: int, seed: int, reuse: bool) -> scratch.Run:
    run = scratch.plan("bench", postgres_server=_server(), redis_url=None)
    if not reuse:
        return run
    name = f"lendbridge_bench_analytics_{loans}_{seed}"
    server = run.database_url.rsplit("/", 1)[0]
    return dataclasses.replace(run, database_name=name, database_url=f"{server}/{name}")


async def _admin_fetch(run: scratch.Run, sql: str, *args: Any) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    assert run.admin_url is not None
    connection = await asyncpg.connect(run.admin_url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def _kept_book(run: scratch.Run, loans: int, seed: int) -> book.Expected | None:
    """The totals of the book kept in the `--reuse` database, when it holds this size,
    seed and generator's book (written to the end: the comment is set last)."""
    comment = await _admin_fetch(
        run,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
        run.database_name,
    )
    if not comment:
        return None
    try:
        kept = book.Expected.from_json(comment)
    except (ValueError, TypeError, KeyError):
        return None
    if (kept.generator, kept.loans, kept.seed) != (book.GENERATOR_VERSION, loans, seed):
        return None
    return kept


@dataclasses.dataclass
class Book:
    backend: str
    expected: book.Expected
    generated_s: float | None  # None: reused


@contextlib.asynccontextmanager
async def book_database(
    run: scratch.Run, loans: int, seed: int, *, reuse: bool, limit_s: float
) -> AsyncIterator[Book]:
    """The run's database with the book in it (made, migrated and written, or kept from
    an earlier `--reuse` run and migrated), Tortoise and the in-process broker started,
    the business clock on the book's last day. Afterwards a scratch database is dropped
    (a `--reuse` one kept) and the scratch directory removed, whatever happened."""
    from tortoise import Tortoise

    import cli
    from services.kit.broker import make_broker, set_broker
    from services.kit.db import tortoise_config
    from services.kit.settings import get_settings
    from services.platform import clock

    name = run.database_name
    expected = await _kept_book(run, loans, seed) if reuse else None
    if expected is None:
        await scratch.admin(run, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await scratch.admin(run, f'CREATE DATABASE "{name}"')
    broker = None
    try:
        with contextlib.redirect_stdout(None):
            await cli.migrate(run.database_url)
        generated_s = None
        if expected is None:
            started = time.perf_counter()
            expected = await book.generate(_dsn(run.database_url), loans, seed)
            generated_s = round(time.perf_counter() - started, 1)
            if reuse:
                literal = expected.to_json().replace("'", "''")
                await scratch.admin(run, f"COMMENT ON DATABASE \"{name}\" IS '{literal}'")
        # A figure still running at the timeout is cancelled by the server too.
        limit = int((limit_s + 5) * 1000)
        await scratch.admin(run, f'ALTER DATABASE "{name}" SET statement_timeout = {limit}')
        await Tortoise.init(config=tortoise_config(run.database_url), _enable_global_fallback=True)
        version = await Tortoise.get_connection("default").execute_query_dict("SHOW server_version")
        broker = make_broker(get_settings())
        await broker.start()
        set_broker(broker)
        await clock.start_at(book.AS_OF)
        backend = f"PostgreSQL {version[0]['server_version'].split()[0]}"
        yield Book(backend, expected, generated_s)
    finally:
        if broker is not None:
            await broker.stop()
            set_broker(None)
        await Tortoise.close_connections()
        if not reuse:
            await scratch.admin(run, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(run.scratch, ignore_errors=True)


# --- the physical reference ------------------------------------------------------------


async def scans(dsn: str, repeat: int) -> dict[str, dict[str, Any]]:
    """Each table read once by a sequential scan (`SELECT count(*)`, index scans off so
    that an index-only scan does not stand in), `repeat` times after one warm-up: the
    median, with the rows and the heap's size."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    found: dict[str, dict[str, Any]] = {}
    try:
        for table in SCANNED:
            timings = []
            for number in range(repeat + 1):
                async with connection.transaction():
                    await connection.execute(
                        "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;"
                        " SET LOCAL enable_bitmapscan = off"
                    )
                    started = time.perf_counter()
                    rows = await connection.fetchval(f"SELECT count(*) FROM {table}")
                    if number:
                        timings.append(time.perf_counter() - started)
            size = await connection.fetchval("SELECT pg_relation_size($1::regclass)", table)
            found[table] = {
                "median_s": round(statistics.median(timings), 4),
                "rows": int(rows),
                "mb": round(int(size) / 2**20, 1),
            }
    finally:
        await connection.close()
    return found


# --- the figures -----------------------------------------------------------------------


def figures(expected: book.Expected) -> dict[str, Callable[[], Awaitable[Any]]]:
    from services.analytics import figures as platform
    from services.analytics import returns, risk
    from services.identity.permissions import Actor, Permission

    staff = Actor(
        user_id=None, kind="staff", permissions=frozenset({Permission.ANALYTICS_READ.value})
    )
    lender = Actor(user_id=expected.lender_id, kind="member", roles=frozenset({"member"}))
    return {
        "platform_figures": lambda: platform.platform_figures(staff, book.AS_OF),
        "risk_figures": lambda: risk.risk_figures(staff, book.AS_OF),
        "platform_returns": lambda: returns.platform_returns(actor=staff, as_of=book.AS_OF),
        "lender_returns": lambda: returns.lender_returns(actor=lender, as_of=book.AS_OF),
    }


def _check(name: str, answer: Any, expected: book.Expected) -> list[str]:
    """What of `answer` differs from what the generator wrote."""
    wanted: dict[str, Any]
    if name == "platform_figures":
        wanted = {
            "cumulative_count": expected.loans,
            "cumulative_volume": expected.volume,
            "outstanding_principal": expected.outstanding_principal,
            "outstanding_interest": expected.outstanding_interest,
            "outstanding_count": expected.outstanding_loans,
            "members": expected.members,
        }
    elif name == "risk_figures":
        wanted = {
            "overdue_loans": expected.overdue_loans,
            "outstanding_loans": expected.outstanding_loans,
            "outstanding_principal": expected.outstanding_principal,
            "reserve_advance_count": expected.reserve_advances,
            "reserve_advanced": expected.reserve_advanced,
            "reserve_recovered": expected.reserve_recovered,
        }
        got = {bucket.bucket: bucket.loans for bucket in answer.buckets}
        if got != expected.buckets:
            return [f"{name}.buckets: {got} != {expected.buckets}"]
    else:
        money = expected.platform if name == "platform_returns" else expected.lender
        wanted = {
            "invested_fen": money.invested,
            "received_fen": money.received,
            "outstanding_principal_fen": money.invested - money.principal_back,
        }
        for rate in ("realised_xirr", "expected_xirr"):
            value = getattr(answer, rate)
            if value is None or not -1 < value < 1:
                return [f"{name}.{rate}: {value}"]
    return [
        f"{name}.{key}: {getattr(answer, key)} != {value}"
        for key, value in wanted.items()
        if getattr(answer, key) != value
    ]


def _summary(name: str, answer: Any) -> dict[str, Any]:
    """A few of the answers, for the reader of the line."""
    keys: tuple[str, ...]
    if name == "platform_figures":
        keys = ("outstanding_principal", "outstanding_count", "active_lenders", "average_rate")
    elif name == "risk_figures":
        keys = ("overdue_loans", "overdue_rate_by_amount", "bad_debt_rate")
    else:
        keys = ("invested_fen", "realised_xirr", "expected_xirr")
    shown: dict[str, Any] = {key: str(getattr(answer, key)) for key in keys}
    if name == "risk_figures":
        shown["buckets"] = {bucket.bucket: bucket.loans for bucket in answer.buckets}
        shown["vintages"] = len(answer.vintages)
    return shown


async def _timed(call: Callable[[], Awaitable[Any]], limit_s: float) -> tuple[float, Any]:
    started = time.perf_counter()
    async with asyncio.timeout(limit_s):
        answer = await call()
    return time.perf_counter() - started, answer


async def measure(
    expected: book.Expected, repeat: int, limit_s: float, scanned: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Each figure's timings, a summary of its answers, and the wrong answers."""
    timings: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    wrong: list[str] = []
    for name, call in figures(expected).items():
        scan_s = sum(scanned[table]["median_s"] for table in TABLES_READ[name])
        try:
            first_s, answer = await _timed(call, limit_s)
        except TimeoutError:
            timings[name] = {"timed_out": True, "over_s": limit_s}
            continue
        wrong += _check(name, answer, expected)
        answers[name] = _summary(name, answer)
        runs = [(await _timed(call, limit_s))[0] for _ in range(repeat)]
        median = statistics.median(runs)
        timings[name] = {
            "median_s": round(median, 4),
            "max_s": round(max(runs), 4),
            "first_s": round(first_s, 4),
            "scan_s": round(scan_s, 4),
            "ratio_to_scan": round(median / scan_s, 2) if scan_s else None,
        }
    return timings, answers, wrong


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    run_plan = plan(args.loans, args.seed, args.reuse)
    scratch.use_environment(run_plan)
    result: dict[str, Any] = {"bench": "analytics", "loans": args.loans, "seed": args.seed}
    async with book_database(
        run_plan, args.loans, args.seed, reuse=args.reuse, limit_s=args.timeout
    ) as made:
        scanned = await scans(_dsn(run_plan.database_url), args.repeat)
        timings, answers, wrong = await measure(made.expected, args.repeat, args.timeout, scanned)
        snapshot_s = await snapshot_the_day()
        closed, closed_answers, closed_wrong = await measure(
            made.expected, args.repeat, args.timeout, scanned
        )
        wrong += [f"closed day: {what}" for what in closed_wrong]
        if closed_answers != answers:
            wrong.append(f"closed day: {closed_answers} != {answers}")
    result.update(
        machine=machine_line(made.backend, run_plan),
        as_of=book.AS_OF.isoformat(),
        database=run_plan.database_name if args.reuse else "scratch (dropped)",
        generated_s=made.generated_s,
        rows=made.expected.rows,
        lender={"id": made.expected.lender_id, "claims": made.expected.lender_claims},
        repeat=args.repeat,
        scans=scanned,
        figures=timings,
        snapshot_job_s=snapshot_s,
        closed_day=closed,
        answers=answers,
        checks="ok" if not wrong else wrong,
        under_one_second=all(t.get("max_s", 1e9) < 1 for t in closed.values()),
        under_one_second_today_live=all(t.get("max_s", 1e9) < 1 for t in timings.values()),
    )
    return result, not wrong


async def snapshot_the_day() -> float:
    """The next morning: the clock a day on, the book's last day (now closed) snapshot
    by the job's own function (a snapshot kept by an earlier `--reuse` run removed
    first); the seconds it took."""
    from models.disclosures import FigureSnapshot
    from services.analytics import snapshots
    from services.platform import clock

    await clock.start_at(book.AS_OF + timedelta(days=1))
    await FigureSnapshot.filter(day=book.AS_OF).delete()
    started = time.perf_counter()
    assert await snapshots.take_day(book.AS_OF)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench analytics", description="the analytics figures over a loan book"
    )
    parser.add_argument("--loans", type=int, default=100_000, help="disbursed loans (100000)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (1)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (5)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per figure (120)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database for later runs (lendbridge_bench_analytics_<loans>_<seed>)",
    )
    args = parser.parse_args()
    if args.loans < 10 or args.repeat < 1 or args.timeout <= 0:
        parser.error("--loans must be at least 10, --repeat at least 1, --timeout above 0")
    import json

    result, ok = asyncio.run(run(args))
    print(json.dumps(result))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
