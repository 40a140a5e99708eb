"""The staff dashboard's files (docs/dashboard.md), with its own CJK web font.

    GET  /dashboard/                 index.html, dashboard.js, uPlot (static files)
    GET  /dashboard/dashboard.css    its stylesheet, with the web font's versioned name
    GET  /dashboard/font/{name}      the web font, a versioned subset (web_fonts.py)

The page is read on machines without any CJK system font (CI, a fresh Linux box), where
the Chinese half of each label would be boxes. So it ships a subset of the contract font
(services/kit/web_fonts.py) holding every character outside ASCII of its three own
files (every fixed Chinese label, ¥, ·, —, including labels added later), printable
ASCII (English labels, amounts, loan ids) and ¥. The figures it prints are ASCII: the
subset covers all of them.

The font's URL carries its version (a hash of what it is made from), so it is served
with a year-long immutable cache and a changed label gives a new URL. The stylesheet is
a static file that cannot know that version, so it is served here with the placeholder
`dashboard-font.woff` replaced by the versioned name (as the sandbox bank's is), under
`no-cache` with a content ETag: a browser revalidates the small stylesheet and never
mixes an old font file with new labels. (A stable font URL with an ETag instead would
cost a revalidation of the 0.1 MB font on every visit for the same guarantee.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.kit import web_fonts

logger = logging.getLogger(__name__)

DIRECTORY = Path(__file__).resolve().parent / "static" / "dashboard"
OWN_FILES = ("index.html", "dashboard.js", "dashboard.css")
# The family name dashboard.css gives the face: not "Noto Sans SC", so that a machine
# with that font installed still uses this file and a test can tell which face it sees.
FAMILY = "LendBridge Dashboard Sans SC"
# In dashboard.css, replaced by the versioned file name when the stylesheet is served.
CSS_PLACEHOLDER = b"dashboard-font.woff"
# Bumped when the way the characters are chosen changes, so old cache files are not reused.
RECIPE = 1


def page_characters() -> str:
    """Every character the dashboard can print, sorted, without duplicates."""
    fixed: set[str] = set()
    for name in OWN_FILES:
        fixed |= web_fonts.beyond_ascii((DIRECTORY / name).read_text(encoding="utf-8"))
    return "".join(sorted(fixed | web_fonts.printable_ascii() | {"¥"}))


WEB_FONT = web_fonts.WebFontSubset(FAMILY, "dashboard-sc", page_characters, RECIPE)


@cache
def stylesheet() -> bytes:
    """dashboard.css with the web font's versioned file name in its @font-face."""
    css = (DIRECTORY / "dashboard.css").read_bytes()
    return css.replace(CSS_PLACEHOLDER, WEB_FONT.file_name.encode())


async def serve_stylesheet(request: Request) -> Response:
    # The first call of a process imports the font's versions (half a second): off the loop.
    body = await asyncio.to_thread(stylesheet)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, 200, headers, media_type="text/css; charset=utf-8")


async def serve_font(request: Request) -> Response:
    """The web font at its versioned name; any other name (an old version, a guess) is
    Not Found, as for any other missing file of the dashboard."""
    name = await asyncio.to_thread(lambda: WEB_FONT.file_name)
    if request.path_params["name"] != name:
        return PlainTextResponse("Not Found", 404)
    try:
        # The first request of a process reads (or makes) the file, off the loop.
        body = await asyncio.to_thread(WEB_FONT.font_bytes)
    except Exception:
        # The page still reads in the device's own fonts; never a 500.
        logger.exception("dashboard: the web font cannot be made")
        return PlainTextResponse("font unavailable", 503)
    headers = {"Cache-Control": web_fonts.CACHE_CONTROL}
    return Response(body, 200, headers, media_type=web_fonts.CONTENT_TYPE)


def mount_dashboard() -> Mount:
    """/dashboard: the stylesheet and the font here, every other file from DIRECTORY."""
    return Mount(
        "/dashboard",
        routes=[
            Route("/dashboard.css", serve_stylesheet),
            Route("/font/{name}", serve_font),
            Mount("", StaticFiles(directory=DIRECTORY, html=True)),
        ],
    )
