"""The sandbox bank's pages on the sandbox provider's own URL, as when it runs as its own
process (`python -m app sandbox`, PROVIDER_URL set on the platform): the payUrl of a
GATEWAY or POS deposit opens an HTML page there, where the member approves or declines;
the provider then sends its signed callback. Nothing here touches the platform database.
The embedded default (the same pages under the app's URL) is test_sandbox_bank_api.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

import cli
from services.kit.settings import Settings, get_settings
from services.payments.http_provider import HttpPaymentProvider
from services.payments.provider import DepositChannel, ProviderStatus
from services.payments.sandbox import SandboxApp, create_sandbox_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

API_SECRET = "test-provider-api-secret"
WEBHOOK_SECRET = "test-webhook-secret"
SANDBOX_URL = "http://sandbox.test:9000"
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
APPROVE = {"decision": "approve"}
DECLINE = {"decision": "decline"}


@dataclass
class Bank:
    app: SandboxApp
    provider: HttpPaymentProvider
    browser: httpx.AsyncClient  # the member's browser, on the sandbox's own URL
    delivered: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def statuses(self) -> list[tuple[str, ProviderStatus, int, str]]:
        """Every callback delivered, as the platform's adapter verifies it."""
        await self.app.sandbox.drain()
        events = [self.provider.verify_callback(headers=h, body=b) for b, h in self.delivered]
        return [(e.request_id, e.status, e.amount_fen, e.reason) for e in events]

    async def available(self, account_id: str) -> int:
        balance = await self.provider.balance(account_id=account_id)
        assert balance is not None
        return balance.available_fen

    async def deposit(
        self, request_id: str, account_id: str, amount_fen: int, channel: DepositChannel
    ) -> str:
        """Start a pending deposit; the path of its pay_url on the sandbox's URL."""
        result = await self.provider.deposit(
            request_id=request_id, account_id=account_id, amount_fen=amount_fen, channel=channel
        )
        assert result.status == ProviderStatus.PENDING, result
        url = urlsplit(result.extra["pay_url"])
        assert f"{url.scheme}://{url.netloc}" == SANDBOX_URL
        return url.path


@pytest_asyncio.fixture(loop_scope="session")
async def bank(tmp_path: Path) -> AsyncIterator[Bank]:
    delivered: list[tuple[bytes, dict[str, str]]] = []

    async def deliver(body: bytes, headers: dict[str, str]) -> None:
        delivered.append((body, headers))

    app = create_sandbox_app(
        get_settings(),
        database=str(tmp_path / "sandbox.sqlite3"),
        deliver=deliver,
        api_secret=API_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        public_url=SANDBOX_URL,
    )
    await app.start()
    provider = HttpPaymentProvider(app=app, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL)
    try:
        yield Bank(app, provider, browser, delivered)
    finally:
        await browser.aclose()
        await provider.aclose()
        await app.aclose()


async def _account(bank: Bank, name: str = "王芳") -> str:
    opened = await bank.provider.open_account(request_id="open-1", member_ref="m1", real_name=name)
    assert opened.status == ProviderStatus.SUCCEEDED, opened
    return str(opened.extra["account_id"])


def _assert_page_rules(response: httpx.Response) -> None:
    """An HTML page that works under the app's CSP, which it sends itself."""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == POLICY
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    text = response.text.lower()
    assert "<script" not in text
    assert "<style" not in text
    assert "style=" not in text
    assert " on" not in re.sub(r">[^<]*<", "><", text)  # no onclick= etc. in any tag
    assert "http://" not in text
    assert "https://" not in text


