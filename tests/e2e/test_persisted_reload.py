"""A new manifest version goes live in running API processes without a restart (issue 18):
real uvicorn processes (two on PostgreSQL; on SQLite the one embedded process, which is
one process by design) answer the published operations by id; `python -m app persisted
load`, another process, stores a version with one more operation; every API process
answers it within its refresh interval, by GET and POST, still the same processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

from schema.build import build_schema
from schema.documents import manifest
from services.kit.settings import get_settings
from tests.conftest import BACKEND
from tests.e2e.processes import ROOT, Platform, platform_process
from tests.factories import error_codes

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROCESSES = 2 if BACKEND == "postgres" else 1

COUNT = "query MarketSize {\n  loans { totalCount }\n}\n"
REFRESH = "0.2"  # seconds between a process's looks at the newest version
DEADLINE = 20.0


async def _command(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "persisted",
        *args,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


async def _by_id(platform: Platform, doc_id: str, *, get: bool) -> dict[str, object]:
    async with platform.client() as http:
        if get:
            response = await http.get("/graphql", params={"documentId": f"sha256:{doc_id}"})
        else:
            response = await http.post("/graphql", json={"documentId": f"sha256:{doc_id}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_new_manifest_version_goes_live_in_running_processes(tmp_path: Path):
    text = manifest.MANIFEST_FILE.read_text(encoding="utf-8")
    assert await manifest.load(text, build_schema(get_settings())._schema) == (1, True)
    (market,) = [
        op
        for op in manifest.parse_manifest(manifest.MANIFEST_FILE.read_text())
        if op.name == "MarketLoans"
    ]
    count_id = manifest.document_id(COUNT)
    environment = {"PERSISTED_REFRESH_SECONDS": REFRESH}
    async with contextlib.AsyncExitStack() as stack:
        platforms = [
            await stack.enter_async_context(
                platform_process(tmp_path / f"{n}.sqlite3", None, environment=environment)
            )
            for n in range(PROCESSES)
        ]
        pids = [platform.process.pid for platform in platforms]
        for platform in platforms:
            assert error_codes(await _by_id(platform, count_id, get=True)) == [
                "PERSISTED_QUERY_NOT_FOUND"
            ]
            assert "errors" not in await _by_id(platform, market.id, get=False)

        operations = [*manifest.parse_manifest(manifest.MANIFEST_FILE.read_text())]
        operations += manifest.parse_manifest(
            json.dumps(
                {
                    "format": manifest.FORMAT,
                    "version": 1,
                    "operations": [
                        {"id": count_id, "name": "MarketSize", "type": "query", "body": COUNT}
                    ],
                }
            )
        )
        (tmp_path / "v2.json").write_text(manifest.render(operations), encoding="utf-8")
        assert "version 2 is live" in await _command("load", str(tmp_path / "v2.json"))

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        for platform in reversed(platforms):
            while error_codes(await _by_id(platform, count_id, get=True)):
                assert loop.time() < deadline, platform.output()
                await asyncio.sleep(0.1)
            assert await _by_id(platform, count_id, get=True) == {
                "data": {"loans": {"totalCount": 0}}
            }
            assert await _by_id(platform, count_id, get=False) == {
                "data": {"loans": {"totalCount": 0}}
            }
        assert [platform.process.pid for platform in platforms] == pids
        assert all(platform.process.returncode is None for platform in platforms)
