"""Member e-mail (M5.5): `notifier.send_email` queues a message to the member's approved
address, the outbox sends it through a real local SMTP server, and no address is stored
in clear. No app here, so no dispatcher of the app's races the test's `dispatch_once`."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from models.credit import VerificationSubmission
from models.messaging import MessageChannel, MessageStatus, OutboxEvent, OutgoingMessage
from services import notifier, outbox
from services.clock import system_now
from services.settings import get_settings
from tests.factories import SmtpServer, approve_email, create_member, dump_all_tables

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
