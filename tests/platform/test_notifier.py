"""Member e-mail (M5.5): `notifier.send_email` queues a message to the member's approved
address, the outbox sends it through a real local SMTP server, and no address is stored
in clear. SMS: `notifier.send_sms` queues a message to a phone number (stored only
encrypted), and the outbox POSTs it to the HTTP SMS gateway (an httpx.MockTransport
here). No app here, so no dispatcher of the app's races the test's `dispatch_once`
(except in the one test that checks the app's lifespan installs the gateway, which
queues nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tortoise.transactions import in_transaction

from app import create_app
from models.credit import VerificationSubmission
from models.messaging import MessageChannel, MessageStatus, OutboxEvent, OutgoingMessage
from services.kit.security import decrypt_pii, lookup_hash
from services.kit.settings import Environment, get_settings
from services.platform import notifier, outbox
from services.platform.clock import system_now
from services.platform.notifier import HttpSmsGateway, LogSmsProvider
from tests.factories import (
    SmtpServer,
    approve_email,
    create_member,
    dump_all_tables,
    new_phone,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADDRESS = "borrower.member@example.com"
SUBJECT = "Repayment due on 2025-03-01"
TEXT = "Installment 1 of loan 7: 1010.37 is due on 2025-03-01."


async def _queue(user_id: int) -> OutgoingMessage | None:
    async with in_transaction():
        return await notifier.send_email(user_id=user_id, subject=SUBJECT, text=TEXT)


async def _status(message: OutgoingMessage) -> MessageStatus:
    return (await OutgoingMessage.get(id=message.id)).status


async def test_an_email_reaches_the_members_address_and_is_stored_only_masked():
    user, _phone = await create_member()
    await approve_email(user.id, ADDRESS)

    with SmtpServer() as server:
        message = await _queue(user.id)
        assert message is not None
        assert (message.channel, message.recipient_masked, message.subject, message.status) == (
            MessageChannel.EMAIL,
            "b***@example.com",
            SUBJECT,
            MessageStatus.PENDING,
        )
        await outbox.dispatch_once()

    [received] = server.messages
    assert received["To"] == ADDRESS
    assert received["From"] == get_settings().smtp_from
    assert received["Subject"] == SUBJECT
    assert received.get_content().strip() == TEXT
    assert await _status(message) == MessageStatus.SENT
    # Handled once: another pass sends nothing more.
    await outbox.dispatch_once()
    assert len(server.messages) == 1
    # The address is in no table in clear (the verification holds it encrypted).
    dump = await dump_all_tables()
    assert ADDRESS not in dump
    assert "b***@example.com" in dump


async def test_a_member_without_an_approved_address_gets_no_email():
    user, _phone = await create_member()
    events = await OutboxEvent.all().count()

    assert await _queue(user.id) is None

    assert not await OutgoingMessage.filter(channel=MessageChannel.EMAIL).exists()
    assert await OutboxEvent.all().count() == events


async def test_an_email_is_not_sent_once_its_address_was_changed_or_withdrawn():
    user, _phone = await create_member()
    await approve_email(user.id, ADDRESS)

    with SmtpServer() as server:
        # Changed between queueing and sending: the old address gets nothing.
        changed = await _queue(user.id)
        assert changed is not None
        await approve_email(user.id, "new.address@example.org")
        await outbox.dispatch_once()
        assert await _status(changed) == MessageStatus.FAILED
        assert server.messages == []

        # What is queued now goes to the new address.
        await _queue(user.id)
        await outbox.dispatch_once()
        assert [m["To"] for m in server.messages] == ["new.address@example.org"]

        # Withdrawn (no approved address any more): not sent either.
        withdrawn = await _queue(user.id)
        assert withdrawn is not None
        await VerificationSubmission.filter(user_id=user.id, kind="EMAIL").update(status="REJECTED")
        await outbox.dispatch_once()
        assert await _status(withdrawn) == MessageStatus.FAILED
        assert len(server.messages) == 1


async def test_a_refused_email_is_tried_again_by_the_outbox():
    user, _phone = await create_member()
    await approve_email(user.id, ADDRESS)

    with SmtpServer(refuse=1) as server:
        message = await _queue(user.id)
        assert message is not None
        await outbox.dispatch_once()  # 451 from the server: the event stays unpublished
        assert await _status(message) == MessageStatus.PENDING
        [event] = await OutboxEvent.filter(topic=notifier.SEND_TOPIC, published_at__isnull=True)
        assert event.attempts == 1
        assert event.next_attempt_at is not None
        assert server.messages == []

        await outbox.dispatch_once()  # within the backoff: not tried again yet
        assert (await OutboxEvent.get(id=event.id)).attempts == 1
        await OutboxEvent.filter(id=event.id).update(next_attempt_at=system_now())
        await outbox.dispatch_once()

    assert await _status(message) == MessageStatus.SENT
    assert [m["To"] for m in server.messages] == [ADDRESS]


# --- SMS -------------------------------------------------------------------------------

GATEWAY_URL = "https://sms.example.com/v1/messages"
GATEWAY_KEY = "sms-gateway-test-key-0123456789"
SMS_TEXT = "[LendBridge] Your registration code is 402917. It expires in 5 minutes."


class FakeGateway:
    """The gateway's side of HTTP (the handler of an httpx.MockTransport): records every
    request and answers with the next of `answers` (an HTTP status, or an exception to
    raise as the network would), then 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: list[int | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"accepted": answer == 200})

    def bodies(self) -> list[dict[str, str]]:
        return [json.loads(request.content) for request in self.requests]


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """HttpSmsGateway installed, speaking to a FakeGateway; the log provider afterwards."""
    fake = FakeGateway()
    transport = httpx.MockTransport(fake)
    notifier.set_sms_provider(HttpSmsGateway(GATEWAY_URL, GATEWAY_KEY, 5.0, transport=transport))
    try:
        yield fake
    finally:
        notifier.set_sms_provider(LogSmsProvider())