async def test_the_gateway_page_on_the_sandbox_url_approves_and_calls_back_once(bank: Bank):
    account_id = await _account(bank)
    path = await bank.deposit("dep-1", account_id, 123_456, DepositChannel.GATEWAY)
    assert re.fullmatch(r"/sandbox-bank/pay/[A-Za-z0-9_-]{43}", path)

    page = await bank.browser.get(path)
    assert page.status_code == 200
    _assert_page_rules(page)
    assert "网银支付" in page.text
    assert "Online banking payment" in page.text
    assert '<dd class="amount">¥1,234.56</dd>' in page.text
    assert "王*" in page.text
    assert "王芳" not in page.text
    assert '<form method="post" class="decision">' in page.text
    assert 'name="decision" value="approve"' in page.text
    assert 'name="decision" value="decline"' in page.text
    assert '<link rel="stylesheet" href="../bank.css">' in page.text
    css = await bank.browser.get("/sandbox-bank/bank.css")
    assert (css.status_code, css.headers["content-type"]) == (200, "text/css; charset=utf-8")
    # Nothing moved by looking.
    assert (await bank.available(account_id), await bank.statuses()) == (0, [])

    approved = await bank.browser.post(path, data=APPROVE)
    assert approved.status_code == 200
    _assert_page_rules(approved)
    assert "支付成功" in approved.text
    assert "Payment approved" in approved.text
    assert "already been decided" not in approved.text
    assert await bank.available(account_id) == 123_456
    assert await bank.statuses() == [("dep-1", ProviderStatus.SUCCEEDED, 123_456, "")]

    # Approving again (a double click): the final state, nothing more paid or announced.
    again = await bank.browser.post(path, data=APPROVE)
    assert again.status_code == 200
    assert "Payment approved" in again.text
    assert "already been decided" in again.text
    declined_late = await bank.browser.post(path, data=DECLINE)
    assert "Payment approved" in declined_late.text
    assert await bank.available(account_id) == 123_456
    assert len(await bank.statuses()) == 1
    # The used link no longer opens the page.
    used = await bank.browser.get(path)
    assert used.status_code == 404
    assert "Payment page not found" in used.text


async def test_declining_the_pos_page_fails_the_deposit_and_credits_nothing(bank: Bank):
    account_id = await _account(bank)
    path = await bank.deposit("dep-pos", account_id, 8_888, DepositChannel.POS)

    page = await bank.browser.get(path)
    assert page.status_code == 200
    _assert_page_rules(page)
    assert "POS 刷卡支付" in page.text
    assert "Card payment at a POS terminal" in page.text
    assert '<dd class="amount">¥88.88</dd>' in page.text

    declined = await bank.browser.post(path, data=DECLINE)
    assert declined.status_code == 200
    assert "支付已拒绝" in declined.text
    assert "Nothing was charged" in declined.text
    assert await bank.available(account_id) == 0
    reason = "declined by the member at the bank"
    assert await bank.statuses() == [("dep-pos", ProviderStatus.FAILED, 8_888, reason)]
    approved_late = await bank.browser.post(path, data=APPROVE)
    assert "Payment declined" in approved_late.text
    assert "already been decided" in approved_late.text
    assert await bank.available(account_id) == 0
    assert len(await bank.statuses()) == 1


