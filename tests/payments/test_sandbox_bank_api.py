"""The demo's deposit flow end to end in the embedded default (PROVIDER_URL unset): a
GATEWAY or POS deposit through GraphQL answers a payUrl on the app's own URL
(PUBLIC_BASE_URL/sandbox-bank/pay/<token>); the member's browser opens it from the same
app, approves or declines, and the provider's signed callback settles the deposit: PAID
and the balance up to the fen, or FAILED and nothing moved (issue 17).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app import create_app
from models.ledger import Journal
from models.payments import Deposit, InstructionStatus, PaymentInstruction
from services.kit.settings import get_settings
from services.money import ledger
from tests.factories import create_funded_member, gql, token_for
from tests.lending import settle_everything

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEPOSIT = """mutation ($amount: Money!, $key: String!, $channel: DepositChannelEnum!) {
  deposit(input: {amount: $amount, channel: $channel, idempotencyKey: $key}) {
    __typename ... on DepositStarted { deposit { id amount status payUrl channel } }
    ... on DepositError { code field } } }"""
ACCOUNT = "{ myAccount { available frozen } }"
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


async def _member(client: httpx.AsyncClient) -> tuple[int, str]:
    """A member with an open custody account and nothing in it; their id and token."""
    user, phone, _card = await create_funded_member(0, name="王芳")
    return user.id, await token_for(phone)


async def _start(
    client: httpx.AsyncClient, token: str, amount: str, channel: str, key: str
) -> dict[str, Any]:
    answer = await gql(
        client, DEPOSIT, {"amount": amount, "key": key, "channel": channel}, token=token
    )
    started = answer["data"]["deposit"]
    assert started["__typename"] == "DepositStarted", started
    assert started["deposit"]["status"] == "PENDING"
    return dict(started["deposit"])


async def _available(client: httpx.AsyncClient, token: str) -> str:
    return str((await gql(client, ACCOUNT, token=token))["data"]["myAccount"]["available"])


async def _outcome(deposit_id: str) -> tuple[str, InstructionStatus]:
    """The deposit's status and its payment instruction's, once the platform is quiet."""
    row = await Deposit.get(id=int(deposit_id))
    instruction = await PaymentInstruction.get(business_ref=f"deposit:{deposit_id}")
    return row.status, instruction.status


async def _provider_quiet(app: Any) -> None:
    """Every callback the provider has to send delivered (a deposit may stay pending,
    which `settle_everything` would wait for in vain)."""
    sandbox = app.state.sandbox.sandbox
    await sandbox.redeliver_pending()
    await sandbox.drain()


def _path(pay_url: str) -> str:
    """The payUrl's path, asked of the same app; the URL is on PUBLIC_BASE_URL."""
    base = get_settings().public_base_url
    assert pay_url.startswith(f"{base}/sandbox-bank/pay/"), pay_url
    return urlsplit(pay_url).path


async def test_approving_a_gateway_deposit_on_the_app_pays_it_once(client, app):
    user_id, token = await _member(client)
    deposit = await _start(client, token, "1234.56", "GATEWAY", "bank-gw-0001")
    path = _path(deposit["payUrl"])

    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == POLICY
    assert "Online banking payment" in page.text
    assert '<dd class="amount">¥1,234.56</dd>' in page.text
    assert "<script" not in page.text
    assert "style=" not in page.text
    css = await client.get("/sandbox-bank/bank.css")
    assert css.status_code == 200
    # The pages' CJK web font on the app's URL too, still cached for a year through the
    # app's header middleware (which adds only headers a response does not have).
    font_url = "/sandbox-bank/" + css.text.split('src: url("', 1)[1].split('"', 1)[0]
    font = await client.get(font_url)
    assert (font.status_code, font.headers["content-type"]) == (200, "font/woff")
    assert font.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert await _available(client, token) == "0.00"

    approved = await client.post(path, data={"decision": "approve"})
    assert approved.status_code == 200
    assert "Payment approved" in approved.text
    await settle_everything(app.state.sandbox.sandbox)
    assert await _outcome(deposit["id"]) == ("PAID", InstructionStatus.SUCCEEDED)
    assert await _available(client, token) == "1234.56"
    assert await ledger.member_balances(user_id) == {
        "available": 123_456,
        "frozen": 0,
        "withdrawing": 0,
    }

    # Approving twice: the final state shown, one credit.
    again = await client.post(path, data={"decision": "approve"})
    assert again.status_code == 200
    assert "Payment approved" in again.text
    assert "already been decided" in again.text
    await settle_everything(app.state.sandbox.sandbox)
    assert await _available(client, token) == "1234.56"
    assert await Journal.filter(kind="deposit_paid").count() == 1
    assert (await client.get(path)).status_code == 404  # the used link
    assert (await ledger.check()).ok


