"""Benchmark: N viewers of one hot loan's `bidProgress` on one API process, M bids.

Run: `scripts/bench subscriptions [--subscribers N] [--bids M] [--processes P]
[--pause-ms 200] [--query-rate 10] [--warm-bids 5] [--warm-crowd 500] [--sqlite]`
(or `.venv/bin/python -m bench.subscriptions ...`). Never part of the test run. Its last
line is one JSON object with every figure.

Set-up (not timed), as `bench/bidding.py`: a database and Redis prefix of its own
(PostgreSQL + Redis by default, `--sqlite` a temporary SQLite file and the in-process
broker), removed afterwards; through the services (`bench/lending_setup.py`) one listed
loan of 2 x (M + W) x the bid (so the bids never fill it) and M + W lenders with access
tokens (the first W = `--warm-bids` place the warm-up bids).

The API runs as ONE real `python -m app serve --workers 1` process on a free port
(JOBS_EMBEDDED=false, its open-file limit raised to the hard one), with the per-address
WebSocket limits raised to N + 100: every client here comes from 127.0.0.1. Its CPU time
and RSS are read from /proc/<pid>.

1. Baseline RSS. The cold one after 20 HTTP queries; then the process is brought to the
   state of a server that has been running: `--warm-bids` bids (5, the pool's size) placed
   and confirmed over HTTP at once, so that the bid's statements are prepared on every
   connection of the pool (asyncpg prepares per connection) as are the parse and
   validation caches and the progress path, and a crowd of
   `--warm-crowd` subscribers connected, warmed up and gone (what the first WebSocket
   connections load once per process). The baseline is the RSS after that; the ratio
   after leave is reported to both.
2. Connect: P client processes (`bench/subscription_client.py`) hold N / P anonymous
   connections each, opened `--connect-concurrency` at a time per process
   (graphql-transport-ws: connection_init, connection_ack, subscribe `bidProgress`).
   Connect time: from the command to the last process reporting all its subscribes sent.
3. Warm-up (not timed): the server subscribes to the broker after the subscribe message,
   unacknowledged; so a progress event with funded 0.00 is written to the outbox (the
   API process's dispatcher publishes it) until every connection has received one. RSS
   with all subscribed.
4. Bids: the M lenders one after another, `--pause-ms` apart: placeBid, the SMS code,
   confirmOperation over HTTP. Each bid's event is told apart by its `funded` amount.
   Delivery latency of a (bid, subscriber) = the client's receive time (time.time(), the
   same clock in every process) minus the time the confirmOperation request was SENT
   (so it includes the confirmation itself; `confirm_p50_ms` is its own duration).
   Meanwhile ordinary HTTP queries (`loan(id)` with a lender's token) go out at
   `--query-rate` per second on a fixed schedule (a slow answer does not delay the next
   one), from the first bid until every delivery is in (or none has come for 15 s).
   CPU ms per delivered event = the server's CPU time over that phase (its bids and
   queries included) / bid events delivered.
5. The clients close their connections and exit; after `--settle` seconds, the RSS after
   leave and its ratio to the baseline.

The client processes share the machine with the server: on 2 cores their own CPU (JSON
decoding of every event, N per bid) delays the receive times too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from typing import Any

from bench.common import (
    Run,
    api_process,
    bench_database,
    embedded_app,
    machine_line,
    plan_run,
    use_environment,
)
from bench.subscription_processes import (
    ClientProcess,
    client_processes,
    cpu_seconds,
    crowd_round,
    open_files,
    raise_open_files,
    rss_mb,
    statuses,
    warm_up,
)
from bench.subscription_report import Figures, summary, table

BID_FEN = 10_000  # 100.00 each

PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId }
  ... on PlaceBidError { code message } } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { id status amount } }
    ... on ConfirmOperationError { code message } } }"""
LOAN = """query ($id: ID!) { loan(id: $id) { id status progress { funded remaining bidders } } }"""


