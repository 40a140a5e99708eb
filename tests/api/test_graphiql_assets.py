"""GraphiQL's files are served by the app, are the ones strawberry pins, and every
response carries the security headers (issue 17)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
import strawberry

from app.headers import CONTENT_SECURITY_POLICY

ASYNC = pytest.mark.asyncio(loop_scope="session")

STATIC = Path(__file__).resolve().parents[2] / "app" / "static" / "graphiql"
# strawberry's own page names each file on unpkg with its SHA-384 (subresource integrity)
STRAWBERRY_PAGE = Path(strawberry.__file__).parent / "static" / "graphiql.html"
VENDORED = {
    "react@18.2.0/umd/react.production.min.js": "react-18.2.0.production.min.js",
    "react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom-18.2.0.production.min.js",
    "graphiql@3.8.3/graphiql.min.js": "graphiql-3.8.3.min.js",
    "graphiql@3.8.3/graphiql.min.css": "graphiql-3.8.3.min.css",
    "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer-1.0.2.umd.js",
    "@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer-1.0.2.css",
}


def _pinned() -> dict[str, str]:
    page = STRAWBERRY_PAGE.read_text(encoding="utf-8")
    found = re.findall(
        r'(?:src|href)="https://unpkg\.com/([^"]+)"\s+integrity="(sha384-[^"]+)"', page
    )
    return dict(found)


def test_each_vendored_file_is_the_one_strawberry_pins():
    pinned = _pinned()
    for upstream, name in VENDORED.items():
        digest = hashlib.sha384((STATIC / name).read_bytes()).digest()
        assert pinned[upstream] == "sha384-" + base64.b64encode(digest).decode(), name
        assert (STATIC / "licenses").is_dir()


def test_the_page_loads_nothing_from_outside_the_app():
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets
    assert all(a.startswith("/static/graphiql/") or a == "data:," for a in assets)
    assert "<script>" not in page
    assert "<style" not in page
    assert "style=" not in page
    for asset in assets:
        if asset.startswith("/static/"):
            assert (STATIC / asset.removeprefix("/static/graphiql/")).is_file(), asset


@ASYNC
async def test_graphiql_page_and_files_with_security_headers(client: httpx.AsyncClient):
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "/static/graphiql/graphiql-3.8.3.min.js" in page.text
    assert "unpkg.com" not in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"

    script = await client.get("/static/graphiql/graphiql-3.8.3.min.js")
    assert script.status_code == 200
    assert script.content == (STATIC / "graphiql-3.8.3.min.js").read_bytes()
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["x-content-type-options"] == "nosniff"

    answer = await client.post("/graphql", json={"query": "{ businessClock { today } }"})
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@ASYNC
@pytest.mark.parametrize(
    "path", ["/static/graphiql/../index.html", "/static/graphiql/%2e%2e/headers.py"]
)
async def test_no_path_leaves_the_static_folder(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 404
    assert "SecurityHeaders" not in response.text
