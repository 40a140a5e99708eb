"""M4: the sandbox payment provider, reached through HttpPaymentProvider over the same
signed HTTP protocol as a real provider (in-process, via ASGITransport). The sandbox
keeps its own books in its own SQLite file; nothing here touches the platform database.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.kit.settings import get_settings
from services.payments.http_provider import AccountBalance, HttpPaymentProvider
from services.payments.provider import (
    DepositChannel,
    InvalidCallbackError,
    ProviderRejectedError,
    ProviderResult,
    ProviderStatus,
    ProviderUnavailableError,
    SplitPart,
    TransactionKind,
    WithdrawSpeed,
)
from services.payments.sandbox import SandboxApp, create_sandbox_app, luhn_complete

pytestmark = pytest.mark.asyncio(loop_scope="session")

API_SECRET = "test-provider-api-secret"
WEBHOOK_SECRET = "test-webhook-secret"
THURSDAY, FRIDAY, SATURDAY, SUNDAY, MONDAY = (date(2026, 3, day) for day in range(5, 10))
OWNER = "张三"
# Generated test numbers (Luhn-valid by construction), never a real card.
CARD = luhn_complete("622202000000001")
OTHER_CARD = luhn_complete("622202000000002")


@dataclass
class Box:
    """The sandbox app, the platform's adapter to it, and the outside world's view."""

    path: Path
    today: date = FRIDAY
    fail_deliveries: bool = False
    delivered: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    app: SandboxApp = field(init=False)
    provider: HttpPaymentProvider = field(init=False)
    world: httpx.AsyncClient = field(init=False)

    async def deliver(self, body: bytes, headers: dict[str, str]) -> None:
        if self.fail_deliveries:
            raise ConnectionError("platform down")
        self.delivered.append((body, headers))

    async def business_day(self) -> date:
        return self.today

    async def open(self) -> None:
        self.app = create_sandbox_app(
            get_settings(),
            database=str(self.path),
            deliver=self.deliver,
            today=self.business_day,
            api_secret=API_SECRET,
            webhook_secret=WEBHOOK_SECRET,
        )
        await self.app.start()
        self.provider = HttpPaymentProvider(
            app=self.app, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET
        )
        self.world = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sandbox"
        )

    async def close(self) -> None:
        await self.world.aclose()
        await self.provider.aclose()
        await self.app.aclose()

    async def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        """An unsigned call to a /sandbox/... endpoint (the outside world)."""
        response = await self.world.post(path, json=body or {})
        assert response.status_code == status, response.text
        return response.json()

    async def faults(self, **config: Any) -> None:
        await self.post("/sandbox/faults", config)

    async def balance(self, account_id: str) -> tuple[int, int]:
        balance = await self.provider.balance(account_id=account_id)
        assert balance is not None
        return balance.available_fen, balance.frozen_fen

    async def events(self) -> list[tuple[str, ProviderStatus, int, str]]:
        """Every callback delivered so far, verified by the adapter."""
        await self.app.sandbox.drain()
        events = [self.provider.verify_callback(headers=h, body=b) for b, h in self.delivered]
        return [(e.request_id, e.status, e.amount_fen, e.reason) for e in events]

    async def account(self, ref: str, name: str = OWNER) -> str:
        result = await self.provider.open_account(
            request_id=f"open-{ref}", member_ref=ref, real_name=name
        )
        assert result.status == ProviderStatus.SUCCEEDED, result
        return str(result.extra["account_id"])

    async def card(self, account_id: str, number: str = CARD, holder: str = OWNER) -> str:
        result = await self.bind(account_id, number, holder, request_id=f"bind-{account_id}")
        assert result.status == ProviderStatus.SUCCEEDED, result
        return str(result.extra["card_id"])

    async def bind(
        self, account_id: str, number: str, holder: str, *, request_id: str
    ) -> ProviderResult:
        return await self.provider.bind_card(
            request_id=request_id,
            account_id=account_id,
            card_number=number,
            holder_name=holder,
            holder_id_number="110101199001011234",
            phone="17700000001",
        )

    async def funded(self, ref: str, amount_fen: int) -> tuple[str, str]:
        """An account with a bound card and `amount_fen` available (auto-debit)."""
        account_id = await self.account(ref)
        card_id = await self.card(account_id)
        result = await self.provider.deposit(
            request_id=f"fund-{ref}",
            account_id=account_id,
            amount_fen=amount_fen,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card_id,
        )
        assert result.status == ProviderStatus.SUCCEEDED, result
        return account_id, card_id

    async def gateway(self, request_id: str, account_id: str, amount_fen: int) -> ProviderResult:
        return await self.provider.deposit(
            request_id=request_id,
            account_id=account_id,
            amount_fen=amount_fen,
            channel=DepositChannel.GATEWAY,
        )


@pytest_asyncio.fixture(loop_scope="session")
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    harness = Box(path=tmp_path / "sandbox.sqlite3")
    await harness.open()
    try:
        yield harness
    finally:
        await harness.close()


def _sign(secret: str, timestamp: str, body: bytes) -> str:
    # Written out here rather than imported: the test checks the documented formula.
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


async def test_open_account_gives_an_empty_virtual_account_once_per_member(box: Box):
    result = await box.provider.open_account(
        request_id="open-1", member_ref="member-1", real_name=OWNER
    )
    account_id = result.extra["account_id"]
    assert (result.request_id, result.kind, result.status, result.amount_fen, result.reason) == (
        "open-1",
        TransactionKind.OPEN_ACCOUNT,
        ProviderStatus.SUCCEEDED,
        0,
        "",
    )
    assert account_id.startswith("SBA")
    assert result.provider_ref.startswith("SBT")
    assert await box.provider.balance(account_id=account_id) == AccountBalance(
        account_id, "member-1", 0, 0
    )
    again = await box.provider.open_account(
        request_id="open-2", member_ref="member-1", real_name=OWNER
    )
    assert (again.status, again.reason, again.extra) == (
        ProviderStatus.FAILED,
        "member_ref already has an account",
        {"account_id": account_id},
    )
    assert await box.provider.balances() == [AccountBalance(account_id, "member-1", 0, 0)]
    assert await box.provider.balance(account_id=account_id + "x") is None


async def test_bind_card_returns_and_stores_only_the_masked_number(box: Box):
    account_id = await box.account("m1")
    result = await box.bind(account_id, CARD, OWNER, request_id="bind-1")
    assert CARD == "6222020000000015"
    assert result.status == ProviderStatus.SUCCEEDED
    assert result.extra == {
        "account_id": account_id,
        "card_id": result.extra["card_id"],
        "card_masked": "622202******0015",
    }
    assert CARD not in json.dumps(result.extra)
    # The sandbox's own file (and its write-ahead log) never holds the full number.
    await box.app.aclose()
    stored = b"".join(
        path.read_bytes() for path in box.path.parent.glob("sandbox.sqlite3*") if path.is_file()
    )
    assert b"622202******0015" in stored
    assert CARD.encode() not in stored
    await box.app.start()


@pytest.mark.parametrize(
    ("number", "holder", "reason"),
    [
        (CARD, "李四", "holder name does not match the account owner"),
        ("6222020000000014", OWNER, "card number fails the Luhn check"),
        ("62220200000000a4", OWNER, "card number fails the Luhn check"),
    ],
)
async def test_bind_card_fails_when_the_holder_or_number_is_wrong(box: Box, number, holder, reason):
    account_id = await box.account("m1")
    result = await box.bind(account_id, number, holder, request_id="bind-bad")
    assert (result.status, result.reason, result.extra) == (ProviderStatus.FAILED, reason, {})
    # No card was bound: an auto-debit has none to use.
    deposit = await box.provider.deposit(
        request_id="dep-1",
        account_id=account_id,
        amount_fen=100,
        channel=DepositChannel.AUTO_DEBIT,
        card_id="SBC-none",
    )
    assert (deposit.status, deposit.reason) == (
        ProviderStatus.FAILED,
        "card is not bound to this account",
    )
    assert await box.balance(account_id) == (0, 0)


async def test_gateway_deposit_is_pending_until_the_bank_pays_then_one_signed_callback(box: Box):
    account_id = await box.account("m1")
    pending = await box.gateway("dep-1", account_id, 12_345)
    assert (pending.kind, pending.status, pending.amount_fen) == (
        TransactionKind.DEPOSIT,
        ProviderStatus.PENDING,
        12_345,
    )
    # The member's page at the bank, opened by an unguessable token (test_sandbox_bank.py).
    pay_url = pending.extra.pop("pay_url")
    assert pending.extra == {"account_id": account_id}
    assert re.fullmatch(r"http://127\.0\.0\.1:8100/sandbox-bank/pay/[A-Za-z0-9_-]{43}", pay_url)
    assert await box.balance(account_id) == (0, 0)
    assert await box.events() == []

    paid = await box.post("/sandbox/bank/pay/dep-1")
    assert (paid["status"], paid["amount_fen"]) == ("SUCCEEDED", 12_345)
    assert await box.balance(account_id) == (12_345, 0)
    assert await box.events() == [("dep-1", ProviderStatus.SUCCEEDED, 12_345, "")]
    body, headers = box.delivered[0]
    event = box.provider.verify_callback(headers=headers, body=body)
    assert event.kind == TransactionKind.DEPOSIT
    assert event.event_id.startswith("SBE")
    assert headers["X-LB-Signature"] == _sign(WEBHOOK_SECRET, headers["X-LB-Timestamp"], body)
    queried = await box.provider.query(request_id="dep-1")
    assert queried is not None
    assert (queried.status, queried.provider_ref) == (
        ProviderStatus.SUCCEEDED,
        pending.provider_ref,
    )

    # The bank cannot pay twice, and nothing more is credited or announced.
    await box.post("/sandbox/bank/pay/dep-1", status=409)
    assert await box.balance(account_id) == (12_345, 0)
    assert len(box.delivered) == 1


async def test_the_bank_refusing_a_deposit_fails_it_with_a_callback(box: Box):
    account_id = await box.account("m1")
    await box.gateway("dep-1", account_id, 5_000)
    refused = await box.post("/sandbox/bank/reject/dep-1", {"reason": "card expired"})
    assert (refused["status"], refused["reason"]) == ("FAILED", "card expired")
    assert await box.balance(account_id) == (0, 0)
    assert await box.events() == [("dep-1", ProviderStatus.FAILED, 5_000, "card expired")]
    await box.post("/sandbox/bank/pay/dep-1", status=409)
    await box.post("/sandbox/bank/pay/never-sent", status=404)


async def test_a_replayed_request_returns_the_stored_result_and_moves_nothing(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    request = {
        "request_id": "dep-2",
        "account_id": account_id,
        "amount_fen": 2_500,
        "channel": DepositChannel.AUTO_DEBIT,
        "card_id": card_id,
    }
    first = await box.provider.deposit(**request)
    second = await box.provider.deposit(**request)
    assert first == second
    assert (first.status, first.amount_fen) == (ProviderStatus.SUCCEEDED, 2_500)
    assert await box.balance(account_id) == (12_500, 0)

    freeze = {"request_id": "frz-1", "account_id": account_id, "amount_fen": 700}
    assert await box.provider.freeze(**freeze) == await box.provider.freeze(**freeze)
    assert await box.balance(account_id) == (11_800, 700)
    assert await box.events() == [
        ("fund-m1", ProviderStatus.SUCCEEDED, 10_000, ""),
        ("dep-2", ProviderStatus.SUCCEEDED, 2_500, ""),
    ]

    # A replay after the state changed answers the current state, still moving nothing.
    pending = await box.gateway("dep-3", account_id, 300)
    await box.post("/sandbox/bank/pay/dep-3")
    replay = await box.gateway("dep-3", account_id, 300)
    assert (replay.status, replay.provider_ref) == (ProviderStatus.SUCCEEDED, pending.provider_ref)
    assert await box.balance(account_id) == (12_100, 700)


async def test_the_same_request_id_with_other_content_is_rejected(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    with pytest.raises(ProviderRejectedError, match="409"):
        await box.provider.deposit(
            request_id="fund-m1",
            account_id=account_id,
            amount_fen=10_001,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card_id,
        )
    with pytest.raises(ProviderRejectedError, match="409"):
        await box.provider.freeze(request_id="fund-m1", account_id=account_id, amount_fen=10_000)
    stored = await box.provider.query(request_id="fund-m1")
    assert stored is not None
    assert (stored.kind, stored.amount_fen) == (TransactionKind.DEPOSIT, 10_000)
    assert await box.balance(account_id) == (10_000, 0)


async def test_malformed_input_is_rejected_before_anything_happens(box: Box):
    account_id = await box.account("m1")
    with pytest.raises(ProviderRejectedError, match="400"):
        await box.provider.freeze(request_id="frz-0", account_id=account_id, amount_fen=0)
    with pytest.raises(ProviderRejectedError, match="400"):
        await box.provider.open_account(request_id="bad id!", member_ref="m2", real_name=OWNER)
    assert await box.provider.query(request_id="frz-0") is None


async def test_a_withdrawal_above_available_fails_and_moves_nothing(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    result = await box.provider.withdraw(
        request_id="wd-1",
        account_id=account_id,
        card_id=card_id,
        amount_fen=10_001,
        speed=WithdrawSpeed.REALTIME,
    )
    assert (result.kind, result.status, result.amount_fen, result.reason) == (
        TransactionKind.WITHDRAW,
        ProviderStatus.FAILED,
        10_001,
        "insufficient available balance",
    )
    assert await box.balance(account_id) == (10_000, 0)
    assert await box.events() == [
        ("fund-m1", ProviderStatus.SUCCEEDED, 10_000, ""),
        ("wd-1", ProviderStatus.FAILED, 10_001, "insufficient available balance"),
    ]
    assert [line.request_id for line in await box.provider.statement(day=FRIDAY)] == ["fund-m1"]


async def test_a_t1_withdrawal_on_friday_settles_only_on_mondays_run(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    result = await box.provider.withdraw(
        request_id="wd-t1",
        account_id=account_id,
        card_id=card_id,
        amount_fen=3_000,
        speed=WithdrawSpeed.T1,
    )
    assert (result.status, result.extra["due_day"]) == (ProviderStatus.PENDING, "2026-03-09")
    # Accepting it takes the money from available at once.
    assert await box.balance(account_id) == (7_000, 0)
    for day in (FRIDAY, SATURDAY, SUNDAY):
        assert await box.post("/sandbox/settle", {"day": day.isoformat()}) == {"settled": []}
    still = await box.provider.query(request_id="wd-t1")
    assert still is not None
    assert still.status == ProviderStatus.PENDING
    assert await box.events() == [("fund-m1", ProviderStatus.SUCCEEDED, 10_000, "")]

    settled = await box.post("/sandbox/settle", {"day": MONDAY.isoformat()})
    assert [(r["request_id"], r["status"], r["amount_fen"]) for r in settled["settled"]] == [
        ("wd-t1", "SUCCEEDED", 3_000)
    ]
    assert await box.balance(account_id) == (7_000, 0)
    assert (await box.events())[1:] == [("wd-t1", ProviderStatus.SUCCEEDED, 3_000, "")]
    monday = await box.provider.statement(day=MONDAY)
    assert [(line.request_id, line.amount_fen) for line in monday] == [("wd-t1", 3_000)]
    assert [line.request_id for line in await box.provider.statement(day=FRIDAY)] == ["fund-m1"]
    # A second run settles nothing twice.
    assert await box.post("/sandbox/settle", {"day": MONDAY.isoformat()}) == {"settled": []}


async def test_t0_settles_on_the_same_days_run_and_realtime_at_once(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)

    async def withdraw(request_id: str, amount_fen: int, speed: WithdrawSpeed) -> ProviderResult:
        return await box.provider.withdraw(
            request_id=request_id,
            account_id=account_id,
            card_id=card_id,
            amount_fen=amount_fen,
            speed=speed,
        )

    assert (await withdraw("wd-rt", 1_000, WithdrawSpeed.REALTIME)).status == (
        ProviderStatus.SUCCEEDED
    )
    t0 = await withdraw("wd-t0", 2_000, WithdrawSpeed.T0)
    assert (t0.status, t0.extra["due_day"]) == (ProviderStatus.PENDING, "2026-03-06")
    assert await box.balance(account_id) == (7_000, 0)
    assert await box.post("/sandbox/settle", {"day": THURSDAY.isoformat()}) == {"settled": []}
    settled = await box.post("/sandbox/settle", {"day": FRIDAY.isoformat()})
    assert [r["request_id"] for r in settled["settled"]] == ["wd-t0"]
    # A bounced payout returns the money to available.
    await withdraw("wd-bounce", 500, WithdrawSpeed.T1)
    assert await box.balance(account_id) == (6_500, 0)
    await box.post("/sandbox/bank/reject/wd-bounce", {"reason": "account closed"})
    assert await box.balance(account_id) == (7_000, 0)
    assert (await box.events())[1:] == [
        ("wd-rt", ProviderStatus.SUCCEEDED, 1_000, ""),
        ("wd-t0", ProviderStatus.SUCCEEDED, 2_000, ""),
        ("wd-bounce", ProviderStatus.FAILED, 500, "account closed"),
    ]


async def test_freeze_unfreeze_and_transfers_move_exactly_the_amounts(box: Box):
    lender, _card = await box.funded("lender", 10_000)
    borrower = await box.account("borrower", "李四")
    p = box.provider

    def status(result: ProviderResult) -> tuple[ProviderStatus, str]:
        return result.status, result.reason

    ok = (ProviderStatus.SUCCEEDED, "")
    assert status(await p.freeze(request_id="f1", account_id=lender, amount_fen=4_000)) == ok
    assert await box.balance(lender) == (6_000, 4_000)
    assert status(await p.unfreeze(request_id="u1", account_id=lender, amount_fen=1_000)) == ok
    assert await box.balance(lender) == (7_000, 3_000)
    from_frozen = await p.transfer(
        request_id="t1",
        from_account_id=lender,
        to_account_id=borrower,
        amount_fen=2_500,
        from_frozen=True,
    )
    assert status(from_frozen) == ok
    assert (await box.balance(lender), await box.balance(borrower)) == ((7_000, 500), (2_500, 0))
    from_available = await p.transfer(
        request_id="t2", from_account_id=lender, to_account_id=borrower, amount_fen=7_000
    )
    assert status(from_available) == ok
    assert (await box.balance(lender), await box.balance(borrower)) == ((0, 500), (9_500, 0))

    short_frozen = await p.transfer(
        request_id="t3",
        from_account_id=lender,
        to_account_id=borrower,
        amount_fen=501,
        from_frozen=True,
    )
    assert status(short_frozen) == (ProviderStatus.FAILED, "insufficient frozen balance")
    short_available = await p.transfer(
        request_id="t4", from_account_id=lender, to_account_id=borrower, amount_fen=1
    )
    assert status(short_available) == (ProviderStatus.FAILED, "insufficient available balance")
    assert status(await p.freeze(request_id="f2", account_id=lender, amount_fen=1)) == (
        ProviderStatus.FAILED,
        "insufficient available balance",
    )
    assert status(await p.unfreeze(request_id="u2", account_id=lender, amount_fen=501)) == (
        ProviderStatus.FAILED,
        "insufficient frozen balance",
    )
    assert (await box.balance(lender), await box.balance(borrower)) == ((0, 500), (9_500, 0))


async def test_a_split_moves_every_part_or_none_and_is_listed_with_its_parts(box: Box):
    payer, _card = await box.funded("payer", 10_000)
    a = await box.account("a", "李四")
    b = await box.account("b", "王五")
    c = await box.account("c", "赵六")
    p = box.provider
    parts = [SplitPart(a, 4_321), SplitPart(b, 1), SplitPart(c, 678)]

    done = await p.split(request_id="s1", from_account_id=payer, parts=parts)
    assert (done.status, done.amount_fen, done.kind) == (
        ProviderStatus.SUCCEEDED,
        5_000,
        TransactionKind.SPLIT,
    )
    expected = {payer: (5_000, 0), a: (4_321, 0), b: (1, 0), c: (678, 0)}
    assert {account: await box.balance(account) for account in expected} == expected
    # Replayed: the stored answer, nothing moves again; other parts under the id: refused.
    assert await p.split(request_id="s1", from_account_id=payer, parts=parts) == done
    assert {account: await box.balance(account) for account in expected} == expected
    with pytest.raises(ProviderRejectedError):
        await p.split(request_id="s1", from_account_id=payer, parts=parts[:2])
    known = await p.query(request_id="s1")
    assert known is not None
    assert known.extra["parts"] == [[a, 4_321], [b, 1], [c, 678]]

    # Short by one fen: FAILED, no part moves.
    short = await p.split(
        request_id="s2", from_account_id=payer, parts=[SplitPart(a, 4_000), SplitPart(b, 1_001)]
    )
    assert (short.status, short.reason) == (ProviderStatus.FAILED, "insufficient available balance")
    unknown = await p.split(
        request_id="s3", from_account_id=payer, parts=[SplitPart(a, 1), SplitPart("SBA-none", 1)]
    )
    assert (unknown.status, unknown.reason) == (ProviderStatus.FAILED, "unknown account SBA-none")
    assert {account: await box.balance(account) for account in expected} == expected

    # From frozen money.
    await p.freeze(request_id="f1", account_id=payer, amount_fen=3_000)
    frozen = await p.split(
        request_id="s4",
        from_account_id=payer,
        parts=[SplitPart(a, 2_000), SplitPart(b, 1_000)],
        from_frozen=True,
    )
    assert frozen.status == ProviderStatus.SUCCEEDED
    assert (await box.balance(payer), await box.balance(a)) == ((2_000, 0), (6_321, 0))

    lines = [line for line in await p.statement(day=FRIDAY) if line.kind == TransactionKind.SPLIT]
    assert [(line.request_id, line.account_id, line.amount_fen, line.parts) for line in lines] == [
        ("s1", payer, 5_000, tuple(parts)),
        ("s4", payer, 3_000, (SplitPart(a, 2_000), SplitPart(b, 1_000))),
    ]


@pytest.mark.parametrize(
    "parts",
    [
        [],
        [{"to_account_id": "A", "amount_fen": 0}],
        [{"to_account_id": "A", "amount_fen": 1}, {"to_account_id": "A", "amount_fen": 2}],
        [{"to_account_id": "SOURCE", "amount_fen": 1}],
        [{"to_account_id": "A"}],
        "A:1",
    ],
)
async def test_a_malformed_split_is_refused_before_anything_happens(box: Box, parts):
    payer, _card = await box.funded("payer", 10_000)
    other = await box.account("other", "李四")
    given = json.loads(
        json.dumps(parts).replace('"SOURCE"', json.dumps(payer)).replace('"A"', json.dumps(other))
    )
    body = {"request_id": "bad-split", "from_account_id": payer, "parts": given}
    with pytest.raises(ProviderRejectedError, match="400"):
        await box.provider._instruct("/v1/splits", body)
    assert await box.provider.query(request_id="bad-split") is None
    assert (await box.balance(payer), await box.balance(other)) == ((10_000, 0), (0, 0))


async def test_query_of_an_unknown_request_id_is_none(box: Box):
    assert await box.provider.query(request_id="never-sent") is None


async def test_the_statement_lists_exactly_the_days_settled_movements(box: Box):
    a, card = await box.funded("a", 10_000)
    b = await box.account("b", "李四")
    await box.gateway("gw-paid", a, 2_000)
    await box.post("/sandbox/bank/pay/gw-paid")
    await box.gateway("gw-open", a, 999)  # still pending: no movement yet
    await box.provider.freeze(request_id="frz", account_id=a, amount_fen=1_000)
    await box.provider.transfer(request_id="tr", from_account_id=a, to_account_id=b, amount_fen=500)
    await box.provider.withdraw(
        request_id="wd-t1", account_id=a, card_id=card, amount_fen=300, speed=WithdrawSpeed.T1
    )
    await box.provider.withdraw(
        request_id="wd-big", account_id=a, card_id=card, amount_fen=10**9, speed=WithdrawSpeed.T0
    )
    lines = await box.provider.statement(day=FRIDAY)
    assert [
        (line.request_id, line.kind, line.account_id, line.counter_account_id, line.amount_fen)
        for line in lines
    ] == [
        ("fund-a", TransactionKind.DEPOSIT, a, "", 10_000),
        ("gw-paid", TransactionKind.DEPOSIT, a, "", 2_000),
        ("frz", TransactionKind.FREEZE, a, "", 1_000),
        ("tr", TransactionKind.TRANSFER, a, b, 500),
    ]
    assert {line.status for line in lines} == {ProviderStatus.SUCCEEDED}
    assert all(line.settled_at.tzinfo is not None for line in lines)
    assert await box.provider.statement(day=THURSDAY) == []
    csv_text = await box.app.sandbox.statement_csv(FRIDAY)
    assert csv_text.splitlines()[0] == (
        "request_id,kind,account_id,counter_account_id,amount_fen,status,settled_at,parts"
    )
    assert len(csv_text.splitlines()) == 5

    await box.faults(alter_statement={"gw-paid": 2_001})
    altered = await box.provider.statement(day=FRIDAY)
    assert [(line.request_id, line.amount_fen) for line in altered] == [
        ("fund-a", 10_000),
        ("gw-paid", 2_001),
        ("frz", 1_000),
        ("tr", 500),
    ]
    # Only the file lies: the books are unchanged.
    assert await box.balance(a) == (10_000 + 2_000 - 1_000 - 500 - 300, 1_000)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("forged body", "bad signature"),
        ("wrong secret", "bad signature"),
        ("stale timestamp", "stale timestamp"),
        ("future timestamp", "stale timestamp"),
        ("no signature", "missing signature headers"),
    ],
)
async def test_verify_callback_refuses_forged_stale_and_wrongly_keyed_callbacks(
    box: Box, tamper, problem
):
    account_id = await box.account("m1")
    await box.gateway("dep-1", account_id, 100)
    await box.post("/sandbox/bank/pay/dep-1")
    body, headers = box.delivered[0]
    # Genuine, with header names as a server may hand them over (lower case).
    lowered = {name.lower(): value for name, value in headers.items()}
    assert box.provider.verify_callback(headers=lowered, body=body).amount_fen == 100

    now = int(time.time())
    forged_body = body.replace(b'"amount_fen":100', b'"amount_fen":100000')
    cases = {
        "forged body": (headers, forged_body),
        "wrong secret": (
            {"X-LB-Timestamp": str(now), "X-LB-Signature": _sign("other", str(now), body)},
            body,
        ),
        "stale timestamp": (
            {
                "X-LB-Timestamp": str(now - 301),
                "X-LB-Signature": _sign(WEBHOOK_SECRET, str(now - 301), body),
            },
            body,
        ),
        "future timestamp": (
            {
                "X-LB-Timestamp": str(now + 310),
                "X-LB-Signature": _sign(WEBHOOK_SECRET, str(now + 310), body),
            },
            body,
        ),
        "no signature": ({"X-LB-Timestamp": str(now)}, body),
    }
    bad_headers, bad_body = cases[tamper]
    assert forged_body != body
    with pytest.raises(InvalidCallbackError, match=problem):
        box.provider.verify_callback(headers=bad_headers, body=bad_body)


async def test_requests_with_a_bad_or_stale_signature_get_401(box: Box):
    wrong_key = HttpPaymentProvider(app=box.app, api_secret="not-the-secret")
    stale = HttpPaymentProvider(app=box.app, api_secret=API_SECRET, clock=lambda: time.time() - 301)
    try:
        for provider in (wrong_key, stale):
            with pytest.raises(ProviderRejectedError, match="401"):
                await provider.open_account(request_id="open-x", member_ref="x", real_name=OWNER)
    finally:
        await wrong_key.aclose()
        await stale.aclose()
    unsigned = await box.world.post(
        "/v1/accounts", json={"request_id": "open-y", "member_ref": "y", "real_name": OWNER}
    )
    assert (unsigned.status_code, unsigned.json()) == (401, {"error": "missing signature headers"})
    assert await box.provider.query(request_id="open-x") is None
    assert await box.provider.query(request_id="open-y") is None
    assert await box.provider.balances() == []


async def test_error_fault_is_unavailable_and_nothing_happens(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    await box.faults(error_rate=1.0)
    with pytest.raises(ProviderUnavailableError, match="503"):
        await box.provider.withdraw(
            request_id="wd-1",
            account_id=account_id,
            card_id=card_id,
            amount_fen=4_000,
            speed=WithdrawSpeed.REALTIME,
        )
    await box.faults()
    assert await box.provider.query(request_id="wd-1") is None
    assert await box.balance(account_id) == (10_000, 0)
    assert [event[0] for event in await box.events()] == ["fund-m1"]


async def test_timeout_fault_hides_an_outcome_that_query_then_reveals(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    await box.faults(timeout_rate=1.0)
    with pytest.raises(ProviderUnavailableError, match="504"):
        await box.provider.withdraw(
            request_id="wd-1",
            account_id=account_id,
            card_id=card_id,
            amount_fen=4_000,
            speed=WithdrawSpeed.REALTIME,
        )
    await box.faults()
    happened = await box.provider.query(request_id="wd-1")
    assert happened is not None
    assert (happened.status, happened.amount_fen) == (ProviderStatus.SUCCEEDED, 4_000)
    # Retrying with the same request id is safe: the answer, not a second payout.
    retried = await box.provider.withdraw(
        request_id="wd-1",
        account_id=account_id,
        card_id=card_id,
        amount_fen=4_000,
        speed=WithdrawSpeed.REALTIME,
    )
    assert retried == happened
    assert await box.balance(account_id) == (6_000, 0)


async def test_a_hanging_provider_times_the_client_out_but_the_work_is_done(box: Box):
    account_id = await box.account("m1")
    await box.faults(timeout_rate=1.0, timeout_hang_seconds=5.0)
    impatient = HttpPaymentProvider(app=box.app, api_secret=API_SECRET, timeout_seconds=0.2)
    try:
        with pytest.raises(ProviderUnavailableError, match="timed out"):
            await impatient.freeze(request_id="frz-0", account_id=account_id, amount_fen=1)
        with pytest.raises(ProviderUnavailableError, match="timed out"):
            await impatient.open_account(request_id="open-2", member_ref="m2", real_name=OWNER)
    finally:
        await impatient.aclose()
    await box.faults()
    await box.app.sandbox.drain()
    opened = await box.provider.query(request_id="open-2")
    frozen = await box.provider.query(request_id="frz-0")
    assert opened is not None
    assert frozen is not None
    assert (opened.status, frozen.status, frozen.reason) == (
        ProviderStatus.SUCCEEDED,
        ProviderStatus.FAILED,
        "insufficient available balance",
    )
    assert await box.balance(opened.extra["account_id"]) == (0, 0)


async def test_latency_beyond_the_client_timeout_is_unavailable_and_nothing_happens(box: Box):
    account_id = await box.account("m1")
    await box.faults(latency_ms=1_000)
    impatient = HttpPaymentProvider(app=box.app, api_secret=API_SECRET, timeout_seconds=0.1)
    try:
        with pytest.raises(ProviderUnavailableError, match="timed out"):
            await impatient.freeze(request_id="frz-0", account_id=account_id, amount_fen=1)
    finally:
        await impatient.aclose()
    await box.faults()
    assert await box.provider.query(request_id="frz-0") is None


async def test_dropped_callbacks_are_never_sent(box: Box):
    account_id = await box.account("m1")
    await box.faults(drop_callback_rate=1.0)
    await box.gateway("dep-1", account_id, 800)
    await box.post("/sandbox/bank/pay/dep-1")
    assert await box.balance(account_id) == (800, 0)
    assert await box.app.sandbox.redeliver_pending() == 0
    assert await box.events() == []
    [record] = await box.app.sandbox.callbacks()
    assert (record.request_id, record.dropped, record.delivered) == ("dep-1", True, False)


async def test_duplicated_callbacks_are_sent_twice_with_the_same_event_id(box: Box):
    account_id = await box.account("m1")
    await box.faults(duplicate_callback_rate=1.0)
    await box.gateway("dep-1", account_id, 800)
    await box.post("/sandbox/bank/pay/dep-1")
    assert await box.events() == [("dep-1", ProviderStatus.SUCCEEDED, 800, "")] * 2
    (first, _), (second, _) = box.delivered
    assert first == second
    assert await box.balance(account_id) == (800, 0)


async def test_reordered_callbacks_are_held_then_sent_newest_first(box: Box):
    account_id = await box.account("m1")
    await box.faults(reorder_callbacks=True)
    for index, amount in enumerate((100, 200, 300), start=1):
        await box.gateway(f"dep-{index}", account_id, amount)
        await box.post(f"/sandbox/bank/pay/dep-{index}")
    assert await box.events() == []
    assert await box.post("/sandbox/callbacks/flush") == {"delivered": 3}
    assert await box.events() == [
        ("dep-3", ProviderStatus.SUCCEEDED, 300, ""),
        ("dep-2", ProviderStatus.SUCCEEDED, 200, ""),
        ("dep-1", ProviderStatus.SUCCEEDED, 100, ""),
    ]
    assert await box.post("/sandbox/callbacks/flush") == {"delivered": 0}
    assert await box.balance(account_id) == (600, 0)


async def test_a_failed_delivery_stays_pending_until_redelivered(box: Box):
    account_id = await box.account("m1")
    box.fail_deliveries = True
    await box.gateway("dep-1", account_id, 800)
    await box.post("/sandbox/bank/pay/dep-1")
    [record] = await box.app.sandbox.callbacks()
    assert (record.delivered, record.attempts, record.last_error) == (
        False,
        1,
        "ConnectionError: platform down",
    )
    box.fail_deliveries = False
    assert await box.app.sandbox.redeliver_pending() == 1
    assert await box.app.sandbox.redeliver_pending() == 0
    assert await box.events() == [("dep-1", ProviderStatus.SUCCEEDED, 800, "")]


async def test_auto_debit_needs_a_card_bound_to_the_account(box: Box):
    account_id = await box.account("m1")
    other = await box.account("m2")
    other_card = await box.card(other, OTHER_CARD)
    results = [
        await box.provider.deposit(
            request_id=f"dep-{index}",
            account_id=account_id,
            amount_fen=100,
            channel=DepositChannel.AUTO_DEBIT,
            card_id=card_id,
        )
        for index, card_id in enumerate((None, other_card))
    ]
    assert [(r.status, r.reason) for r in results] == [
        (ProviderStatus.FAILED, "auto-debit needs a bound card"),
        (ProviderStatus.FAILED, "card is not bound to this account"),
    ]
    assert await box.balance(account_id) == (0, 0)


async def test_the_books_survive_a_restart_and_replays_still_move_nothing(box: Box):
    account_id, card_id = await box.funded("m1", 10_000)
    await box.faults(alter_statement={"fund-m1": 1})
    await box.close()
    await box.open()
    assert await box.balance(account_id) == (10_000, 0)
    replay = await box.provider.deposit(
        request_id="fund-m1",
        account_id=account_id,
        amount_fen=10_000,
        channel=DepositChannel.AUTO_DEBIT,
        card_id=card_id,
    )
    assert replay.status == ProviderStatus.SUCCEEDED
    assert await box.balance(account_id) == (10_000, 0)
    # Fault settings are part of the sandbox's stored state too.
    [line] = await box.provider.statement(day=FRIDAY)
    assert line.amount_fen == 1


async def test_concurrent_requests_never_overdraw(box: Box):
    account_id, _card_id = await box.funded("m1", 10_000)
    results = await asyncio.gather(
        *(
            box.provider.freeze(request_id=f"frz-{index}", account_id=account_id, amount_fen=3_000)
            for index in range(5)
        )
    )
    statuses = sorted(result.status for result in results)
    assert statuses == [ProviderStatus.FAILED] * 2 + [ProviderStatus.SUCCEEDED] * 3
    assert await box.balance(account_id) == (1_000, 9_000)
