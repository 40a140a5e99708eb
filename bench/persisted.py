"""Benchmark: a persisted query by id against the same query sent as text, through the
whole ASGI stack, in-process, anonymous (the public market's `MarketLoans`).

Run: `.venv/bin/python -m bench.persisted [--requests N]`. Uses a temporary SQLite
database (an empty market: the figures weigh the request handling, not the data), or
DATABASE_URL when BENCH_USE_ENV=1. Prints one JSON line of requests per second:

- `text`: the body sent each time, strawberry's LRU caches warm (one hit each);
- `text_uncached`: the body with a different trailing comment each time, so it is parsed
  and validated on every request (what a cache miss costs);
- `id_post`, `id_get`: by `documentId`, POST and GET (no parsing, no validation);
- `id_get_304`: GET with `If-None-Match`, answered 304;
- `partner_id_post`: by id with a partner's key (key check, rate limit and quota in the
  broker, the allow-list, usage counted): what a partner's request costs on top.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.in_process import start_platform, stop_platform


async def _rate(requests: int, send: Callable[[int], Awaitable[Any]]) -> float:
    for n in range(min(50, requests)):  # warm up
        await send(-1 - n)
    started = time.perf_counter()
    for n in range(requests):
        await send(n)
    return round(requests / (time.perf_counter() - started), 1)


async def run(requests: int) -> dict[str, Any]:
    settings = await start_platform()  # before the platform's modules read the settings

    import httpx

    from app import create_app
    from schema.build import build_schema
    from schema.documents import manifest
    from services.money import ledger

    await ledger.ensure_platform_accounts()
    text = manifest.MANIFEST_FILE.read_text(encoding="utf-8")
    sets = (manifest.DOCUMENTS_DIR / manifest.SETS_FILE_NAME).read_text(encoding="utf-8")
    await manifest.load(text, build_schema(settings)._schema, sets)
    from services.partners import keys

    issued = await keys.add_partner(
        code="bench",
        name="Bench",
        sets=["public"],
        rate_per_minute=100_000,
        daily_quota=100_000_000,
    )
    (market,) = [op for op in manifest.parse_manifest(text) if op.name == "MarketLoans"]
    variables = {"first": 10}
    app = create_app(settings, own_services=False)
    transport = httpx.ASGITransport(app=app)
    results: dict[str, Any] = {"bench": "persisted", "operation": market.name}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def ok(response: httpx.Response, status: int = 200) -> None:
                assert response.status_code == status, response.text
                if status == 200:
                    assert "errors" not in response.json(), response.text

            async def as_text(n: int) -> None:
                body = {"query": market.body, "variables": variables}
                await ok(await client.post("/graphql", json=body))

            async def as_new_text(n: int) -> None:
                body = {"query": f"{market.body}# {n}\n", "variables": variables}
                await ok(await client.post("/graphql", json=body))

            async def by_id_post(n: int) -> None:
                body = {"documentId": f"sha256:{market.id}", "variables": variables}
                await ok(await client.post("/graphql", json=body))

            params = {"documentId": f"sha256:{market.id}", "variables": json.dumps(variables)}

            async def by_id_get(n: int) -> None:
                await ok(await client.get("/graphql", params=params))

            etag = (await client.get("/graphql", params=params)).headers["etag"]

            async def by_id_304(n: int) -> None:
                headers = {"If-None-Match": etag}
                await ok(await client.get("/graphql", params=params, headers=headers), 304)

            partner = {"Authorization": f"Bearer {issued.key}"}

            async def by_partner(n: int) -> None:
                body = {"documentId": f"sha256:{market.id}", "variables": variables}
                await ok(await client.post("/graphql", json=body, headers=partner))

            results["requests"] = requests
            results["text_rps"] = await _rate(requests, as_text)
            results["text_uncached_rps"] = await _rate(requests, as_new_text)
            results["id_post_rps"] = await _rate(requests, by_id_post)
            results["id_get_rps"] = await _rate(requests, by_id_get)
            results["id_get_304_rps"] = await _rate(requests, by_id_304)
            results["partner_id_post_rps"] = await _rate(requests, by_partner)
    finally:
        await stop_platform()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests))))


if __name__ == "__main__":
    main()
