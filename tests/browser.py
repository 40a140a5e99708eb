"""A real browser for the page tests: Debian's Chromium, headless, driven by Playwright.

Playwright cannot download its own browsers here, so the tests launch the machine's
Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium; `.ci/run` installs it). The
browser's context lets through requests to the app alone: anything else is aborted and
recorded, so a page that reaches for the network fails its test. Outside CI a missing
Chromium skips the test with the reason; in CI (`CI` set) it fails.

Screenshots go to var/test-artifacts/ (TEST_ARTIFACTS_DIR), kept after the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, Route, async_playwright

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "var" / "test-artifacts"))
# As the machine's notes say: without the background-networking flags, Chromium's own
# connections are refused by a closed network, many at a time.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = f"no Chromium at {path}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Browsing:
    """What the page asked for that is not the app's, and what its console said."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def page_on(base_url: str) -> AsyncIterator[Browsing]:
    """A fresh headless Chromium page whose requests reach `base_url` only."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            browsing = Browsing(page=page)

            async def only_the_app(route: Route) -> None:
                url = route.request.url
                if url.startswith((base_url + "/", "data:")):
                    await route.continue_()
                else:
                    browsing.blocked.append(url)
                    await route.abort("blockedbyclient")

            await context.route("**/*", only_the_app)
            page.on("console", lambda message: browsing.console.append(message.text))
            page.on("pageerror", lambda error: browsing.page_errors.append(str(error)))
            yield browsing
        finally:
            await browser.close()


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def fonts_ready_script(family: str, text: str) -> str:
    """A page function: once the page's fonts are loaded, each face's family and status,
    and whether `family` can draw `text` (document.fonts)."""
    return (
        "async () => {\n"
        "  await document.fonts.ready;\n"
        "  return {\n"
        "    faces: [...document.fonts]"
        ".map(face => [face.family.replaceAll('\"', ''), face.status]),\n"
        f"    check: document.fonts.check('16px \"{family}\"', '{text}'),\n"
        "  };\n"
        "}"
    )


async def fonts_drawing(page: Page, selector: str) -> list[dict[str, object]]:
    """The fonts Chromium actually drew an element's text with (DevTools protocol)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    node = await cdp.send(
        "DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector}
    )
    used = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    await cdp.detach()
    return list(used["fonts"])
