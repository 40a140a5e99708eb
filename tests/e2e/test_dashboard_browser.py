"""The live dashboard in a real browser (issue 19 must-show): an API process as
`scripts/start` runs it, headless Chromium with no network but that process, a staff
login on the page (the `login` mutation, then the subscription over a WebSocket), then
bids placed through the API by two lenders: each time the tiles show the new figures
within two seconds. The screenshot is written to the test's tmp_path, to
var/test-artifacts/dashboard.png (and its phone-width view to dashboard-phone.png),
and to DASHBOARD_SCREENSHOT when that is set.

The people and the listed loan are made first, through the services, by an app of the
test's own whose sandbox provider keeps its books in the file the API process then opens
(so the lenders' custody accounts and deposits are there for the bids' freezes).

The machine has no CJK system font (as CI): the Chinese reads only because the page
ships its own web font (app/dashboard_page.py). The test asks Chromium whether that face
loaded and which font drew a Chinese heading.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from app.dashboard_page import FAMILY
from tests.browser import fonts_drawing, fonts_ready_script, page_on, screenshot_path
from tests.conftest import running_app
from tests.e2e.processes import platform_process
from tests.factories import PASSWORD, create_staff, token_for
from tests.lending import code_for, listed_loan, ready_lender, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

PLACE = """mutation ($input: PlaceBidInput!) { placeBid(input: $input) { __typename
  ... on BidPlaced { operationId } ... on PlaceBidError { code message } } }"""
COMPLAIN = """mutation { openServiceCase(input: {kind: COMPLAINT, subject: "Slow withdrawal",
  text: "My withdrawal took two days"}) { __typename } }"""
CONFIRM = """mutation ($id: ID!, $code: String!) {
  confirmOperation(input: {operationId: $id, code: $code}) { __typename
    ... on OperationConfirmed { bid { status } } ... on ConfirmOperationError { code } } }"""
# The page must show a change within this long of the bid's confirmation (ms).
WITHIN_MS = 2_000
LABEL = "逾期分布"
HEADING = "article.wide-on-phone h2"  # 逾期分布 Overdue by bucket

FONTS_READY = fonts_ready_script(FAMILY, LABEL)


async def _post(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _bid(http: httpx.AsyncClient, phone: str, loan_id: int, amount: str) -> None:
    token = await token_for(phone)
    key = f"browser-bid-{uuid.uuid4().hex[:12]}"
    placed = await _post(
        http,
        PLACE,
        {"input": {"loanId": str(loan_id), "amount": amount, "idempotencyKey": key}},
        token,
    )
    assert placed["placeBid"]["__typename"] == "BidPlaced", placed
    confirmed = await _post(
        http,
        CONFIRM,
        {"id": placed["placeBid"]["operationId"], "code": await code_for(phone)},
        token,
    )
    assert confirmed["confirmOperation"]["bid"] == {"status": "ACCEPTED"}, confirmed


async def _shows(page: Page, element_id: str, text: str) -> None:
    """`#element_id` reads `text` within WITHIN_MS."""
    await page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=[element_id, text],
        timeout=WITHIN_MS,
    )


async def test_bids_placed_through_the_api_change_the_tiles_within_two_seconds(
    clean_db: None, tmp_path: Path, scripted: dict[str, Any]
):
    async with running_app(tmp_path):
        borrower, _phone = await verified_borrower(scripted, custody=False)
        loan = await listed_loan(borrower.id, 1_000_000, min_bid_fen=10_000)
        lenders = [await ready_lender(500_000, name=f"Lender {n}") for n in (1, 2)]
        _staff, staff_phone = await create_staff("finance")
    books = tmp_path / "sandbox-provider.sqlite3"

    async with platform_process(books, None) as platform, platform.client() as http:
        async with page_on(platform.base_url) as browsing:
            page = browsing.page
            await page.goto(f"{platform.base_url}/dashboard/")
            await page.fill("#phone", staff_phone)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            # Logged in and subscribed: the first figures are drawn.
            await page.wait_for_selector("#board:not([hidden])", timeout=20_000)
            await page.wait_for_selector("#overdue-M1", timeout=20_000)
            assert await page.text_content("#bids-minute") == "0"
            assert await page.text_content("#status") == "实时 · Live"
            assert await page.text_content("#hot-list") == (
                "最近一小时没有投标 · No bids on listed loans in the last hour"
            )

            await _bid(http, lenders[0][1], loan.id, "2500.00")
            await _shows(page, "bids-minute", "1")
            assert await page.text_content("#bid-amount-minute") == "2,500.00"
            assert await page.text_content(f"#hot-{loan.id}") == (
                f"#{loan.id} · ¥2,500.00 / ¥10,000.00 (25.00%) · 剩余 remaining ¥7,500.00"
                " · 1 笔投标 bids/h"
            )

            await _bid(http, lenders[1][1], loan.id, "1250.50")
            await _shows(page, "bids-minute", "2")
            assert await page.text_content("#bid-amount-minute") == "3,750.50"
            assert "¥3,750.50 / ¥10,000.00 (37.51%)" in (
                await page.text_content(f"#hot-{loan.id}") or ""
            )
            assert await page.text_content("#volume-today") == "0.00"
            # A member's complaint (issue 22) is counted on the complaints tile.
            assert await page.text_content("#complaints-open") == "0"
            complained = await _post(http, COMPLAIN, {}, await token_for(lenders[0][1]))
            assert complained["openServiceCase"]["__typename"] == "ServiceCaseSaved"
            await _shows(page, "complaints-open", "1")
            assert await page.text_content("#complaints-today") == "1"
            assert await page.text_content("#complaints-breaching") == "0"
            assert await page.text_content("#complaints-answer") == "—"
            # The charts are uPlot's canvases, drawn in the page.
            assert await page.locator("#hot-chart canvas").count() == 1
            assert await page.locator("#vintage-chart canvas").count() == 1
            fonts = await page.evaluate(FONTS_READY)
            heading = await page.text_content(HEADING)
            drawn_with = await fonts_drawing(page, HEADING)

            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            shutil.copyfile(shot, screenshot_path("dashboard.png"))
            if os.environ.get("DASHBOARD_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["DASHBOARD_SCREENSHOT"])

            # On a phone's width: one column, charts redrawn to fit, nothing to scroll
            # sideways.
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.wait_for_function(
                "() => document.querySelector('#hot-chart .uplot').offsetWidth <= 360"
            )
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390
            await page.screenshot(path=str(screenshot_path("dashboard-phone.png")), full_page=True)

    assert shot.stat().st_size > 10_000
    # The Chinese is drawn with the page's own font, loaded from the app: the heading's
    # Chinese and its English span both by the subset of Noto Sans SC, no other font.
    assert [FAMILY, "loaded"] in fonts["faces"], fonts
    assert fonts["check"] is True
    assert heading == f"{LABEL} Overdue by bucket"
    assert [(f["isCustomFont"], f["postScriptName"]) for f in drawn_with] == [
        (True, "NotoSansSC-Regular")
    ], drawn_with
    assert browsing.blocked == [], "the page reached outside the app"
    assert browsing.page_errors == []
    refused = [line for line in browsing.console if "Content Security Policy" in line]
    assert refused == [], "the page needs something its CSP refuses"