async def test_each_payment_has_its_own_token_and_a_replayed_deposit_keeps_it(bank: Bank):
    account_id = await _account(bank)
    first = await bank.deposit("dep-a", account_id, 100, DepositChannel.GATEWAY)
    second = await bank.deposit("dep-b", account_id, 200, DepositChannel.GATEWAY)
    assert first != second
    # The platform resends a deposit it got no answer to: the same page, not a new one.
    assert await bank.deposit("dep-a", account_id, 100, DepositChannel.GATEWAY) == first
    await bank.browser.post(second, data=APPROVE)
    assert await bank.available(account_id) == 200
    assert (await bank.browser.get(first)).status_code == 200  # still pending
    # The request id is no key to the page.
    assert (await bank.browser.get("/sandbox-bank/pay/dep-a")).status_code == 404


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/sandbox-bank/pay/" + "A" * 43, None),  # well-formed, never issued
        ("/sandbox-bank/pay/" + "A" * 43, APPROVE),
        ("/sandbox-bank/pay/short", APPROVE),
        ("/sandbox-bank/pay/" + "x" * 5000, None),
        ("/sandbox-bank/pay/%27%3Cscript%3E", None),
    ],
)
async def test_an_unknown_token_is_the_not_found_page_and_changes_nothing(
    bank: Bank, path: str, form: dict[str, str] | None
):
    account_id = await _account(bank)
    await bank.deposit("dep-1", account_id, 500, DepositChannel.GATEWAY)
    response = await (bank.browser.post(path, data=form) if form else bank.browser.get(path))
    assert response.status_code == 404
    _assert_page_rules(response)
    assert "Payment page not found" in response.text
    assert "<script>" not in response.text
    assert (await bank.available(account_id), await bank.statuses()) == (0, [])


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("decision=maybe", "application/x-www-form-urlencoded"),
        ("", "application/x-www-form-urlencoded"),
        ("decision=approve&decision=decline", "application/x-www-form-urlencoded"),
        ('{"decision": "approve"}', "application/json"),
        ("decision=%FF", "application/x-www-form-urlencoded"),
    ],
)
async def test_a_bad_decision_is_a_typed_400_and_the_payment_stays_pending(
    bank: Bank, body: str, content_type: str
):
    account_id = await _account(bank)
    path = await bank.deposit("dep-1", account_id, 500, DepositChannel.GATEWAY)
    response = await bank.browser.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    _assert_page_rules(response)
    assert "INVALID_DECISION" in response.text
    assert (await bank.available(account_id), await bank.statuses()) == (0, [])
    assert (await bank.browser.get(path)).status_code == 200  # still open to pay


async def test_the_sandbox_process_builds_pay_urls_on_its_own_address(monkeypatch):
    captured: dict[str, str] = {}

    def fake_app(settings: Settings, *, public_url: str) -> str:
        captured["public_url"] = public_url
        return "app"

    monkeypatch.setattr("services.payments.sandbox.create_sandbox_app", fake_app)
    monkeypatch.setattr("services.kit.logs.configure_logging", lambda settings: None)
    monkeypatch.setattr("uvicorn.run", lambda app, **options: captured.update(app=app))
    cli.sandbox("0.0.0.0", 9000)
    assert captured == {"public_url": "http://127.0.0.1:9000", "app": "app"}

    staged = get_settings().model_copy(update={"sandbox_public_url": "https://bank.example"})
    monkeypatch.setattr(cli, "get_settings", lambda: staged)
    cli.sandbox("0.0.0.0", 9000)
    assert captured["public_url"] == "https://bank.example"


async def test_serve_defaults_the_public_base_url_to_where_it_listens():
    before = os.environ.pop("PUBLIC_BASE_URL", None)
    get_settings.cache_clear()
    try:
        cli._default_public_base_url("0.0.0.0", 8080)
        assert get_settings().public_base_url == "http://127.0.0.1:8080"
        # Given (here in the environment; a .env file counts the same): kept.
        os.environ["PUBLIC_BASE_URL"] = "https://lendbridge.example/"
        get_settings.cache_clear()
        cli._default_public_base_url("127.0.0.1", 8000)
        assert get_settings().public_base_url == "https://lendbridge.example"
    finally:
        os.environ.pop("PUBLIC_BASE_URL", None)
        if before is not None:
            os.environ["PUBLIC_BASE_URL"] = before
        get_settings.cache_clear()
    assert cli.local_url("::1", 8000) == "http://[::1]:8000"


@pytest.mark.parametrize(
    "value",
    [
        "ftp://lendbridge.example",
        "lendbridge.example",
        "https://lendbridge.example/?next=1",
        "https://user:pw@lendbridge.example",
        "https://lendbridge.example:99999",
        "https://lendbridge.example/" + "a" * 200,
    ],
)
async def test_a_public_url_that_is_no_base_url_is_refused_by_name(value: str):
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        Settings(public_base_url=value)
    with pytest.raises(ValueError, match="SANDBOX_PUBLIC_URL"):
        Settings(sandbox_public_url=value)


