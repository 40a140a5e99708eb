"""M1.3, M1.4, M1.11, M4.1-M4.4, M4.8 end to end: custody account, card, deposit through
the sandbox bank, withdrawal with SMS confirmation, settlement, balances to the fen."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from models.ledger import Journal
from models.payments import InstructionStatus, PaymentInstruction, PendingOperation, Withdrawal
from services.money import ledger
from services.payments.sandbox.faults import FaultConfig
from services.platform import clock
from services.platform.clock import system_now
from tests.factories import create_member, gql, new_id_number, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARD = "6222020200112233446"  # Luhn-valid, generated
OPEN = """mutation ($name: String!, $id: String!) {
  openAccount(input: {realName: $name, idNumber: $id}) {
    __typename ... on AccountOpened { custody { status realNameMasked idNumberMasked } }
    ... on OpenAccountError { code field } } }"""
BIND = """mutation ($card: String!) { bindBankCard(input: {cardNumber: $card, bankName: "ICBC"}) {
  __typename ... on BankCardBound { card { id cardMasked status failureReason } }
  ... on BindBankCardError { code field } } }"""
DEPOSIT = """mutation ($amount: Money!, $key: String!, $channel: DepositChannelEnum!, $card: ID) {
  deposit(input: {amount: $amount, channel: $channel, cardId: $card, idempotencyKey: $key}) {
    __typename ... on DepositStarted { deposit { id amount status payUrl channel } }
    ... on DepositError { code field } } }"""
WITHDRAW = """mutation ($amount: Money!, $card: ID!, $key: String!, $speed: WithdrawSpeedEnum!) {
  withdraw(input: {amount: $amount, speed: $speed, cardId: $card, idempotencyKey: $key}) {
    __typename ... on ConfirmationRequired { operationId amount fee counterparty }
    ... on WithdrawError { code field } } }"""
CONFIRM = """mutation ($op: ID!, $code: String!) {
  confirmOperation(input: {operationId: $op, code: $code}) {
    __typename ... on OperationConfirmed { withdrawal { id amount fee status } }
    ... on ConfirmOperationError { code field } } }"""
ACCOUNT = """{ myAccount { available frozen pendingWithdrawal
  custody { status idNumberMasked } bankCards { id cardMasked status } } }"""
OUTBOX = "{ devOutbox(first: 3) { body } }"


async def _member_with_card(client, name: str = "Wang Fang"):
    user, phone = await create_member(name=name)
    token = await token_for(phone)
    id_number = new_id_number()
    opened = (await gql(client, OPEN, {"name": name, "id": id_number}, token=token))["data"]
    assert opened["openAccount"]["custody"]["status"] == "OPEN", opened
    bound = (await gql(client, BIND, {"card": CARD}, token=token))["data"]["bindBankCard"]
    assert bound.get("card", {}).get("status") == "BOUND", bound
    return user, phone, token, bound["card"]["id"], id_number


async def _deposit_paid(client, app, token: str, amount: str, key: str) -> dict:
    started = (
        await gql(
            client, DEPOSIT, {"amount": amount, "key": key, "channel": "GATEWAY"}, token=token
        )
    )["data"]["deposit"]
    assert started["__typename"] == "DepositStarted", started
    assert started["deposit"]["status"] == "PENDING"
    assert started["deposit"]["payUrl"]
    request_id = (
        await PaymentInstruction.get(business_ref=f"deposit:{started['deposit']['id']}")
    ).request_id
    # The member pays on the bank's page; the provider calls the platform back.
    await app.state.sandbox.sandbox.bank_pay(request_id)
    return started["deposit"]


async def _last_code(client) -> str:
    body = (await gql(client, OUTBOX))["data"]["devOutbox"][0]["body"]
    return re.search(r"\b(\d{6})\b", body).group(1)


async def test_open_bind_deposit_withdraw_settle_to_the_fen(client, app):
    user, _phone, token, card_id, id_number = await _member_with_card(client)

    await _deposit_paid(client, app, token, "1000.00", "dep-key-0001")
    account = (await gql(client, ACCOUNT, token=token))["data"]["myAccount"]
    assert (account["available"], account["frozen"], account["pendingWithdrawal"]) == (
        "1000.00",
        "0.00",
        "0.00",
    )
    assert account["custody"]["idNumberMasked"] == f"{id_number[:3]}***********{id_number[-4:]}"
    assert account["bankCards"][0]["cardMasked"] == "**** **** **** 3446"

    asked = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "300.00", "card": card_id, "key": "wd-key-0001", "speed": "T0"},
            token=token,
        )
    )["data"]["withdraw"]
    assert asked["__typename"] == "ConfirmationRequired"
    assert (asked["amount"], asked["fee"]) == ("300.00", "1.00")
    # Nothing moved before the confirmation.
    assert await ledger.member_balances(user.id) == {
        "available": 100000,
        "frozen": 0,
        "withdrawing": 0,
    }

    done = (
        await gql(
            client,
            CONFIRM,
            {"op": asked["operationId"], "code": await _last_code(client)},
            token=token,
        )
    )["data"]["confirmOperation"]
    assert done["withdrawal"]["status"] == "PROCESSING", done
    assert await ledger.member_balances(user.id) == {
        "available": 100000 - 30000 - 100,
        "frozen": 0,
        "withdrawing": 30000,
    }
    assert await ledger.balance(ledger.FEE) == 100

    # The provider's same-day settlement run pays the card and calls back.
    await app.state.sandbox.sandbox.settle(await clock.today())
    assert await ledger.member_balances(user.id) == {
        "available": 69900,
        "frozen": 0,
        "withdrawing": 0,
    }
    assert (await Withdrawal.get(id=int(done["withdrawal"]["id"]))).status == "SUCCEEDED"
    # The ledger mirrors the provider: the member's and the fee account's balances agree.
    custody = app.state.sandbox.sandbox
    member_at_provider = await custody.balance(await _provider_account_id(f"m:{user.id}"))
    fee_at_provider = await custody.balance(await _provider_account_id("p:fee"))
    assert (member_at_provider.available_fen, member_at_provider.frozen_fen) == (69900, 0)
    assert fee_at_provider.available_fen == 100
    assert (await ledger.check()).ok


async def _provider_account_id(owner: str) -> str:
    from models.payments import ProviderAccount

    return (await ProviderAccount.get(owner_code=owner)).provider_account_id


async def test_wrong_expired_and_sixth_codes_and_overdraft_change_nothing(client, app):
    user, _phone, token, card_id, _id = await _member_with_card(client, "Zhao Lei")
    await _deposit_paid(client, app, token, "100.00", "dep-key-0002")
    before = await ledger.member_balances(user.id)

    too_much = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "99.50", "card": card_id, "key": "wd-key-0002", "speed": "T0"},
            token=token,
        )
    )["data"]["withdraw"]
    assert too_much == {
        "__typename": "WithdrawError",
        "code": "INSUFFICIENT_FUNDS",
        "field": "amount",
    }

    asked = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "50.00", "card": card_id, "key": "wd-key-0003", "speed": "T1"},
            token=token,
        )
    )["data"]["withdraw"]
    code = await _last_code(client)
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(4):
        result = await gql(
            client, CONFIRM, {"op": asked["operationId"], "code": wrong}, token=token
        )
        assert result["data"]["confirmOperation"]["code"] == "CODE_INVALID", attempt
    fifth = await gql(client, CONFIRM, {"op": asked["operationId"], "code": wrong}, token=token)
    assert fifth["data"]["confirmOperation"]["code"] == "OPERATION_CANCELLED"
    sixth = await gql(client, CONFIRM, {"op": asked["operationId"], "code": code}, token=token)
    assert sixth["data"]["confirmOperation"]["code"] == "OPERATION_CLOSED"
    assert await ledger.member_balances(user.id) == before
    assert (await PendingOperation.get(id=asked["operationId"])).status == "CANCELLED"

    expiring = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "50.00", "card": card_id, "key": "wd-key-0004", "speed": "T1"},
            token=token,
        )
    )["data"]["withdraw"]
    code = await _last_code(client)
    await PendingOperation.filter(id=expiring["operationId"]).update(
        expires_at=system_now() - timedelta(seconds=1)
    )
    expired = await gql(client, CONFIRM, {"op": expiring["operationId"], "code": code}, token=token)
    assert expired["data"]["confirmOperation"]["code"] == "OPERATION_EXPIRED"
    assert await ledger.member_balances(user.id) == before
    assert await Withdrawal.filter(user_id=user.id, status="PROCESSING").count() == 0


async def test_a_code_for_one_withdrawal_does_not_confirm_another(client, app):
    _user, _phone, token, card_id, _id = await _member_with_card(client, "Sun Li")
    await _deposit_paid(client, app, token, "100.00", "dep-key-0003")
    first = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "10.00", "card": card_id, "key": "wd-a-0001", "speed": "T1"},
            token=token,
        )
    )["data"]["withdraw"]
    first_code = await _last_code(client)
    second = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "20.00", "card": card_id, "key": "wd-b-0001", "speed": "T1"},
            token=token,
        )
    )["data"]["withdraw"]
    crossed = await gql(
        client, CONFIRM, {"op": second["operationId"], "code": first_code}, token=token
    )
    assert crossed["data"]["confirmOperation"]["code"] == "CODE_INVALID"
    ok = await gql(client, CONFIRM, {"op": first["operationId"], "code": first_code}, token=token)
    assert ok["data"]["confirmOperation"]["withdrawal"]["amount"] == "10.00"


async def test_an_idempotency_key_replayed_gives_one_deposit(client, app):
    user, _phone, token, _card, _id = await _member_with_card(client, "Qian Wei")
    variables = {"amount": "88.88", "key": "same-key-0001", "channel": "GATEWAY"}
    answers = [
        (await gql(client, DEPOSIT, variables, token=token))["data"]["deposit"] for _ in range(5)
    ]
    assert len({answer["deposit"]["id"] for answer in answers}) == 1
    assert await PaymentInstruction.filter(kind="DEPOSIT").count() == 1
    other = (await gql(client, DEPOSIT, {**variables, "amount": "1.00"}, token=token))["data"][
        "deposit"
    ]
    assert other == {
        "__typename": "DepositError",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "field": "idempotencyKey",
    }
    request_id = (await PaymentInstruction.get(kind="DEPOSIT")).request_id
    # The provider sends its callback twice: the money is counted once.
    await app.state.sandbox.sandbox.set_faults(FaultConfig(duplicate_callback_rate=1.0))
    await app.state.sandbox.sandbox.bank_pay(request_id)
    assert await ledger.balance(ledger.available(user.id)) == 8888
    assert await Journal.filter(kind="deposit_paid").count() == 1


async def test_forged_stale_and_replayed_callbacks_are_refused(client, app):
    user, _phone, token, _card, _id = await _member_with_card(client, "Li Na")
    started = (
        await gql(
            client,
            DEPOSIT,
            {"amount": "5.00", "key": "dep-key-0005", "channel": "GATEWAY"},
            token=token,
        )
    )["data"]["deposit"]
    instruction = await PaymentInstruction.get(business_ref=f"deposit:{started['deposit']['id']}")
    import json
    import time

    from services.payments.sandbox import sign_callback

    body = json.dumps(
        {
            "event_id": "evt-forged-1",
            "request_id": instruction.request_id,
            "kind": "DEPOSIT",
            "status": "SUCCEEDED",
            "amount_fen": 500,
            "occurred_at": system_now().isoformat(),
            "reason": "",
        }
    ).encode()
    now = str(int(time.time()))
    forged = await client.post(
        "/webhooks/payments",
        content=body,
        headers={"X-LB-Timestamp": now, "X-LB-Signature": "0" * 64},
    )
    assert forged.status_code == 401
    stale_ts = str(int(time.time()) - 301)
    stale = await client.post(
        "/webhooks/payments",
        content=body,
        headers={
            "X-LB-Timestamp": stale_ts,
            "X-LB-Signature": sign_callback(app.state.settings.webhook_secret, stale_ts, body),
        },
    )
    assert stale.status_code == 401
    assert await ledger.balance(ledger.available(user.id)) == 0

    good = {
        "X-LB-Timestamp": now,
        "X-LB-Signature": sign_callback(app.state.settings.webhook_secret, now, body),
    }
    first = await client.post("/webhooks/payments", content=body, headers=good)
    assert first.status_code == 200
    replay = await client.post("/webhooks/payments", content=body, headers=good)
    assert replay.status_code == 409
    assert await ledger.balance(ledger.available(user.id)) == 500
    assert (await PaymentInstruction.get(id=instruction.id)).status == InstructionStatus.SUCCEEDED


async def test_full_id_and_card_numbers_never_appear_in_responses_or_logs(client, app, caplog):
    caplog.set_level(logging.DEBUG)
    _user, _phone, token, _card, id_number = await _member_with_card(client, "Zhou Min")
    body = await client.post(
        "/graphql", json={"query": ACCOUNT}, headers={"Authorization": f"Bearer {token}"}
    )
    log = await gql(
        client,
        "{ operationLog(first: 20) { edges { node { arguments } } } }",
        token=await _admin_token(),
    )
    everything = body.text + str(log) + caplog.text
    assert id_number not in everything
    assert CARD not in everything


async def _admin_token() -> str:
    from tests.factories import create_staff

    _admin, phone = await create_staff("admin")
    return await token_for(phone)


TRANSACTIONS = """query ($filter: TransactionFilterInput, $first: Int, $after: String) {
  myTransactions(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { kind account amount balanceAfter } } } }"""


async def test_transactions_show_every_movement_with_running_balances_and_export(client, app):
    user, _phone, token, card_id, _id = await _member_with_card(client, "Wu Hao")
    await _deposit_paid(client, app, token, "200.00", "dep-key-0101")
    await _deposit_paid(client, app, token, "50.05", "dep-key-0102")
    asked = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "100.00", "card": card_id, "key": "wd-key-0101", "speed": "REALTIME"},
            token=token,
        )
    )["data"]["withdraw"]
    await gql(
        client, CONFIRM, {"op": asked["operationId"], "code": await _last_code(client)}, token=token
    )

    body = (await gql(client, TRANSACTIONS, {"first": 10}, token=token))["data"]["myTransactions"]
    movements = [
        (e["node"]["kind"], e["node"]["account"], e["node"]["amount"], e["node"]["balanceAfter"])
        for e in body["edges"]
    ]
    # Newest first. Real time: the card is paid at once (2.00 fee).
    assert movements == [
        ("withdrawal_settled", "PENDING_WITHDRAWAL", "-100.00", "0.00"),
        ("withdrawal_confirmed", "PENDING_WITHDRAWAL", "100.00", "100.00"),
        ("withdrawal_confirmed", "AVAILABLE", "-102.00", "148.05"),
        ("deposit_paid", "AVAILABLE", "50.05", "250.05"),
        ("deposit_paid", "AVAILABLE", "200.00", "200.00"),
    ]
    assert body["totalCount"] == 5

    page = (await gql(client, TRANSACTIONS, {"first": 2}, token=token))["data"]["myTransactions"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (
        await gql(
            client, TRANSACTIONS, {"first": 10, "after": page["pageInfo"]["endCursor"]}, token=token
        )
    )["data"]["myTransactions"]
    assert [e["node"]["amount"] for e in rest["edges"]] == ["-102.00", "50.05", "200.00"]

    deposits = (
        await gql(client, TRANSACTIONS, {"filter": {"kinds": ["deposit_paid"]}}, token=token)
    )["data"]["myTransactions"]
    assert [e["node"]["amount"] for e in deposits["edges"]] == ["50.05", "200.00"]

    csv_text = (await gql(client, "{ myTransactionsCsv }", token=token))["data"][
        "myTransactionsCsv"
    ]
    lines = csv_text.strip().splitlines()
    assert lines[0] == "id,time_utc,kind,account,amount,balance_after,memo"
    assert len(lines) == 6
    assert ",deposit_paid,AVAILABLE,50.05,250.05," in lines[4]

    _other, other_phone = await create_member()
    theirs = (await gql(client, TRANSACTIONS, {}, token=await token_for(other_phone)))["data"]
    assert theirs["myTransactions"]["totalCount"] == 0
    assert (await ledger.check()).ok
    assert user.id


async def test_one_key_replayed_100_times_20_concurrently_moves_money_once(client, app):
    """Architecture: money mutations are idempotent. On PostgreSQL the 20 concurrent
    replays really race (row locks, unique index); on SQLite they are serialized."""
    import asyncio

    user, _phone, token, card_id, _id = await _member_with_card(client, "Feng Yu")
    variables = {
        "amount": "12.34",
        "key": "race-key-0001",
        "channel": "AUTO_DEBIT",
        "card": card_id,
    }

    async def once() -> dict:
        return (await gql(client, DEPOSIT, variables, token=token))["data"]["deposit"]

    concurrent = await asyncio.gather(*(once() for _ in range(20)))
    sequential = [await once() for _ in range(80)]
    answers = concurrent + sequential

    started = [a for a in answers if a["__typename"] == "DepositStarted"]
    in_progress = [a for a in answers if a.get("code") == "IN_PROGRESS"]
    assert len(started) + len(in_progress) == 100
    assert len({a["deposit"]["id"] for a in started}) == 1
    assert all(a["__typename"] == "DepositStarted" for a in sequential)
    assert await PaymentInstruction.filter(kind="DEPOSIT").count() == 1
    assert await Journal.filter(kind="deposit_paid").count() == 1
    assert await ledger.balance(ledger.available(user.id)) == 1234
    assert (await ledger.check()).ok


async def test_a_t1_withdrawal_is_paid_on_the_next_business_day_of_the_clock(client, app):
    from services.payments.sandbox.common import next_business_day
    from services.platform import clock

    user, _phone, token, card_id, _id = await _member_with_card(client, "He Jun")
    await _deposit_paid(client, app, token, "100.00", "dep-key-0201")
    asked = (
        await gql(
            client,
            WITHDRAW,
            {"amount": "40.00", "card": card_id, "key": "wd-key-0201", "speed": "T1"},
            token=token,
        )
    )["data"]["withdraw"]
    await gql(
        client, CONFIRM, {"op": asked["operationId"], "code": await _last_code(client)}, token=token
    )
    sandbox = app.state.sandbox.sandbox

    assert await sandbox.settle() == []  # the provider's run of today pays nothing yet
    assert (await ledger.member_balances(user.id))["withdrawing"] == 4000

    today = await clock.today()
    await clock.advance(days=(next_business_day(today) - today).days)
    settled = await sandbox.settle()  # the provider's run of the next business day

    assert [result.amount_fen for result in settled] == [4000]
    assert await ledger.member_balances(user.id) == {
        "available": 6000,
        "frozen": 0,
        "withdrawing": 0,
    }


async def test_the_app_start_opens_the_platform_ledger_accounts_on_a_fresh_database(tmp_path):
    """A new platform's database has no ledger accounts: the lifespan makes the
    platform's and the outside world's, or the first deposit's callback could not post."""
    from app import create_app
    from models.ledger import LedgerAccount
    from services.kit.settings import get_settings

    await LedgerAccount.filter(code__in=list(ledger.PLATFORM_ACCOUNTS)).delete()
    settings = get_settings().model_copy(
        update={"sandbox_database": str(tmp_path / "sandbox-provider.sqlite3")}
    )
    application = create_app(settings, own_services=False)
    async with application.router.lifespan_context(application):
        codes = await LedgerAccount.filter(code__in=list(ledger.PLATFORM_ACCOUNTS)).values_list(
            "code", flat=True
        )
    assert sorted(codes) == sorted(ledger.PLATFORM_ACCOUNTS)
