"""GraphiQL in a real browser with no network but the app: the console loads from the
app's own files, runs a query and shows the answer (issue 17).

An API process (uvicorn, as `scripts/start` runs it) on the test database; headless
Chromium whose every request to anything but that process is aborted and recorded.
The page is opened with a query in its address, as a shared GraphiQL link carries it;
the run button is pressed and the answer read from the result pane. The screenshot is
written to var/test-artifacts/graphiql.png.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser import page_on, screenshot_path
from tests.e2e.processes import platform_process

pytestmark = pytest.mark.asyncio(loop_scope="session")

# ¥10,000 at 12 % over 12 months, equal installments: the contract figures.
QUERY = """query Preview {
  loanSchedulePreview(amount: "10000.00", annualRate: "0.1200", termMonths: 12,
                      method: EQUAL_INSTALLMENT) {
    totalInterest
    totalPaid
  }
}"""


async def test_graphiql_runs_a_query_with_the_network_blocked(clean_db: None, tmp_path: Path):
    async with platform_process(tmp_path / "sandbox.sqlite3", None) as platform:
        async with page_on(platform.base_url) as browsing:
            page = browsing.page
            await page.goto(f"{platform.base_url}/graphql?q={quote(QUERY)}")
            # The editor is GraphiQL's own, drawn by its script: "Loading..." is gone.
            await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
            await page.click(".graphiql-execute-button")
            result = page.locator(".result-window")
            await result.get_by_text('"661.86"').wait_for(timeout=20_000)
            text = await result.inner_text()
            await page.screenshot(path=str(screenshot_path("graphiql.png")))

    assert '"totalInterest": "661.86"' in text
    # 888.49 x 11 + 888.47, and the fee of 30.00 a month, as the contract says
    assert '"totalPaid": "11021.86"' in text
    assert browsing.blocked == [], "the page reached outside the app"
    assert browsing.page_errors == []
    refused = [line for line in browsing.console if "Content Security Policy" in line]
    assert refused == [], "the page needs something its CSP refuses"