async def test_the_pages_web_font_holds_every_character_they_print(bank: Bank):
    from fontTools.ttLib import TTFont

    from services.payments.sandbox import bank_font

    printed = ""
    for name, channel, request_id in (
        ("欧阳娜娜", DepositChannel.GATEWAY, "dep-f1"),
        ("诸葛亮", DepositChannel.POS, "dep-f2"),
    ):
        opened = await bank.provider.open_account(
            request_id=f"open-{request_id}", member_ref=request_id, real_name=name
        )
        account_id = str(opened.extra["account_id"])
        path = await bank.deposit(request_id, account_id, 987_654_321, channel)
        printed += (await bank.browser.get(path)).text
        printed += (await bank.browser.post(path, data={"decision": "maybe"})).text
        decision = APPROVE if channel == DepositChannel.GATEWAY else DECLINE
        printed += (await bank.browser.post(path, data=decision)).text
        printed += (await bank.browser.post(path, data=decision)).text  # already decided
        printed += (await bank.browser.get(path)).text  # the 404 page
    assert "欧*" in printed
    assert "诸*" in printed

    css = (await bank.browser.get("/sandbox-bank/bank.css")).text
    found = re.search(r'@font-face \{[^}]*src: url\("(font/[^"]+\.woff)"\) format\("woff"\)', css)
    assert found, css
    assert f'font-family: "{bank_font.FAMILY}"' in css
    assert re.search(rf'body \{{[^}}]*font-family: "{bank_font.FAMILY}", ', css)
    font = await bank.browser.get(f"/sandbox-bank/{found.group(1)}")  # relative to bank.css
    assert font.status_code == 200
    assert font.headers["content-type"] == "font/woff"
    assert font.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert font.content[:4] == b"wOFF"
    assert len(font.content) < 200_000  # a subset, not the 10 MB font

    import io

    cmap = TTFont(io.BytesIO(font.content)).getBestCmap()
    missing = sorted({char for char in printed if not char.isspace() and ord(char) not in cmap})
    assert missing == [], "the pages print characters their font does not have"
    for surname in "王李张刘陈杨黄赵吴周":
        assert ord(surname) in cmap

    # Any other name under /font/ (an old version, a guess) is the bank's 404 page.
    for other in ("font/sandbox-bank-sc-0000000000000000.woff", "font/bank-font.woff", "font/"):
        assert (await bank.browser.get(f"/sandbox-bank/{other}")).status_code == 404


async def test_the_font_subset_is_made_once_per_machine_and_read_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from services.kit import fonts
    from services.payments.sandbox import bank_font

    static = fonts.static_font_path()
    monkeypatch.setattr(fonts, "static_font_path", lambda: static)
    made: list[Path] = []
    real_make = bank_font.make_subset

    def make(source: Path, target: Path, characters: str) -> None:
        made.append(target)
        real_make(source, target, characters)

    monkeypatch.setattr(bank_font, "make_subset", make)
    monkeypatch.setattr(bank_font, "_font", None)
    first = bank_font._subset_in(tmp_path, static)
    again = bank_font._subset_in(tmp_path, static)
    assert first == again == tmp_path / bank_font.file_name()
    assert len(made) == 1
    assert os.listdir(tmp_path) == [first.name]  # no temporary left
    # The same characters of the same font make the same bytes: the URL's version holds.
    made_again = tmp_path / "again.woff"
    real_make(static, made_again, bank_font.page_characters())
    assert made_again.read_bytes() == first.read_bytes()

    read: list[int] = []
    monkeypatch.setattr(bank_font, "_cached_subset", lambda: read.append(1) or first)
    assert bank_font.font_bytes() == bank_font.font_bytes() == first.read_bytes()
    assert read == [1]