async def test_declining_leaves_the_balance_and_fails_the_deposit(client, app):
    user_id, token = await _member(client)
    paid = await _start(client, token, "10.01", "GATEWAY", "bank-gw-0002")
    await client.post(_path(paid["payUrl"]), data={"decision": "approve"})
    refused = await _start(client, token, "500.00", "GATEWAY", "bank-gw-0003")
    path = _path(refused["payUrl"])
    assert path != _path(paid["payUrl"])

    declined = await client.post(path, data={"decision": "decline"})
    assert declined.status_code == 200
    assert "Payment declined" in declined.text
    await settle_everything(app.state.sandbox.sandbox)
    assert await _outcome(refused["id"]) == ("FAILED", InstructionStatus.FAILED)
    assert await _available(client, token) == "10.01"
    # Changing one's mind afterwards changes nothing.
    late = await client.post(path, data={"decision": "approve"})
    assert "Payment declined" in late.text
    assert "already been decided" in late.text
    await settle_everything(app.state.sandbox.sandbox)
    assert await _outcome(refused["id"]) == ("FAILED", InstructionStatus.FAILED)
    assert await ledger.member_balances(user_id) == {
        "available": 1_001,
        "frozen": 0,
        "withdrawing": 0,
    }


async def test_the_pos_page_is_its_own_and_pays_the_same_way(client, app):
    user_id, token = await _member(client)
    deposit = await _start(client, token, "88.88", "POS", "bank-pos-0001")
    assert deposit["channel"] == "POS"
    path = _path(deposit["payUrl"])

    page = await client.get(path)
    assert page.status_code == 200
    assert "Card payment at a POS terminal" in page.text
    assert "Online banking payment" not in page.text
    assert '<dd class="amount">¥88.88</dd>' in page.text

    approved = await client.post(path, data={"decision": "approve"})
    assert "Payment approved" in approved.text
    await client.post(path, data={"decision": "approve"})
    await settle_everything(app.state.sandbox.sandbox)
    assert await _outcome(deposit["id"]) == ("PAID", InstructionStatus.SUCCEEDED)
    assert await _available(client, token) == "88.88"
    assert await ledger.member_balances(user_id) == {
        "available": 8_888,
        "frozen": 0,
        "withdrawing": 0,
    }


BOGUS = [
    "/sandbox-bank/pay/" + "Z" * 43,  # well-formed, never issued
    "/sandbox-bank/pay/not-a-token",
    "/sandbox-bank/nothing-here",
    "/sandbox-bank/v1/balances",  # the provider's API is not reachable through here
]


async def test_a_bogus_token_or_a_bad_decision_moves_nothing(client, app):
    _user_id, token = await _member(client)
    deposit = await _start(client, token, "20.00", "GATEWAY", "bank-gw-0004")
    path = _path(deposit["payUrl"])

    for bogus in BOGUS:
        shown = await client.get(bogus)
        posted = await client.post(bogus, data={"decision": "approve"})
        assert (shown.status_code, posted.status_code) == (404, 404), bogus
    assert "Payment page not found" in (await client.get(BOGUS[0])).text
    answer = await client.post(path, data={"decision": "yes please"})
    assert answer.status_code == 400
    assert "INVALID_DECISION" in answer.text

    await _provider_quiet(app)
    assert await _outcome(deposit["id"]) == ("PENDING", InstructionStatus.SENT)
    assert await _available(client, token) == "0.00"
    assert (await client.get(path)).status_code == 200  # still open to pay


@contextlib.asynccontextmanager
async def _app_on(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with other settings (the `app` fixture's, changed), and a client to it."""
    configured = get_settings().model_copy(
        update={
            "sandbox_database": str(tmp_path / "sandbox-provider.sqlite3"),
            "jobs_embedded": False,
            **settings,
        }
    )
    application = create_app(configured, own_services=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_the_pay_url_is_built_on_the_configured_public_base_url(database, tmp_path):
    async with _app_on(tmp_path, public_base_url="https://demo.lendbridge.example/p2p") as http:
        _user_id, token = await _member(http)
        deposit = await _start(http, token, "1.00", "GATEWAY", "bank-gw-0006")
        url = urlsplit(deposit["payUrl"])
        assert (url.scheme, url.netloc) == ("https", "demo.lendbridge.example")
        assert url.path.startswith("/p2p/sandbox-bank/pay/")
        # Behind the proxy that strips /p2p, the page answers on the app's own path.
        page = await http.get(url.path.removeprefix("/p2p"))
        assert page.status_code == 200
        assert "¥1.00" in page.text


async def test_with_a_provider_elsewhere_the_app_serves_no_bank(database):
    # The app without its embedded sandbox (PROVIDER_URL set): no bank pages here.
    application = create_app(get_settings(), own_services=False)
    application.state.sandbox = None
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get(BOGUS[0])
    assert answer.status_code == 404
    assert "Payment page not found" in answer.text
