"""The processes of `bench/subscriptions.py`: the client processes it drives and what
/proc says of a process (CPU time, resident memory, open files)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from bench.common import ROOT, Run


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
