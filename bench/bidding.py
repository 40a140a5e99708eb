"""Benchmark: N concurrent lenders bidding on one hot loan, through GraphQL and directly.

Run: `scripts/bench bidding [--lenders N] [--bid-amount 100.00] [--concurrency C]
[--pool-size P] [--workers W] [--job-workers J] [--pgbench-seconds 10] [--sqlite]` (or
`.venv/bin/python -m bench.bidding ...`). Never part of the test run.

Set-up (not timed): a database of its own, `lendbridge_bench_<run id>` on the PostgreSQL
server (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; with
BENCH_USE_ENV=1 the server of DATABASE_URL) migrated from migrations/, and a Redis key
prefix of its own (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; REDIS_URL with
BENCH_USE_ENV=1); `--sqlite`: a temporary SQLite file and the in-process broker. Both
are removed afterwards. Then, through the services: platform parameters raised where a
loan of N bids would not fit, two verified borrowers each with a listed loan of exactly
N x the bid amount, and N lenders (custody account, deposit, AGGRESSIVE R4 assessment,
notice confirmed, an access token).

Phase A, GraphQL: the platform runs as README's deployment does (bench/common.py
`api_process`): `python -m app serve` on a free port with `--workers W` uvicorn worker
processes, `--job-workers J` (default 2) `python -m app worker` processes doing the outbox,
payment instructions and jobs, and the sandbox provider as its own process (on SQLite:
one API process with all of it inside); each lender sends `placeBid`, reads
its SMS code from the outgoing messages (its phone's lookup hash), and sends
`confirmOperation`, over HTTP (httpx, one connection per lender). Phase B, the service:
the same N lenders bid on the second loan by calling `bidding.place_bid` and
`confirmation.confirm_operation` in this process (asyncio.gather). Per lender, the latency of
the bid is place + confirm (reading the code, the stand-in for the member typing it, is
left out); bids/s is confirmed bids over the wall time of the whole phase. Every bid is
checked: the accepted amounts add up to the loan's amount exactly.

Beside them (PostgreSQL): pgbench's hot-row transaction (`bench/pgbench.py`) on the same
server with the same number of clients, and each phase's bids/s as a share of its tps,
the physical limit of one loan row. Before the phases, one probe bid through GraphQL in
this process counts the SQL statements of `placeBid` and `confirmOperation`; after
them, no lender may hold frozen money that no accepted bid accounts for. The last line
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu, pgbench
from bench.bidding_measures import leaked_freezes, statements_per_bid
from bench.common import (
    Api,
    api_process,
    bench_database,
    embedded_app,
    machine_line,
    percentile,
    plan_run,
    use_environment,
)

ROOT = Path(__file__).resolve().parent.parent

PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId bid { id status } }
  ... on PlaceBidError { code message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { id status amount } }
    ... on ConfirmOperationError { code message } } }"""


@dataclass
class Phase:
    mode: str
    loan_id: int
    bid_seconds: list[float] = field(default_factory=list)  # place + confirm, per lender
    confirm_seconds: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    funded: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU ms per confirmed bid


def _money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def _quiet(loan_id: int, limit_seconds: float = 180.0) -> None:
    """Wait until the loan is full (its disbursement then waits for the borrower's
    signature) and no payment instruction is left to send, so the next phase does not
    share the machine with this one's tail."""
    from models.loans import Loan, LoanStatus
    from models.payments import InstructionStatus, PaymentInstruction

    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        loan = await Loan.get(id=loan_id)
        waiting = await PaymentInstruction.filter(
            status__in=[InstructionStatus.PENDING, InstructionStatus.UNKNOWN]
        ).count()
        if loan.status in (LoanStatus.FULL, LoanStatus.REPAYING) and not waiting:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"loan {loan_id} not full and settled within {limit_seconds:.0f} s")