async def _queue_sms(phone: str, text: str = SMS_TEXT) -> OutgoingMessage:
    async with in_transaction():
        return await notifier.send_sms(phone=phone, text=text)


async def test_an_sms_is_posted_to_the_gateway_once_and_the_phone_kept_encrypted_until_sent(
    gateway,
):
    phone = new_phone()  # a registration code: the number belongs to no member yet

    message = await _queue_sms(phone)
    assert (message.channel, message.provider, message.status) == (
        MessageChannel.SMS,
        "http",
        MessageStatus.PENDING,
    )
    assert gateway.requests == []  # nothing is sent before the outbox runs
    await outbox.dispatch_once()

    [request] = gateway.requests
    assert (request.method, str(request.url)) == ("POST", GATEWAY_URL)
    assert request.headers["authorization"] == f"Bearer {GATEWAY_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert gateway.bodies() == [{"to": phone, "text": SMS_TEXT, "reference": str(message.id)}]
    assert await _status(message) == MessageStatus.SENT
    # Handled once: another pass sends nothing more.
    await outbox.dispatch_once()
    assert len(gateway.requests) == 1

    # Until it was sent the number was stored encrypted only; once sent it is gone, the
    # lookup hash and the masked copy stay, and it is in no table in clear.
    assert decrypt_pii(message.recipient_cipher) == phone
    stored = await OutgoingMessage.get(id=message.id)
    assert stored.recipient_cipher == ""
    assert stored.recipient_lookup == lookup_hash(phone)
    dump = await dump_all_tables()
    assert phone not in dump
    assert f"{phone[:3]}****{phone[-4:]}" in dump


async def test_outside_dev_and_test_a_sent_code_is_masked_in_the_record(gateway, monkeypatch):
    prod_like = get_settings().model_copy(update={"app_env": Environment.PROD})
    monkeypatch.setattr(notifier, "get_settings", lambda: prod_like)
    message = await _queue_sms(new_phone(), text="[LendBridge] Code 493817 confirms it.")
    await outbox.dispatch_once()
    assert gateway.bodies()[0]["text"] == "[LendBridge] Code 493817 confirms it."
    stored = await OutgoingMessage.get(id=message.id)
    assert (stored.status, stored.body) == (
        MessageStatus.SENT,
        "[LendBridge] Code ****** confirms it.",
    )
    assert "493817" not in await dump_all_tables()


