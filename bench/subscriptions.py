"""Benchmark: N viewers of one hot loan's `bidProgress` on one API process, M bids.

Run: `scripts/bench subscriptions [--subscribers N] [--bids M] [--processes P]
[--pause-ms 200] [--query-rate 10] [--sqlite]` (or `.venv/bin/python -m
bench.subscriptions ...`). Never part of the test run. Its last line is one JSON object
with every figure.

Set-up (not timed), as `bench/bidding.py`: a database and Redis prefix of its own
(PostgreSQL + Redis by default, `--sqlite` a temporary SQLite file and the in-process
broker), removed afterwards; through the services (`bench/lending_setup.py`) one listed
loan of 2 x M x the bid (so the M bids never fill it) and M lenders with access tokens.

The API runs as ONE real `python -m app serve --workers 1` process on a free port
(JOBS_EMBEDDED=false, its open-file limit raised to the hard one), with the per-address
WebSocket limits raised to N + 100: every client here comes from 127.0.0.1. Its CPU time
and RSS are read from /proc/<pid>.

1. Baseline RSS, after a warm-up of HTTP requests.
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
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Api,
    Run,
    api_process,
    bench_database,
    embedded_app,
    machine_line,
    percentile,
    plan_run,
    use_environment,
)

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


def _raise_open_files() -> None:
    """In the child, before exec: the soft limit of open files raised to the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/<pid>/stat, utime and stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident set size of a process in MiB (/proc/<pid>/status, VmRSS; VmHWM: its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for {pid}")


def open_files(pid: int) -> int:
    """How many file descriptors a process holds (/proc/<pid>/fd): its sockets included."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class ClientProcess:
    """One `bench.subscription_client` process, spoken to one JSON line at a time."""

    def __init__(self, process: asyncio.subprocess.Process, results: Path, count: int):
        self.process = process
        self.results = results
        self.count = count

    @classmethod
    async def start(
        cls, run: Run, index: int, url: str, loan_id: int, count: int, args: argparse.Namespace
    ) -> ClientProcess:
        results = run.scratch / f"client-{index}.json"
        command = [
            sys.executable,
            "-m",
            "bench.subscription_client",
            "--url",
            url,
            "--loan",
            str(loan_id),
            "--count",
            str(count),
            "--concurrency",
            str(args.connect_concurrency),
            "--results",
            str(results),
        ]
        if args.no_deflate:
            command.append("--no-deflate")
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=(run.scratch / f"client-{index}.log").open("wb"),
        )
        client = cls(process, results, count)
        await client._answer(60)  # {"ready": true}
        return client

    async def _answer(self, limit_seconds: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), limit_seconds)
        if not line:
            raise RuntimeError(f"client process {self.process.pid} ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, command: str, limit_seconds: float = 60) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self._answer(limit_seconds)

    async def end(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@dataclass
class Figures:
    connect_seconds: float = 0.0
    warm_seconds: float = 0.0
    subscribed: int = 0
    connect_failed: int = 0
    rss_baseline: float = 0.0
    rss_connected: float = 0.0
    rss_after_leave: float = 0.0
    leave_seconds: float = 0.0
    rss_peak: float = 0.0
    rss_after_rounds: list[float] = field(default_factory=list)
    fds: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    clients_cpu_seconds: float = 0.0
    phase_seconds: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)  # funded -> confirm sent
    confirm_seconds: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    delivered: int = 0
    unexpected: int = 0
    resync: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    query_seconds: list[float] = field(default_factory=list)
    query_failures: int = 0


async def _setup(bids: int) -> tuple[int, list[tuple[int, str, str]], list[str]]:
    """Parameters, one listed loan of 2 x M bids, M lenders with tokens."""
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


async def _warm_event(loan_id: int) -> None:
    """A progress event with funded 0.00 (told apart by the clients), written to the
    outbox: the API process's dispatcher publishes it like a bid's."""
    from models.loans import Loan
    from services.loans.bidding import progress_channel
    from services.platform import outbox
    from services.platform.clock import now

    loan = await Loan.get(id=loan_id)
    await outbox.enqueue(
        progress_channel(loan_id),
        {
            "loan_id": loan_id,
            "event": "BID",
            "status": str(loan.status),
            "amount_fen": loan.amount_fen,
            "funded_fen": 0,
            "bidder_count": 0,
            "at": (await now()).isoformat(),
        },
    )


async def _statuses(clients: list[ClientProcess]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(client.ask("status") for client in clients)))


async def _warm_up(loan_id: int, clients: list[ClientProcess], subscribed: int) -> None:
    """Warm-up events until every connection has received one (at most 300 s)."""
    deadline = time.monotonic() + 300
    warm = 0
    while time.monotonic() < deadline:
        await _warm_event(loan_id)
        # The dispatcher polls every OUTBOX_POLL_SECONDS (1 s): wait until the count
        # stops moving before sending another.
        last, still = -1, 0
        while time.monotonic() < deadline and still < 4:
            await asyncio.sleep(0.5)
            warm = sum(status["warm"] for status in await _statuses(clients))
            if warm >= subscribed:
                return
            still = still + 1 if warm == last else 0
            last = warm
    raise RuntimeError(f"only {warm} of {subscribed} connections received a warm-up event")


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
    figures: Figures,
) -> None:
    """The M bids one after another; records when each confirmOperation was sent, by
    the funded amount its event will carry."""
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

        for number, (user_id, phone, token) in enumerate(lenders, start=1):
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
            figures.confirm_seconds.append(time.perf_counter() - started)
            if confirmed["__typename"] != "OperationConfirmed":
                raise RuntimeError(f"confirmOperation: {confirmed}")
            figures.sent[_money(number * BID_FEN)] = sent
            await asyncio.sleep(pause)


async def _deliveries(clients: list[ClientProcess], expected: int, quiet: float = 15.0) -> None:
    """Until every bid event is in, or none has come for `quiet` seconds."""
    last, since = -1, time.monotonic()
    while True:
        events = sum(status["events"] for status in await _statuses(clients))
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
        loan_id, lenders, changed = await _setup(args.bids)
    print(
        f"set-up: loan {loan_id} of {_money(2 * args.bids * BID_FEN)}, {args.bids} lenders;"
        f" parameters raised: {', '.join(changed) or 'none'}",
        flush=True,
    )
    async with api_process(plan, server_env, workers=1, preexec_fn=_raise_open_files) as api:
        async with httpx.AsyncClient(base_url=api.base) as http:
            warm = {"Authorization": f"Bearer {lenders[0][2]}"}
            for _ in range(20):
                await http.post(
                    "/graphql",
                    json={"query": LOAN, "variables": {"id": str(loan_id)}},
                    headers=warm,
                )
        await asyncio.sleep(1)
        figures.rss_baseline = rss_mb(api.pid)
        figures.fds["baseline"] = open_files(api.pid)
        clients = await _client_processes(plan, api, loan_id, args, 0)
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
            await _warm_up(loan_id, clients, figures.subscribed)
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
                await _bids(api.base, loan_id, lenders, args.pause_ms / 1000, figures)
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
            await _round(plan, api, loan_id, args, number)
            await asyncio.sleep(args.settle)
            figures.rss_after_rounds.append(rss_mb(api.pid))
        figures.rss_peak = rss_mb(api.pid, "VmHWM")
    await _check_funded(loan_id, args.bids)
    return figures


async def _client_processes(
    plan: Run, api: Api, loan_id: int, args: argparse.Namespace, round_number: int
) -> list[ClientProcess]:
    """P client processes, ready, with N between them."""
    url = api.base.replace("http://", "ws://") + "/graphql"
    shares = [
        args.subscribers // args.processes + (1 if index < args.subscribers % args.processes else 0)
        for index in range(args.processes)
    ]
    first = round_number * args.processes
    return list(
        await asyncio.gather(
            *(
                ClientProcess.start(plan, first + index, url, loan_id, count, args)
                for index, count in enumerate(shares)
                if count
            )
        )
    )


async def _round(
    plan: Run, api: Api, loan_id: int, args: argparse.Namespace, round_number: int
) -> None:
    """Another N subscribers, connected, warmed up and gone, nothing timed: does the RSS
    left after the first round grow again (held) or get used again (kept by the
    allocator)?"""
    clients = await _client_processes(plan, api, loan_id, args, round_number)
    try:
        answers = await asyncio.gather(*(client.ask("connect", 1800) for client in clients))
        await _warm_up(loan_id, clients, sum(answer["subscribed"] for answer in answers))
        await asyncio.gather(*(client.ask("leave", 600) for client in clients))
    finally:
        for client in clients:
            if client.process.returncode is None and client.process.stdin is not None:
                client.process.stdin.close()
        await asyncio.gather(*(client.end() for client in clients))


async def _check_funded(loan_id: int, bids: int) -> None:
    from models.loans import Loan

    loan = await Loan.get(id=loan_id)
    if loan.funded_fen != bids * BID_FEN:
        raise SystemExit(f"loan {loan_id} funded {_money(loan.funded_fen)}, not {bids} bids")


def _ms(values: list[float], share: float) -> float | None:
    return round(percentile(values, share), 1) if values else None


def summary(args: argparse.Namespace, backend: str, figures: Figures) -> dict[str, Any]:
    n = figures.subscribed
    expected = n * args.bids
    grown = figures.rss_connected - figures.rss_baseline
    return {
        "n": args.subscribers,
        "subscribed": n,
        "connect_failed": figures.connect_failed,
        "m": args.bids,
        "processes": args.processes,
        "connect_seconds": round(figures.connect_seconds, 2),
        "warm_seconds": round(figures.warm_seconds, 2),
        "delivery_p50_ms": _ms(figures.latencies, 0.50),
        "delivery_p99_ms": _ms(figures.latencies, 0.99),
        "delivery_max_ms": _ms(figures.latencies, 1.0),
        "delivered": figures.delivered,
        "expected": expected,
        "missing": expected - figures.delivered,
        "unexpected": figures.unexpected,
        "resync": figures.resync,
        "client_errors": sum(figures.client_errors.values()),
        "confirm_p50_ms": _ms(figures.confirm_seconds, 0.50),
        "cpu_ms_per_event": (
            round(figures.cpu_seconds * 1000 / figures.delivered, 3) if figures.delivered else None
        ),
        "server_cpu_seconds": round(figures.cpu_seconds, 2),
        "clients_cpu_seconds": round(figures.clients_cpu_seconds, 2),
        "phase_seconds": round(figures.phase_seconds, 2),
        "rss_baseline_mb": round(figures.rss_baseline, 1),
        "rss_connected_mb": round(figures.rss_connected, 1),
        "rss_per_1000_mb": round(grown / n * 1000, 2) if n else None,
        "rss_after_leave_mb": round(figures.rss_after_leave, 1),
        "rss_after_leave_ratio": round(figures.rss_after_leave / figures.rss_baseline, 2),
        "rss_peak_mb": round(figures.rss_peak, 1),
        "rss_after_rounds_mb": [round(rss, 1) for rss in figures.rss_after_rounds],
        "server_fds": figures.fds,
        "http_queries": len(figures.query_seconds),
        "http_failures": figures.query_failures,
        "http_p50_ms": _ms(figures.query_seconds, 0.50),
        "http_p99_ms": _ms(figures.query_seconds, 0.99),
        "deflate": not args.no_deflate,
        "backend": backend,
    }


def _table(result: dict[str, Any]) -> list[str]:
    def value(key: str, unit: str = "") -> str:
        found = result[key]
        return "-" if found is None else f"{found}{unit}"

    rows = [
        ("subscribers (subscribed / asked)", f"{result['subscribed']} / {result['n']}"),
        ("client processes", value("processes")),
        ("connect time (all subscribes sent)", value("connect_seconds", " s")),
        ("  until all received the warm-up", value("warm_seconds", " s")),
        ("bids", value("m")),
        (
            "delivery p50 / p99 / max (from confirm sent)",
            f"{value('delivery_p50_ms')} / {value('delivery_p99_ms')} / "
            f"{value('delivery_max_ms')} ms",
        ),
        (
            "delivered / expected (missing)",
            f"{result['delivered']} / {result['expected']} ({result['missing']})",
        ),
        ("RESYNC / client errors", f"{result['resync']} / {result['client_errors']}"),
        ("confirmOperation p50", value("confirm_p50_ms", " ms")),
        ("server CPU per delivered event", value("cpu_ms_per_event", " ms")),
        (
            "server CPU over the bid phase",
            f"{result['server_cpu_seconds']} s in {result['phase_seconds']} s"
            f" (client processes: {result['clients_cpu_seconds']} s)",
        ),
        (
            "RSS baseline / all subscribed",
            f"{result['rss_baseline_mb']} / {result['rss_connected_mb']} MiB"
            f" (peak {result['rss_peak_mb']} MiB)",
        ),
        ("RSS per 1,000 subscribers", value("rss_per_1000_mb", " MiB")),
        (
            "RSS after they left (ratio to baseline)",
            f"{result['rss_after_leave_mb']} MiB ({result['rss_after_leave_ratio']})",
        ),
        (
            "  after each further round of N",
            ", ".join(f"{rss} MiB" for rss in result["rss_after_rounds_mb"]) or "-",
        ),
        (
            "server's open files: baseline / subscribed / left",
            " / ".join(
                str(result["server_fds"].get(key, "-"))
                for key in ("baseline", "connected", "after_leave")
            ),
        ),
        (
            "HTTP loan(id) meanwhile: p50 / p99",
            f"{value('http_p50_ms')} / {value('http_p99_ms')} ms"
            f" ({result['http_queries']} ok, {result['http_failures']} failed)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {text}" for label, text in rows]


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
    for line in _table(result):
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
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, no Redis")
    args = parser.parse_args()
    if min(args.subscribers, args.bids, args.processes, args.rounds) < 1 or args.query_rate <= 0:
        parser.error(
            "--subscribers, --bids, --processes, --rounds and --query-rate must be positive"
        )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
