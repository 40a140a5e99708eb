"""The sandbox bank's payment page in a real browser, under the app's Content-Security-
Policy, with no network but the app (issue 17): an API process as `scripts/start` runs
it (embedded sandbox provider), a member's GATEWAY deposit through GraphQL, its payUrl
opened in headless Chromium, styled by the app's own stylesheet, approved by pressing
the button (a plain form, no script); the balance is then up by the amount. The
screenshots are written to var/test-artifacts/sandbox-bank*.png.

The machine has no CJK system font (as CI): the Chinese reads only because the pages
ship their own web font (services/payments/sandbox/bank_font.py). The test asks
Chromium which font drew the heading, and compares screenshots of its characters: on
boxes ("tofu") every character looks the same, and the same as a code point no font has.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page

from services.payments.sandbox.bank_font import FAMILY
from tests.browser import fonts_drawing, fonts_ready_script, page_on, screenshot_path
from tests.e2e.processes import gql, platform_process
from tests.factories import create_member, new_id_number, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPEN = """mutation ($name: String!, $id: String!) {
  openAccount(input: {realName: $name, idNumber: $id}) {
    __typename ... on AccountOpened { custody { status } } ... on OpenAccountError { code } } }"""
DEPOSIT = """mutation { deposit(input: {amount: "2026.12", channel: GATEWAY,
  idempotencyKey: "browser-bank-0001"}) {
    __typename ... on DepositStarted { deposit { id payUrl } } ... on DepositError { code } } }"""
ACCOUNT = "{ myAccount { available } }"
HEADING = "网银支付"
NO_FONT_HAS_IT = "\U0010fffd"  # a private-use code point: a box in any font

FONTS_READY = fonts_ready_script(FAMILY, HEADING)


async def _glyph_shots(page: Page, characters: list[str]) -> list[bytes]:
    """A screenshot of the heading holding each character alone, in the page's fonts;
    the heading is put back afterwards."""
    heading = page.locator("h1")
    original = await heading.evaluate("h => h.innerHTML")
    shots = []
    for character in characters:
        await heading.evaluate("(h, c) => { h.textContent = c; }", character)
        shots.append(await heading.screenshot())
    await heading.evaluate("(h, html) => { h.innerHTML = html; }", original)
    return shots


async def test_the_member_approves_on_the_bank_page_in_a_browser(clean_db: None, tmp_path: Path):
    _user, phone = await create_member(name="王芳")
    token = await token_for(phone)
    async with platform_process(tmp_path / "sandbox.sqlite3", None) as platform:
        async with platform.client() as http:
            opened = await gql(http, OPEN, {"name": "王芳", "id": new_id_number()}, token)
            assert opened["openAccount"]["custody"]["status"] == "OPEN", opened
            started = (await gql(http, DEPOSIT, token=token))["deposit"]
            assert started["__typename"] == "DepositStarted", started
            # payUrl is on PUBLIC_BASE_URL (its default here): the same path on this process.
            path = urlsplit(started["deposit"]["payUrl"]).path
            assert path.startswith("/sandbox-bank/pay/")

            async with page_on(platform.base_url) as browsing:
                page = browsing.page
                await page.goto(f"{platform.base_url}{path}")
                fonts = await page.evaluate(FONTS_READY)
                drawn_with = await fonts_drawing(page, "h1")
                title = await page.locator("h1").inner_text()
                *glyphs, tofu = await _glyph_shots(page, [*HEADING, NO_FONT_HAS_IT])
                amount = await page.locator("dd.amount").inner_text()
                # Styled by /sandbox-bank/bank.css, which the CSP lets through.
                approve = page.locator("button.approve")
                colour = await approve.evaluate(
                    "button => getComputedStyle(button).backgroundColor"
                )
                await page.screenshot(path=str(screenshot_path("sandbox-bank.png")))
                await approve.click()
                await page.wait_for_load_state()
                heading = await page.locator("h1").inner_text()
                await page.screenshot(path=str(screenshot_path("sandbox-bank-approved.png")))

            available = (await gql(http, ACCOUNT, token=token))["myAccount"]["available"]

    # The heading's Chinese is drawn with the pages' own font, loaded from the app.
    assert title.startswith(HEADING)
    assert [FAMILY, "loaded"] in fonts["faces"], fonts
    assert fonts["check"] is True
    # Chromium drew the whole heading (its Chinese and the English span) with one font,
    # a web font (not a system one), the subset of Noto Sans SC Regular: no fallback.
    assert [(f["isCustomFont"], f["postScriptName"]) for f in drawn_with] == [
        (True, "NotoSansSC-Regular")
    ], drawn_with
    # Real glyphs, not boxes: four different pictures, none of them the missing glyph.
    distinct = len(set(glyphs))
    assert distinct == len(HEADING), "the heading's characters all look alike: boxes"
    assert tofu not in glyphs, "a heading character is drawn as the missing-glyph box"
    assert amount == "¥2,026.12"
    assert colour == "rgb(30, 122, 60)"
    assert "Payment approved" in heading
    assert available == "2026.12"
    assert browsing.blocked == [], "the page reached outside the app"
    assert browsing.page_errors == []
    refused = [line for line in browsing.console if "Content Security Policy" in line]
    assert refused == [], "the page needs something its CSP refuses"