async def _check_funded(phase: Phase) -> None:
    """Σ accepted == amount, never above; every lender's bid confirmed."""
    from models.bids import Bid, BidStatus
    from models.loans import Loan

    loan = await Loan.get(id=phase.loan_id)
    accepted = await Bid.filter(
        loan_id=loan.id, status__in=[BidStatus.ACCEPTED, BidStatus.TRANSFERRED]
    ).values_list("amount_fen", flat=True)
    total = sum(int(amount) for amount in accepted)  # type: ignore[call-overload]
    if total > loan.amount_fen or loan.funded_fen > loan.amount_fen:
        raise SystemExit(f"{phase.mode}: funded past the amount: {total} > {loan.amount_fen}")
    if total != loan.amount_fen or loan.funded_fen != loan.amount_fen:
        raise SystemExit(
            f"{phase.mode}: accepted {_money(total)} of {_money(loan.amount_fen)}"
            f" (failures: {dict(phase.failures)})"
        )
    phase.funded = f"{_money(total)} = {_money(loan.amount_fen)}"


async def _gather_limited(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> float:
    """Run the jobs at most `concurrency` at a time; return the wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - started


async def phase_graphql(
    api: Api,
    loan_id: int,
    lenders: list[tuple[int, str, str]],
    bid_fen: int,
    concurrency: int,
) -> Phase:
    import httpx

    from bench.lending_setup import code_for

    phase = Phase(mode="graphql (uvicorn)", loan_id=loan_id)
    amount = _money(bid_fen)
    # uvicorn closes a connection idle for 5 s: the client lets it go a second before, so a
    # lender waiting its turn never reuses a connection the server is closing (ReadError).
    limits = httpx.Limits(
        max_connections=len(lenders) + 10, max_keepalive_connections=None, keepalive_expiry=4.0
    )
    async with httpx.AsyncClient(base_url=api.base, limits=limits, timeout=300) as client:
        # Warm-up: schema, caches and database connections of the API process.
        warm = {"Authorization": f"Bearer {lenders[0][2]}"}
        for _ in range(20):
            await client.post("/graphql", json={"query": "{ me { roles } }"}, headers=warm)

        async def post(query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            body: dict[str, Any] = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
            data: dict[str, Any] = body["data"]
            return data

        def bidder(user_id: int, phone: str, token: str) -> Callable[[], Awaitable[None]]:
            async def bid() -> None:
                variables = {
                    "input": {
                        "loanId": str(loan_id),
                        "amount": amount,
                        "idempotencyKey": f"bench-a-{user_id}",
                    }
                }
                t0 = time.perf_counter()
                placed = (await post(PLACE, variables, token))["placeBid"]
                placing = time.perf_counter() - t0
                if placed["__typename"] != "BidPlaced":
                    phase.failures[f"place:{placed.get('code')}"] += 1
                    return
                code = await code_for(phone, loan_id)
                t1 = time.perf_counter()
                confirmed = (
                    await post(CONFIRM, {"id": placed["operationId"], "code": code}, token)
                )["confirmOperation"]
                confirming = time.perf_counter() - t1
                if confirmed["__typename"] != "OperationConfirmed":
                    phase.failures[f"confirm:{confirmed.get('code')}"] += 1
                    return
                phase.bid_seconds.append(placing + confirming)
                phase.confirm_seconds.append(confirming)

            return bid

        jobs = [bidder(user_id, phone, token) for user_id, phone, token in lenders]
        before = cpu.sample(api.trees())
        phase.wall_seconds = await _gather_limited(jobs, concurrency)
        phase.cpu = cpu.per_unit(before, cpu.sample(api.trees()), len(phase.bid_seconds))
    return phase


async def phase_service(
    loan_id: int, lenders: list[tuple[int, str, str]], bid_fen: int, concurrency: int
) -> Phase:
    from bench.lending_setup import code_for, member_actor
    from services.errors import DomainError
    from services.loans import bidding
    from services.operations import confirmation

    phase = Phase(mode="service (direct)", loan_id=loan_id)

    def bidder(user_id: int, phone: str) -> Callable[[], Awaitable[None]]:
        async def bid() -> None:
            actor = member_actor(user_id)
            t0 = time.perf_counter()
            try:
                placed = await bidding.place_bid(
                    actor=actor,
                    loan_id=loan_id,
                    amount=bid_fen,
                    idempotency_key=f"bench-b-{user_id}",
                )
            except DomainError as error:
                phase.failures[f"place:{error.code}"] += 1
                return
            placing = time.perf_counter() - t0
            code = await code_for(phone, loan_id)
            t1 = time.perf_counter()
            try:
                await confirmation.confirm_operation(
                    actor=actor, operation_id=str(placed.operation_id), code=code
                )
            except DomainError as error:
                phase.failures[f"confirm:{error.code}"] += 1
                return
            confirming = time.perf_counter() - t1
            phase.bid_seconds.append(placing + confirming)
            phase.confirm_seconds.append(confirming)

        return bid

    jobs = [bidder(user_id, phone) for user_id, phone, _token in lenders]
    before = cpu.sample()
    phase.wall_seconds = await _gather_limited(jobs, concurrency)
    phase.cpu = cpu.per_unit(before, cpu.sample(), len(phase.bid_seconds))
    return phase


async def _setup(
    lenders: int, bid_fen: int
) -> tuple[list[int], list[tuple[int, str, str]], list[str]]:
    """Parameters, two listed loans of `lenders` x `bid_fen`, the lenders with tokens."""
    from bench import lending_setup as setup

    loan_fen = lenders * bid_fen
    admin = await setup.create_staff("admin")
    changed = await setup.make_room(admin, loan_fen, bid_fen)
    loans = []
    for _ in range(2):
        borrower = await setup.verified_borrower()
        loan = await setup.listed_loan(borrower.id, loan_fen, min_bid_fen=min(bid_fen, 5_000))
        loans.append(loan.id)
    # A third, for the probe bid that counts statements.
    borrower = await setup.verified_borrower()
    loans.append((await setup.listed_loan(borrower.id, 100_000, min_bid_fen=100)).id)
    gate = asyncio.Semaphore(8)

    async def lender(index: int) -> tuple[int, str, str]:
        async with gate:
            user, phone = await setup.ready_lender(3 * bid_fen, f"Bench Lender {index:04d}")
            return user.id, phone, await setup.access_token(phone)

    ready = await asyncio.gather(*(lender(index) for index in range(1, lenders + 1)))
    return loans, list(ready), changed


def _table(phases: list[Phase], lenders: int) -> Iterator[str]:
    head = (
        f"{'mode':<18} {'N':>5} {'ok':>5} {'bids/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'confirm p50':>11} {'confirm p99':>11}  funded (accepted = amount)"
    )
    yield head
    yield "-" * len(head)
    for phase in phases:
        ok = len(phase.bid_seconds)
        yield (
            f"{phase.mode:<18} {lenders:>5} {ok:>5} {ok / phase.wall_seconds:>8.1f}"
            f" {statistics.median(phase.bid_seconds) * 1000:>8.1f}"
            f" {percentile(phase.bid_seconds, 0.99):>8.1f}"
            f" {statistics.median(phase.confirm_seconds) * 1000:>11.1f}"
            f" {percentile(phase.confirm_seconds, 0.99):>11.1f}  {phase.funded}"
        )


async def run(args: argparse.Namespace) -> None:
    plan = plan_run(postgres=not args.sqlite, pool_size=args.pool_size)
    env = use_environment(plan, OPERATION_CONFIRM_MINUTES="30", SMS_CODE_MINUTES="30")

    from services.money.money import parse_money

    bid_fen = parse_money(args.bid_amount)
    concurrency = args.concurrency or args.lenders
    async with bench_database(plan) as backend:
        started = time.perf_counter()
        async with embedded_app() as app:
            loans, lenders, changed = await _setup(args.lenders, bid_fen)
            statements = await statements_per_bid(app, loans[2], lenders[0])
        hot = (
            None if args.sqlite else await pgbench.hot_row(plan, concurrency, args.pgbench_seconds)
        )
        print(
            f"set-up: {args.lenders} lenders, loans {loans[0]} and {loans[1]} of"
            f" {_money(args.lenders * bid_fen)} each, in {time.perf_counter() - started:.0f} s;"
            f" parameters raised: {', '.join(changed) or 'none'}",
            flush=True,
        )

        async with api_process(
            plan, env, workers=args.workers, job_workers=args.job_workers
        ) as api:
            graphql = await phase_graphql(api, loans[0], lenders, bid_fen, concurrency)
            await _quiet(loans[0])
        await _check_funded(graphql)
        async with embedded_app():
            service = await phase_service(loans[1], lenders, bid_fen, concurrency)
            await _quiet(loans[1])
        await _check_funded(service)
        leaked = await leaked_freezes([user_id for user_id, _phone, _token in lenders])

    pool = ""
    if not args.sqlite:
        pool = f", pool maxsize {args.pool_size or '5 (the default)'}, {args.workers} API worker(s)"
    print(f"\n{machine_line(backend, plan, pool)}")
    print(
        f"{args.lenders} lenders x {_money(bid_fen)} on one loan each phase,"
        f" concurrency {concurrency}; latency = placeBid + confirmOperation per lender\n"
    )
    for line in _table([graphql, service], args.lenders):
        print(line)
    for phase in (graphql, service):
        if phase.failures:
            print(f"{phase.mode} failures: {dict(phase.failures)}")
    rates = {p.mode: len(p.bid_seconds) / p.wall_seconds for p in (graphql, service)}
    if hot is not None:
        print(f"\npgbench hot-row transaction, {hot.clients} clients: {hot.tps:.1f} tps")
        for mode, rate in rates.items():
            print(f"  {mode}: {rate:.1f} bids/s = {rate / hot.tps:.3f} x pgbench")
    print(f"statements per bid: {statements}; frozen beyond accepted bids: {leaked} fen")
    for name, cpu_ms in (("graphql", graphql.cpu), ("service", service.cpu)):
        print(f"CPU ms per bid, {name}: {cpu_ms}")
    if hot is not None:
        print(f"CPU ms per pgbench transaction: {hot.cpu}")
    figures: dict[str, Any] = {
        "lenders": args.lenders,
        "workers": args.workers,
        "job_workers": args.job_workers if not args.sqlite else 0,
        "pool_size": args.pool_size or 5,
        "concurrency": concurrency,
        "backend": backend,
        "graphql_bids_per_s": round(rates[graphql.mode], 2),
        "service_bids_per_s": round(rates[service.mode], 2),
        "graphql_p50_ms": round(statistics.median(graphql.bid_seconds) * 1000, 1),
        "graphql_p99_ms": round(percentile(graphql.bid_seconds, 0.99), 1),
        "service_p50_ms": round(statistics.median(service.bid_seconds) * 1000, 1),
        "service_p99_ms": round(percentile(service.bid_seconds, 0.99), 1),
        "pgbench_clients": hot.clients if hot else None,
        "pgbench_tps": round(hot.tps, 1) if hot else None,
        "graphql_ratio": round(rates[graphql.mode] / hot.tps, 4) if hot else None,
        "service_ratio": round(rates[service.mode] / hot.tps, 4) if hot else None,
        "statements": statements,
        "graphql_cpu_ms_per_bid": graphql.cpu,
        "service_cpu_ms_per_bid": service.cpu,
        "pgbench_cpu_ms_per_tx": hot.cpu if hot else None,
        "oversubscribed": 0,  # _check_funded stops the run otherwise
        "leaked_freeze_fen": leaked,
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench bidding", description="N concurrent lenders on one hot loan"
    )
    parser.add_argument("--lenders", type=int, default=200, help="N (default 200)")
    parser.add_argument(
        "--bid-amount", default="100.00", help="each lender's bid, in yuan (default 100.00)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=0, help="bids in flight at once (default N)"
    )
    parser.add_argument(
        "--pool-size", type=int, default=0, help="PostgreSQL pool maxsize (default: the app's)"
    )
    parser.add_argument(
        "--pgbench-seconds", type=int, default=10, help="pgbench's run (default 10 s)"
    )
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (default 1)")
    parser.add_argument(
        "--job-workers",
        type=int,
        default=2,
        help="`app worker` processes (default 2; 0: the API processes dispatch)",
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, no Redis")
    args = parser.parse_args()
    if args.lenders < 1 or args.concurrency < 0 or args.workers < 1 or args.job_workers < 0:
        parser.error("--lenders and --workers must be at least 1, --job-workers at least 0")
    if args.sqlite and args.workers > 1:
        parser.error("several workers need PostgreSQL and Redis")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
