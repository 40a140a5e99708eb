"""The sandbox bank's payment page in a real browser, under the app's Content-Security-
Policy, with no network but the app (issue 17): an API process as `scripts/start` runs
it (embedded sandbox provider), a member's GATEWAY deposit through GraphQL, its payUrl
opened in headless Chromium, styled by the app's own stylesheet, approved by pressing
the button (a plain form, no script); the balance is then up by the amount. The
screenshots are written to var/test-artifacts/sandbox-bank*.png.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser import page_on, screenshot_path
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

    assert amount == "¥2,026.12"
    assert colour == "rgb(30, 122, 60)"
    assert "Payment approved" in heading
    assert available == "2026.12"
    assert browsing.blocked == [], "the page reached outside the app"
    assert browsing.page_errors == []
    refused = [line for line in browsing.console if "Content Security Policy" in line]
    assert refused == [], "the page needs something its CSP refuses"
