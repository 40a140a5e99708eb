"""Benchmark: authenticated GraphQL requests through the whole ASGI stack, in-process.

Run: `scripts/bench` (or `.venv/bin/python -m bench.graphql_requests [--requests N]`).
Uses a temporary SQLite database, or DATABASE_URL/REDIS_URL when BENCH_USE_ENV=1.
Prints median and p95 latency and requests per second for a small query (`me`), and the
share of time the parser and validation caches save.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.in_process import start_platform, stop_platform


async def run(requests: int) -> None:
    import httpx

    from app import create_app
    from services.demo import DEMO_PASSWORD, seed_demo_data

    settings = await start_platform()
    await seed_demo_data()
    app = create_app(settings, own_services=False)
    query = "{ me { roles user { displayName phoneMasked } } }"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        login = await client.post(
            "/graphql",
            json={
                "query": "mutation($p:String!,$w:String!){login(input:{phone:$p,password:$w})"
                "{... on AuthPayload{accessToken}}}",
                "variables": {"p": "19900001001", "w": DEMO_PASSWORD},
            },
        )
        token = login.json()["data"]["login"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(50):  # warm-up: caches filled
            await client.post("/graphql", json={"query": query}, headers=headers)
        timings = []
        started = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            response = await client.post("/graphql", json={"query": query}, headers=headers)
            timings.append(time.perf_counter() - t0)
            if response.status_code != 200 or "errors" in response.json():
                raise SystemExit(f"request failed: {response.text}")
        elapsed = time.perf_counter() - started
    await stop_platform()
    timings.sort()
    print(f"backend: {settings.database_url.split('://')[0]}, {requests} requests of `me`")
    median = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95)] * 1000
    print(f"median {median:.2f} ms, p95 {p95:.2f} ms")
    print(f"{requests / elapsed:.0f} requests/s on one process (sequential)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()
