"""One client process of `bench/subscriptions.py`: many anonymous WebSocket connections
to one API process, each with one `bidProgress` subscription of the hot loan
(graphql-transport-ws), recording when each event arrives.

Started by the benchmark (`python -m bench.subscription_client --url ... --loan ...
--count K --concurrency C --results FILE`), never on its own. It imports nothing of the
app, so it stays small. It talks to the benchmark over stdin/stdout, one JSON object a
line, and answers each command with one line:
- at start: `{"ready": true}`;
- `connect`: opens the K connections, C at a time (connection_init, connection_ack,
  subscribe), and answers `{"subscribed": ok, "failed": n, "seconds": s}`;
- `status`: `{"warm": w, "events": e, "resync": r, "closed": c, "errors": x}`, where
  `warm` counts connections that received a warm-up event (funded "0.00"), `events`
  the bid events received (funded above zero) over all connections;
- `report`: writes `{"received": {funded: [receive times]}, ...}` to FILE (time.time()
  of the machine, the same clock as the benchmark's) and answers `{"report": FILE}`;
- `leave`: closes every connection and answers `{"left": n, "seconds": s}`, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections import defaultdict
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SUBSCRIPTION = """subscription ($id: ID!) { bidProgress(loanId: $id) {
  kind status funded remaining bidders bidAmount at } }"""
WARM_FUNDED = "0.00"


def raise_open_files() -> int:
    """The soft limit of open files raised to the hard one; returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Client:
    def __init__(self, url: str, loan_id: int, count: int, concurrency: int, deflate: bool):
        self.url = url
        self.loan_id = loan_id
        self.count = count
        self.concurrency = concurrency
        self.deflate = deflate
        self.connections: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.received: defaultdict[str, list[float]] = defaultdict(list)
        self.warm = 0
        self.events = 0
        self.resync = 0
        self.closed = 0
        self.errors: defaultdict[str, int] = defaultdict(int)

    async def _open(self) -> ClientConnection:
        ws = await connect(
            self.url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            open_timeout=120,
            ping_interval=None,  # the server pings (uvicorn, every 20 s); pongs are automatic
            close_timeout=2,
            compression="deflate" if self.deflate else None,
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if message["type"] == "connection_ack":
                break
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": str(self.loan_id)}},
                }
            )
        )
        return ws

    async def _read(self, ws: ClientConnection) -> None:
        warmed = False
        try:
            async for raw in ws:
                now = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    payload = message.get("payload") or {}
                    data = payload.get("data")
                    if data is None:
                        codes = [
                            (error.get("extensions") or {}).get("code")
                            for error in payload.get("errors") or []
                        ]
                        if "RESYNC" in codes:
                            self.resync += 1
                        else:
                            self.errors[f"next:{codes}"] += 1
                        continue
                    funded = data["bidProgress"]["funded"]
                    if funded == WARM_FUNDED:
                        if not warmed:
                            warmed = True
                            self.warm += 1
                        continue
                    self.received[funded].append(now)
                    self.events += 1
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    self.errors[f"{kind}:{str(message.get('payload'))[:80]}"] += 1
        except Exception as error:  # a connection lost is counted, the others go on
            self.errors[f"read:{type(error).__name__}"] += 1
        finally:
            if ws.close_code is not None and ws.close_code != 1000:
                self.errors[f"closed:{ws.close_code}"] += 1
            self.closed += 1

    async def connect_all(self) -> dict[str, Any]:
        gate = asyncio.Semaphore(self.concurrency)
        failed = 0

        async def one() -> None:
            nonlocal failed
            async with gate:
                try:
                    ws = await self._open()
                except Exception as error:
                    failed += 1
                    self.errors[f"connect:{type(error).__name__}:{str(error)[:60]}"] += 1
                    return
            self.connections.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(self.count)))
        return {
            "subscribed": len(self.connections),
            "failed": failed,
            "seconds": time.perf_counter() - started,
        }

    def status(self) -> dict[str, Any]:
        return {
            "warm": self.warm,
            "events": self.events,
            "resync": self.resync,
            "closed": self.closed,
            "errors": sum(self.errors.values()),
        }

    def report(self, path: str) -> dict[str, Any]:
        with open(path, "w") as file:
            json.dump(
                {"received": self.received, "status": self.status(), "errors": self.errors},
                file,
            )
        return {"report": path}

    async def leave(self) -> dict[str, Any]:
        started = time.perf_counter()
        gate = asyncio.Semaphore(self.concurrency)

        async def close(ws: ClientConnection) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await ws.close()

        await asyncio.gather(*(close(ws) for ws in self.connections))
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        return {"left": len(self.connections), "seconds": time.perf_counter() - started}


async def serve(args: argparse.Namespace) -> None:
    client = Client(args.url, args.loan, args.count, args.concurrency, not args.no_deflate)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(body: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(body) + "\n")
        sys.stdout.flush()

    answer({"ready": True})
    while line := (await reader.readline()).decode().strip():
        if line == "connect":
            answer(await client.connect_all())
        elif line == "status":
            answer(client.status())
        elif line == "report":
            answer(client.report(args.results))
        elif line == "leave":
            answer(await client.leave())
            return
        else:
            answer({"unknown": line})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--loan", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--results", required=True)
    parser.add_argument("--no-deflate", action="store_true")
    args = parser.parse_args()
    raise_open_files()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
