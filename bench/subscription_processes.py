"""The processes of `bench/subscriptions.py`: the client processes it drives, a crowd of
them connected, warmed up (every connection has an event) and gone, and what /proc says
of a process (CPU time, resident memory, open files)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Api, Run


def raise_open_files() -> None:
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


async def warm_event(loan_id: int) -> None:
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


async def statuses(clients: list[ClientProcess]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(client.ask("status") for client in clients)))


async def warm_up(loan_id: int, clients: list[ClientProcess], subscribed: int) -> None:
    """Warm-up events until every connection has received one (at most 300 s)."""
    deadline = time.monotonic() + 300
    warm = 0
    while time.monotonic() < deadline:
        await warm_event(loan_id)
        # The dispatcher polls every OUTBOX_POLL_SECONDS (1 s): wait until the count
        # stops moving before sending another.
        last, still = -1, 0
        while time.monotonic() < deadline and still < 4:
            await asyncio.sleep(0.5)
            warm = sum(status["warm"] for status in await statuses(clients))
            if warm >= subscribed:
                return
            still = still + 1 if warm == last else 0
            last = warm
    raise RuntimeError(f"only {warm} of {subscribed} connections received a warm-up event")


async def client_processes(
    plan: Run,
    api: Api,
    loan_id: int,
    args: argparse.Namespace,
    round_number: int,
    subscribers: int | None = None,
) -> list[ClientProcess]:
    """P client processes, ready, with N (or `subscribers`) between them."""
    url = api.base.replace("http://", "ws://") + "/graphql"
    total = args.subscribers if subscribers is None else subscribers
    shares = [
        total // args.processes + (1 if index < total % args.processes else 0)
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


async def crowd_round(
    plan: Run,
    api: Api,
    loan_id: int,
    args: argparse.Namespace,
    round_number: int,
    subscribers: int | None = None,
) -> None:
    """Another N (or `subscribers`) subscribers, connected, warmed up and gone, nothing
    timed: does the RSS left after the first round grow again (held) or get used again
    (kept by the allocator)? With a small crowd before the baseline: the warm-up."""
    clients = await client_processes(plan, api, loan_id, args, round_number, subscribers)
    try:
        answers = await asyncio.gather(*(client.ask("connect", 1800) for client in clients))
        await warm_up(loan_id, clients, sum(answer["subscribed"] for answer in answers))
        await asyncio.gather(*(client.ask("leave", 600) for client in clients))
    finally:
        for client in clients:
            if client.process.returncode is None and client.process.stdin is not None:
                client.process.stdin.close()
        await asyncio.gather(*(client.end() for client in clients))
