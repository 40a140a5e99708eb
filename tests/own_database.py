"""A script run on a database of its own, in a process of its own (data migrations): a
new PostgreSQL database on the test server, or a SQLite file, removed afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from services.kit.settings import ROOT
from tests.conftest import BACKEND, POSTGRES_SERVER, _admin_execute


async def run_on_own_database(module: str, tag: str, tmp_path: Path, *args: str) -> Any:
    """`python -m <module> <database url> <args>`: what it printed last, as JSON. The
    script must exit 0 (its error output is shown otherwise)."""
    if BACKEND == "postgres":
        name = f"lendbridge_test_{tag}_{uuid.uuid4().hex[:10]}"
        await _admin_execute(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES_SERVER}/{name}"
    else:
        url = f"sqlite://{tmp_path / f'{tag}.sqlite3'}"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            url,
            *args,
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        if BACKEND == "postgres":
            await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert process.returncode == 0, err.decode()[-4000:]
    return json.loads(out.decode().strip().splitlines()[-1])
