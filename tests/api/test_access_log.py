"""Network access log (R6): every HTTP request through the app writes one JSON line
(time, method, path without the query string, status, client address, the user of a
valid access token, duration) to the day's append-only file under ACCESS_LOG_DIR."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.kit.settings import get_settings
from tests.factories import create_member, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _lines() -> list[dict[str, Any]]:
    folder = Path(get_settings().access_log_dir)
    if not folder.is_dir():
        return []
    return [
        json.loads(line)
        for path in sorted(folder.glob("access-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _text() -> str:
    folder = Path(get_settings().access_log_dir)
    return "".join(path.read_text(encoding="utf-8") for path in folder.glob("access-*.jsonl"))


async def test_each_request_writes_one_line_without_its_query(client):
    member, phone = await create_member()
    token = await token_for(phone)
    missing = f"/nowhere-{uuid.uuid4().hex[:12]}"
    link = f"/downloads/contract/7/{'Ab_-' * 11}"  # a signature in the path
    secret = uuid.uuid4().hex
    seen = len(_lines())

    assert (await client.get(f"/healthz?token={secret}")).status_code == 200
    body = await gql(client, "{ me { roles } }", token=token)
    assert body["data"]["me"]["roles"] == ["member"]
    assert (
        await client.get(missing, headers={"Authorization": "Bearer forged"})
    ).status_code == 404
    assert (await client.get(link)).status_code in (403, 404)  # refused, logged all the same

    new = _lines()[seen:]
    assert [(line["method"], line["path"], line["status"], line["user_id"]) for line in new] == [
        ("GET", "/healthz", 200, None),
        ("POST", "/graphql", 200, member.id),
        ("GET", missing, 404, None),  # a token that does not verify names no one
        ("GET", "/downloads/contract/7/[redacted]", new[-1]["status"], None),
    ]
    assert new[-1]["status"] in (403, 404)
    for line in new:
        assert set(line) == {"time", "method", "path", "status", "ip", "user_id", "duration_ms"}
        assert line["ip"] == "127.0.0.1"
        assert line["duration_ms"] >= 0
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None
    text = _text()
    assert secret not in text  # the query string (where tokens travel) is never written
    assert token not in text
    assert "Ab_-Ab_-" not in text