def _money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def _setup(bids: int) -> tuple[int, list[tuple[int, str, str]], list[str]]:
    """Parameters, one listed loan of 2 x `bids` bids, `bids` lenders with tokens."""
    from bench import lending_setup as setup

    loan_fen = 2 * bids * BID_FEN
    admin = await setup.create_staff("admin")
    changed = await setup.make_room(admin, loan_fen, BID_FEN)
    borrower = await setup.verified_borrower()
    loan = await setup.listed_loan(borrower.id, loan_fen, min_bid_fen=5_000)
    gate = asyncio.Semaphore(8)

    async def lender(index: int) -> tuple[int, str, str]:
        async with gate:
            user, phone = await setup.ready_lender(3 * BID_FEN, f"Bench Viewer Lender {index:04d}")
            return user.id, phone, await setup.access_token(phone)

    ready = await asyncio.gather(*(lender(index) for index in range(1, bids + 1)))
    return loan.id, list(ready), changed


async def _queries(
    base: str, loan_id: int, token: str, rate: float, stop: asyncio.Event, figures: Figures
) -> None:
    """`loan(id)` at `rate` per second on a fixed schedule until `stop`."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    body = {"query": LOAN, "variables": {"id": str(loan_id)}}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one() -> None:
            started = time.perf_counter()
            try:
                response = await client.post("/graphql", json=body, headers=headers)
                ok = response.status_code == 200 and not response.json().get("errors")
            except httpx.HTTPError:
                ok = False
            if ok:
                figures.query_seconds.append(time.perf_counter() - started)
            else:
                figures.query_failures += 1

        tasks: list[asyncio.Task[None]] = []
        period = 1 / rate
        next_at = time.perf_counter()
        while not stop.is_set():
            tasks.append(asyncio.create_task(one()))
            next_at += period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)


async def _bids(
    base: str,
    loan_id: int,
    lenders: list[tuple[int, str, str]],
    pause: float,
    figures: Figures | None,
    first: int = 1,
) -> None:
    """The bids of `lenders` one after another, the first making the loan's `first`th;
    records when each confirmOperation was sent, by the funded amount its event will
    carry (into `figures`, when given)."""
    import httpx

    from bench.lending_setup import code_for

    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

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

        for number, (user_id, phone, token) in enumerate(lenders, start=first):
            variables = {
                "input": {
                    "loanId": str(loan_id),
                    "amount": _money(BID_FEN),
                    "idempotencyKey": f"bench-viewers-{user_id}",
                }
            }
            placed = (await post(PLACE, variables, token))["placeBid"]
            if placed["__typename"] != "BidPlaced":
                raise RuntimeError(f"placeBid: {placed}")
            code = await code_for(phone, loan_id)
            sent = time.time()
            started = time.perf_counter()
            confirmed = (await post(CONFIRM, {"id": placed["operationId"], "code": code}, token))[
                "confirmOperation"
            ]
            if confirmed["__typename"] != "OperationConfirmed":
                raise RuntimeError(f"confirmOperation: {confirmed}")
            if figures is not None:
                figures.confirm_seconds.append(time.perf_counter() - started)
                figures.sent[_money(number * BID_FEN)] = sent
            await asyncio.sleep(pause)


async def _deliveries(clients: list[ClientProcess], expected: int, quiet: float = 15.0) -> None:
    """Until every bid event is in, or none has come for `quiet` seconds."""
    last, since = -1, time.monotonic()
    while True:
        events = sum(status["events"] for status in await statuses(clients))
        if events >= expected:
            return
        if events != last:
            last, since = events, time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        await asyncio.sleep(0.5)


def _collect(clients: list[ClientProcess], figures: Figures) -> None:
    for client in clients:
        report = json.loads(client.results.read_text())
        figures.resync += report["status"]["resync"]
        figures.client_errors.update(report["errors"])
        for funded, times in report["received"].items():
            sent = figures.sent.get(funded)
            if sent is None:
                figures.unexpected += len(times)
                continue
            figures.delivered += len(times)
            figures.latencies.extend(at - sent for at in times)


async def measure(args: argparse.Namespace, plan: Run, env: dict[str, str]) -> Figures:
    import httpx

    figures = Figures()
    limit = str(args.subscribers + 100)
    server_env = {
        **env,
        "WS_PENDING_PER_ADDRESS": limit,
        "WS_ANONYMOUS_PER_ADDRESS": limit,
        "WS_MEMBER_PER_ADDRESS": limit,
        "WS_INIT_TIMEOUT_SECONDS": "120",
    }
    async with embedded_app():
        loan_id, lenders, changed = await _setup(args.bids + args.warm_bids)
    warm_lenders, lenders = lenders[: args.warm_bids], lenders[args.warm_bids :]
    print(
        f"set-up: loan {loan_id} of {_money(2 * (args.bids + args.warm_bids) * BID_FEN)},"
        f" {args.bids} + {args.warm_bids} lenders;"
        f" parameters raised: {', '.join(changed) or 'none'}",
        flush=True,
    )
    async with api_process(plan, server_env, workers=1, preexec_fn=raise_open_files) as api:
        async with httpx.AsyncClient(base_url=api.base) as http:
            warm = {"Authorization": f"Bearer {lenders[0][2]}"}
            for _ in range(20):
                await http.post(
                    "/graphql",
                    json={"query": LOAN, "variables": {"id": str(loan_id)}},
                    headers=warm,
                )
        await asyncio.sleep(1)
        figures.rss_cold = rss_mb(api.pid)
        await asyncio.gather(*(_bids(api.base, loan_id, [one], 0, None) for one in warm_lenders))
        if args.warm_crowd:
            await crowd_round(plan, api, loan_id, args, args.rounds, args.warm_crowd)
        await asyncio.sleep(args.settle)
        figures.rss_baseline = rss_mb(api.pid)
        print(
            f"baseline: {figures.rss_cold:.1f} MiB cold, {figures.rss_baseline:.1f} MiB after"
            f" {args.warm_bids} bids and a crowd of {args.warm_crowd}",
            flush=True,
        )
        figures.fds["baseline"] = open_files(api.pid)
        clients = await client_processes(plan, api, loan_id, args, 0)
        try:
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.ask("connect", 1800) for client in clients))
            figures.connect_seconds = time.perf_counter() - started
            figures.subscribed = sum(answer["subscribed"] for answer in answers)
            figures.connect_failed = sum(answer["failed"] for answer in answers)
            print(
                f"connected: {figures.subscribed} subscribed, {figures.connect_failed} failed,"
                f" in {figures.connect_seconds:.1f} s",
                flush=True,
            )
            await warm_up(loan_id, clients, figures.subscribed)
            figures.warm_seconds = time.perf_counter() - started
            await asyncio.sleep(2)  # a second warm-up event may still be on its way
            figures.rss_connected = rss_mb(api.pid)
            figures.fds["connected"] = open_files(api.pid)

            stop = asyncio.Event()
            cpu_before = cpu_seconds(api.pid)
            clients_before = sum(cpu_seconds(client.process.pid) for client in clients)
            phase_started = time.perf_counter()
            queries = asyncio.create_task(
                _queries(api.base, loan_id, lenders[0][2], args.query_rate, stop, figures)
            )
            try:
                await _bids(
                    api.base,
                    loan_id,
                    lenders,
                    args.pause_ms / 1000,
                    figures,
                    first=args.warm_bids + 1,
                )
                await _deliveries(clients, figures.subscribed * args.bids)
            finally:
                stop.set()
                await queries
            figures.cpu_seconds = cpu_seconds(api.pid) - cpu_before
            figures.clients_cpu_seconds = (
                sum(cpu_seconds(client.process.pid) for client in clients) - clients_before
            )
            figures.phase_seconds = time.perf_counter() - phase_started

            for client in clients:
                await client.ask("report")
            _collect(clients, figures)

            started = time.perf_counter()
            await asyncio.gather(*(client.ask("leave", 600) for client in clients))
            figures.leave_seconds = time.perf_counter() - started
        finally:
            for client in clients:
                if client.process.returncode is None and client.process.stdin is not None:
                    client.process.stdin.close()
            await asyncio.gather(*(client.end() for client in clients))
        await asyncio.sleep(args.settle)
        figures.rss_after_leave = rss_mb(api.pid)
        figures.fds["after_leave"] = open_files(api.pid)
        for number in range(1, args.rounds):
            await crowd_round(plan, api, loan_id, args, number)
            await asyncio.sleep(args.settle)
            figures.rss_after_rounds.append(rss_mb(api.pid))
        figures.rss_peak = rss_mb(api.pid, "VmHWM")
    await _check_funded(loan_id, args.bids + args.warm_bids)
    return figures


async def _check_funded(loan_id: int, bids: int) -> None:
    from models.loans import Loan

    loan = await Loan.get(id=loan_id)
    if loan.funded_fen != bids * BID_FEN:
        raise SystemExit(f"loan {loan_id} funded {_money(loan.funded_fen)}, not {bids} bids")


async def run(args: argparse.Namespace) -> None:
    plan = plan_run(postgres=not args.sqlite)
    env = use_environment(plan, OPERATION_CONFIRM_MINUTES="30", SMS_CODE_MINUTES="30")
    async with bench_database(plan) as backend:
        figures = await measure(args, plan, env)
    result = summary(args, backend, figures)
    deflate = "permessage-deflate offered" if not args.no_deflate else "no compression"
    print(f"\n{machine_line(backend, plan)}, load average {os.getloadavg()[0]:.2f}")
    print(
        f"one API process, {args.subscribers} anonymous subscribers of one loan's bidProgress"
        f" in {args.processes} client processes ({deflate}), {args.bids} bids"
        f" {args.pause_ms} ms apart, loan(id) queries at {args.query_rate}/s meanwhile\n"
    )
    for line in table(result):
        print(line)
    if figures.client_errors:
        print(f"client errors: {dict(figures.client_errors.most_common(10))}")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench subscriptions",
        description="N subscribers to one hot loan's bidProgress on one API process, M bids",
    )
    parser.add_argument("--subscribers", type=int, default=10_000, help="N (default 10000)")
    parser.add_argument("--bids", type=int, default=20, help="M (default 20)")
    parser.add_argument("--processes", type=int, default=4, help="client processes (default 4)")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=50,
        help="connections opening at once per client process (default 50)",
    )
    parser.add_argument(
        "--pause-ms", type=int, default=200, help="pause after each bid (default 200)"
    )
    parser.add_argument(
        "--query-rate", type=float, default=10.0, help="HTTP queries per second (default 10)"
    )
    parser.add_argument(
        "--warm-bids", type=int, default=5, help="bids placed at once before the baseline (5)"
    )
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds after they left before the RSS (5)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="connect and leave N this many times in all; RSS after each (default 1)",
    )
    parser.add_argument(
        "--no-deflate", action="store_true", help="clients offer no permessage-deflate"
    )
    parser.add_argument(
        "--warm-crowd",
        type=int,
        default=500,
        help="subscribers connected and gone before the baseline (default 500; 0: none)",
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, no Redis")
    args = parser.parse_args()
    if (
        min(args.subscribers, args.bids, args.processes, args.rounds, args.warm_bids) < 1
        or args.query_rate <= 0
        or args.warm_crowd < 0
    ):
        parser.error(
            "--subscribers, --bids, --processes, --rounds, --warm-bids and --query-rate must be"
            " positive"
        )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
