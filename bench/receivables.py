"""Benchmark: `myReceivables` of a lender holding many claims, through the ASGI app.

Run: `scripts/bench receivables [--claims N] [--per-loan K] [--requests R]
[--bid-amount 500.00] [--postgres]` (or `.venv/bin/python -m bench.receivables ...`).
Never part of the test run.

Set-up (not timed): a database of its own, a temporary SQLite file and the in-process
broker by default; with `--postgres`, `lendbridge_bench_<run id>` on the PostgreSQL server
(BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; with BENCH_USE_ENV=1
the server of DATABASE_URL) and a Redis key prefix of its own (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/0; REDIS_URL with BENCH_USE_ENV=1). Both are removed afterwards.
Then, in this process with the app's lifespan (its sandbox provider), through the
services (`bench/repayment_setup.py`): one lender with the money for N bids, N / K loans
each of a new verified borrower, filled by K bids of that lender, signed, disbursed and
settled (N claims, REPAYING), the first installment repaid on every other loan (receipts
for the view to read); parameters raised only where that would not fit.

Timed: R `myReceivables` requests of the lender, one at a time, through the whole ASGI
stack in-process (httpx.ASGITransport), after a warm-up; p50 and p95 latency. The
queries of one more request (untimed) are counted by wrapping the database client's
execute methods; every answer must list the N claims.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from typing import Any

from bench.common import (
    bench_database,
    embedded_app,
    machine_line,
    percentile,
    plan_run,
    use_environment,
)
from tests.statements import recording_statements

RECEIVABLES = """{ myReceivables { claimId loanId loanStatus principal receivedPrincipal
  receivedInterest receivedPenalty expectedPrincipal expectedInterest nextDate } }"""
WARM_UP = 10


# --- set-up and the timed requests ---------------------------------------------------------


async def _setup(sandbox: Any, claims: int, per_loan: int, bid_fen: int) -> tuple[str, list[str]]:
    """The lender's N claims on N / K loans; returns the lender's access token and the
    parameters raised."""
    from bench import lending_setup as setup
    from bench import repayment_setup

    admin = await setup.create_staff("admin")
    # make_room leaves a lender room for two bids of its `bid_fen`: here all N of them.
    changed = await setup.make_room(admin, per_loan * bid_fen, math.ceil(claims * bid_fen / 2))
    lender, phone = await setup.ready_lender(claims * bid_fen, "Bench Holder")
    for number in range(claims // per_loan):
        loan = await repayment_setup.repaying_loan(sandbox, lender.id, per_loan, bid_fen)
        if number % 2 == 0:
            await repayment_setup.repay_first(sandbox, loan)
    return await setup.access_token(phone), changed


async def _request(client: Any, token: str, claims: int) -> None:
    response = await client.post(
        "/graphql", json={"query": RECEIVABLES}, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"request failed: {response.text[:500]}")
    if len(body["data"]["myReceivables"]) != claims:
        raise SystemExit(f"{len(body['data']['myReceivables'])} receivables, not {claims}")


async def _measure(app: Any, token: str, claims: int, requests: int) -> tuple[list[float], int]:
    """Latency of each of `requests` requests, and the queries of one more."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(WARM_UP):
            await _request(client, token, claims)
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            await _request(client, token, claims)
            timings.append(time.perf_counter() - started)
        with recording_statements() as seen:
            await _request(client, token, claims)
    return timings, len(seen)


async def run(args: argparse.Namespace) -> None:
    plan = plan_run(postgres=args.postgres)
    use_environment(plan)

    from services.money.money import parse_money

    bid_fen = parse_money(args.bid_amount)
    async with bench_database(plan) as backend:
        started = time.perf_counter()
        async with embedded_app() as app:
            token, changed = await _setup(
                app.state.sandbox.sandbox, args.claims, args.per_loan, bid_fen
            )
            print(
                f"set-up: {args.claims} claims on {args.claims // args.per_loan} loans in"
                f" {time.perf_counter() - started:.0f} s; parameters raised:"
                f" {', '.join(changed) or 'none'}",
                flush=True,
            )
            timings, queries = await _measure(app, token, args.claims, args.requests)

    print(f"\n{machine_line(backend, plan)}")
    print(
        f"{args.requests} myReceivables requests, one at a time, in-process; the lender holds"
        f" {args.claims} claims on {args.claims // args.per_loan} loans\n"
    )
    print(
        f"p50 {statistics.median(timings) * 1000:.1f} ms, p95 {percentile(timings, 0.95):.1f} ms,"
        f" {len(timings) / sum(timings):.1f} requests/s, {queries} queries per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench receivables", description="myReceivables of a lender with N claims"
    )
    parser.add_argument("--claims", type=int, default=200, help="N (default 200)")
    parser.add_argument(
        "--per-loan", type=int, default=4, help="claims per loan, K, dividing N (default 4)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests (default 200)")
    parser.add_argument(
        "--bid-amount", default="500.00", help="each claim's principal, in yuan (default 500.00)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL and Redis (default: SQLite file)"
    )
    args = parser.parse_args()
    if args.claims < 1 or args.per_loan < 1 or args.claims % args.per_loan or args.requests < 1:
        parser.error("--claims and --requests must be at least 1, --per-loan must divide --claims")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