@pytest.mark.parametrize(
    "failure",
    [500, 401, httpx.ConnectError("connection refused")],
    ids=["500", "401", "unreachable"],
)
async def test_a_refused_sms_is_tried_again_after_the_backoff(gateway, failure, caplog):
    phone = new_phone()
    gateway.answers = [failure]
    message = await _queue_sms(phone)

    await outbox.dispatch_once()  # refused: the event stays unpublished
    assert await _status(message) == MessageStatus.PENDING
    [event] = await OutboxEvent.filter(topic=notifier.SEND_TOPIC, published_at__isnull=True)
    assert event.attempts == 1
    assert event.next_attempt_at is not None
    assert event.next_attempt_at > system_now()
    assert len(gateway.requests) == 1

    await outbox.dispatch_once()  # within the backoff: not tried again yet
    assert len(gateway.requests) == 1
    await OutboxEvent.filter(id=event.id).update(next_attempt_at=system_now())
    await outbox.dispatch_once()

    assert await _status(message) == MessageStatus.SENT
    assert (await OutboxEvent.get(id=event.id)).published_at is not None
    # The same message twice, with the same reference, so the gateway can tell.
    assert gateway.bodies() == [{"to": phone, "text": SMS_TEXT, "reference": str(message.id)}] * 2
    # The failure was logged, with the number masked only.
    assert "outbox event" in caplog.text
    assert phone not in caplog.text


async def test_an_sms_queued_without_a_stored_number_is_failed_not_sent(gateway):
    # Rows written before numbers were stored (migration 0019) have none to send to.
    message = await _queue_sms(new_phone())
    await OutgoingMessage.filter(id=message.id).update(recipient_cipher="")

    await outbox.dispatch_once()

    assert await _status(message) == MessageStatus.FAILED
    assert gateway.requests == []
    assert not await OutboxEvent.filter(published_at__isnull=True).exists()


async def test_the_log_provider_sends_nowhere_but_marks_the_sms_sent(caplog):
    phone = new_phone()
    caplog.set_level("INFO", logger="services.platform.notifier")
    message = await _queue_sms(phone)
    assert message.provider == "log"

    await outbox.dispatch_once()

    assert await _status(message) == MessageStatus.SENT
    assert f"sms to {phone[:3]}****{phone[-4:]}: message {message.id}" in caplog.text
    assert phone not in caplog.text


async def test_install_sms_gateway_follows_the_settings():
    configured = get_settings().model_copy(
        update={
            "sms_gateway_url": GATEWAY_URL,
            "sms_gateway_key": GATEWAY_KEY,
            "sms_gateway_timeout_seconds": 3.5,
        }
    )
    try:
        # Without SMS_GATEWAY_URL (the test settings) the current provider stays.
        kept = notifier.sms_provider()
        assert notifier.install_sms_gateway(get_settings()) is kept
        assert notifier.sms_provider() is kept

        assert notifier.install_sms_gateway(configured) is kept
        installed = notifier.sms_provider()
        assert isinstance(installed, HttpSmsGateway)
        assert (installed.url, installed.timeout) == (GATEWAY_URL, 3.5)
    finally:
        notifier.set_sms_provider(LogSmsProvider())


async def test_the_apps_lifespan_installs_the_gateway_while_it_runs(database, tmp_path: Path):
    settings = get_settings().model_copy(
        update={
            "sandbox_database": str(tmp_path / "sandbox-provider.sqlite3"),
            "sms_gateway_url": GATEWAY_URL,
            "sms_gateway_key": GATEWAY_KEY,
        }
    )
    application = create_app(settings, own_services=False)
    before = notifier.sms_provider()
    assert isinstance(before, LogSmsProvider)
    try:
        async with application.router.lifespan_context(application):
            running = notifier.sms_provider()
            assert isinstance(running, HttpSmsGateway)
            assert running.url == GATEWAY_URL
        # Stopped: the provider it replaced is back.
        assert notifier.sms_provider() is before
    finally:
        notifier.set_sms_provider(LogSmsProvider())
