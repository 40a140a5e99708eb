"""The dashboard page (M12.4) is served by the app in dev, test and prod, holds no data,
loads nothing from outside the app, has no inline script or style (the CSP allows
neither), and vendors uPlot 1.6.32 unchanged with its licence. Its one font is its own
CJK subset, served by the app at a versioned name (app/dashboard_page.py)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from app import create_app
from app.dashboard_page import FAMILY
from app.headers import CONTENT_SECURITY_POLICY
from tests.api.test_prod_mode import _prod_settings

ASYNC = pytest.mark.asyncio(loop_scope="session")

STATIC = Path(__file__).resolve().parents[2] / "app" / "static" / "dashboard"
UPLOT = STATIC / "vendor" / "uplot"
# npm pack uplot@1.6.32: dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE
VENDORED_SHA256 = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}
OWN_FILES = ("index.html", "dashboard.js", "dashboard.css")


def test_uplot_is_the_npm_release_unchanged_with_its_licence():
    for name, digest in VENDORED_SHA256.items():
        assert hashlib.sha256((UPLOT / name).read_bytes()).hexdigest() == digest, name
    script = (UPLOT / "uPlot.iife.min.js").read_text(encoding="utf-8")
    assert script.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "The MIT License" in (UPLOT / "LICENSE").read_text(encoding="utf-8")
    assert "1.6.32" in (UPLOT / "README.md").read_text(encoding="utf-8")


def test_the_page_loads_only_the_apps_files_and_has_no_inline_code():
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(assets) == [
        "/dashboard/dashboard.css",
        "/dashboard/dashboard.js",
        "/dashboard/vendor/uplot/uPlot.iife.min.js",
        "/dashboard/vendor/uplot/uPlot.min.css",
        "data:,",
    ]
    for asset in assets:
        if asset.startswith("/dashboard/"):
            assert (STATIC / asset.removeprefix("/dashboard/")).is_file(), asset
    assert re.search(r"<script>|<script [^>]*>[^<]", page) is None  # no inline script
    assert "<style" not in page
    assert "style=" not in page
    assert re.search(r"\son[a-z]+=", page) is None  # no inline event handlers
    assert '<meta name="viewport" content="width=device-width, initial-scale=1" />' in page
    for name in OWN_FILES:
        text = (STATIC / name).read_text(encoding="utf-8")
        # no other origin: no fonts, scripts or data from the internet
        assert re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text) is None, name
        assert "@import" not in text, name
    # The one font is the page's own, from the app, relative to /dashboard/dashboard.css.
    css = (STATIC / "dashboard.css").read_text(encoding="utf-8")
    assert re.findall(r"url\(([^)]*)\)", css) == ['"font/dashboard-font.woff"']
    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    # the tokens live in memory only
    assert "localStorage" not in script
    assert "sessionStorage" not in script
    assert "document.cookie" not in script
    assert '"graphql-transport-ws"' in script


async def _font_name(http: httpx.AsyncClient) -> str:
    """The web font's file name, as the served stylesheet gives it."""
    css = (await http.get("/dashboard/dashboard.css")).text
    found = re.search(r'src: url\("font/(dashboard-sc-[0-9a-f]{16}\.woff)"\) format\("woff"\)', css)
    assert found, css
    return found.group(1)


@pytest_asyncio.fixture(loop_scope="session")
async def prod(database: str) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(_prod_settings(), own_services=False)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://prod") as http:
        yield http


@ASYNC
@pytest.mark.parametrize("mode", ["test", "prod"])
async def test_the_page_and_its_files_are_served_with_the_security_headers(
    client: httpx.AsyncClient, prod: httpx.AsyncClient, mode: str
):
    http = prod if mode == "prod" else client
    font = await _font_name(http)
    bare = await http.get("/dashboard")
    assert bare.status_code in (307, 308)
    assert bare.headers["location"].endswith("/dashboard/")

    page = await http.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC / "index.html").read_text(encoding="utf-8")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"

    script = ("text/javascript", "application/javascript")
    for path, kind in (
        ("/dashboard/dashboard.js", script),
        ("/dashboard/vendor/uplot/uPlot.iife.min.js", script),
        ("/dashboard/dashboard.css", ("text/css",)),
        ("/dashboard/vendor/uplot/uPlot.min.css", ("text/css",)),
    ):
        response = await http.get(path)
        assert response.status_code == 200, path
        served = (STATIC / path.removeprefix("/dashboard/")).read_bytes()
        if path == "/dashboard/dashboard.css":  # the font's versioned name put in
            served = served.replace(b"font/dashboard-font.woff", f"font/{font}".encode())
        assert response.content == served, path
        assert response.headers["content-type"].startswith(kind), path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@ASYNC
@pytest.mark.parametrize(
    "path", ["/dashboard/../factory.py", "/dashboard/%2e%2e/headers.py", "/dashboard/nothing.js"]
)
async def test_nothing_else_is_served_from_there(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 404
    assert "SecurityHeaders" not in response.text


@ASYNC
async def test_the_pages_web_font_holds_every_character_it_prints(client: httpx.AsyncClient):
    css = (await client.get("/dashboard/dashboard.css")).text
    assert f'font-family: "{FAMILY}";' in css
    assert "font-display: swap;" in css
    assert re.search(rf'body \{{[^}}]*font-family: "{FAMILY}", ', css)  # used first
    font = await client.get(f"/dashboard/font/{await _font_name(client)}")
    assert font.status_code == 200
    assert font.headers["content-type"] == "font/woff"
    assert font.content[:4] == b"wOFF"
    assert len(font.content) < 200_000  # a subset, not the 10 MB font

    cmap = TTFont(io.BytesIO(font.content)).getBestCmap()
    # Every label of the markup, every message the script writes, the stylesheet's own.
    printed = "".join((STATIC / name).read_text(encoding="utf-8") for name in OWN_FILES)
    printed += "".join(chr(code) for code in range(0x21, 0x7F)) + "¥"
    missing = sorted({char for char in printed if not char.isspace() and ord(char) not in cmap})
    assert missing == [], "the page prints characters its font does not have"
    for label in ("实时看板", "员工登录", "逾期分布", "已筹", "重连中", "无权限"):
        assert all(ord(char) in cmap for char in label), label


@ASYNC
@pytest.mark.parametrize("mode", ["test", "prod"])
async def test_the_font_is_cached_for_a_year_at_its_name_and_nothing_else_is_there(
    client: httpx.AsyncClient, prod: httpx.AsyncClient, mode: str
):
    http = prod if mode == "prod" else client
    name = await _font_name(http)
    font = await http.get(f"/dashboard/font/{name}")
    assert font.status_code == 200
    assert font.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert font.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # An old version, the stylesheet's placeholder, another page's font, no name at all.
    for other in (
        "dashboard-sc-0000000000000000.woff",
        "dashboard-font.woff",
        name.removesuffix(".woff") + ".woff2",
        f"{name}/x",
        "",
    ):
        response = await http.get(f"/dashboard/font/{other}")
        assert response.status_code == 404, other
        assert response.content[:4] != b"wOFF"
        assert "cache-control" not in response.headers


@ASYNC
async def test_the_stylesheet_is_revalidated_by_its_etag(client: httpx.AsyncClient):
    first = await client.get("/dashboard/dashboard.css")
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    again = await client.get("/dashboard/dashboard.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    stale = await client.get("/dashboard/dashboard.css", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200
    assert stale.content == first.content
