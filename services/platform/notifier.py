"""SMS, e-mail and in-app notices through provider adapters (M5.4, M5.5).

Messages are written to `outgoing_messages` in the caller's transaction together with an
outbox event `message.send`; the provider is called after commit by the outbox dispatcher.

SMS go to a phone number, which may belong to no member yet (registration codes): the
row keeps it encrypted (`recipient_cipher`, rotated by `rotate-pii`) besides its lookup
hash and masked copy, and it is decrypted only to hand it to the provider; once the
message is out the number is blanked and, outside dev and test, the one-time code in the
text masked (`_minimized`). With
SMS_GATEWAY_URL set, the processes that dispatch the outbox (the API, the worker) send
through `HttpSmsGateway`; a refused or unreachable gateway raises and the outbox tries
again after its backoff. Otherwise (dev and test; prod refuses to start without it) the
SMS provider only writes a log line (recipient masked), so `devOutbox` can show the text.

E-mail goes to a member, not to an address: `send_email(user_id=...)` looks up their
address (`services.platform.mailer.email_address`, the newest approved EMAIL verification) and
queues nothing for a member without one. The row keeps the address only as a lookup hash
and a masked copy; when the message is delivered the address is read again, and a message
whose member has changed or lost that address since is marked FAILED and not sent, so
mail never goes to an address the member has given up. A refused or unreachable SMTP
server raises, and the outbox tries the event again after its backoff (`outbox.backoff`,
up to `outbox.MAX_ATTEMPTS`; after that the message stays PENDING).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from models.members import User
from models.messaging import MessageChannel, MessageStatus, Notice, OutgoingMessage
from services.kit.db import insert_with_ids
from services.kit.security import decrypt_pii, encrypt_pii, lookup_hash, mask_email, mask_phone
from services.kit.settings import Settings, get_settings
from services.platform import outbox
from services.platform.mailer import email_address, get_mailer, new_message

logger = logging.getLogger(__name__)

SEND_TOPIC = "message.send"
EMAIL_PROVIDER = "smtp"


class SmsProvider(Protocol):
    """Hands one SMS to whoever delivers it. `phone` is the decrypted number, only for
    the delivery itself; anything logged uses `phone_masked`. Raising means "not sent":
    the outbox tries the message again after its backoff."""

    name: str

    async def send(self, *, phone: str, phone_masked: str, message: OutgoingMessage) -> None: ...


class LogSmsProvider:
    """Dev/test: the message stays in the outbox table; a log line records it was sent."""

    name = "log"

    async def send(self, *, phone: str, phone_masked: str, message: OutgoingMessage) -> None:
        logger.info("sms to %s: message %s", phone_masked, message.id)


class SmsGatewayError(RuntimeError):
    """The SMS gateway did not accept a message (an HTTP status other than 2xx)."""


class HttpSmsGateway:
    """An SMS gateway reached over HTTP: POST {"to", "text", "reference"} (the reference
    is the message id, so the gateway can drop a resent duplicate) with a bearer key.

    Anything but a 2xx answer raises, and so do network errors and the timeout: the
    outbox then retries. `transport` replaces the network (tests: httpx.MockTransport).
    """

    name = "http"

    def __init__(
        self,
        url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._api_key = api_key
        self._transport = transport

    async def send(self, *, phone: str, phone_masked: str, message: OutgoingMessage) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client:
            response = await client.post(
                self.url,
                json={"to": phone, "text": message.body, "reference": str(message.id)},
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        if not response.is_success:
            # Neither the answer's body nor the number: the error is logged.
            raise SmsGatewayError(
                f"SMS gateway answered HTTP {response.status_code} "
                f"for message {message.id} to {phone_masked}"
            )


_provider: SmsProvider = LogSmsProvider()


def set_sms_provider(provider: SmsProvider) -> None:
    global _provider
    _provider = provider


def sms_provider() -> SmsProvider:
    """The provider SMS are handed to now."""
    return _provider


def install_sms_gateway(settings: Settings) -> SmsProvider:
    """At process start (the API's lifespan, the worker): with SMS_GATEWAY_URL set, send
    SMS through HttpSmsGateway; otherwise keep the current provider (the log one).
    Returns the provider it replaced, for the caller to put back when it stops."""
    previous = _provider
    if settings.sms_gateway_url:
        set_sms_provider(
            HttpSmsGateway(
                settings.sms_gateway_url,
                settings.sms_gateway_key or "",
                settings.sms_gateway_timeout_seconds,
            )
        )
    return previous


async def send_sms(*, phone: str, text: str) -> OutgoingMessage:
    """Queue an SMS to `phone` (sent after the caller's transaction commits). The number
    is stored encrypted for the gateway, besides its lookup hash and masked copy."""
    message = await OutgoingMessage.create(
        channel=MessageChannel.SMS,
        recipient_lookup=lookup_hash(phone),
        recipient_masked=mask_phone(phone),
        recipient_cipher=encrypt_pii(phone),
        body=text,
        provider=_provider.name,
    )
    await outbox.enqueue(SEND_TOPIC, {"message_id": message.id})
    return message


async def send_email(*, user_id: int, subject: str, text: str) -> OutgoingMessage | None:
    """Queue a plain-text e-mail to the member's address (sent after the caller's
    transaction commits). None, and nothing queued, when they have no approved address."""
    address = await email_address(user_id)
    if address is None:
        logger.debug("user %s has no e-mail address: %r not e-mailed", user_id, subject)
        return None
    message = await OutgoingMessage.create(
        channel=MessageChannel.EMAIL,
        recipient_lookup=lookup_hash(address),
        recipient_masked=mask_email(address),
        subject=subject,
        body=text,
        provider=EMAIL_PROVIDER,
    )
    await outbox.enqueue(SEND_TOPIC, {"message_id": message.id, "user_id": user_id})
    return message


async def _email(message: OutgoingMessage, user_id: int) -> bool:
    """Send the e-mail to the member's current address; False, without sending, when
    that is no longer the address it was queued for (changed or withdrawn)."""
    address = await email_address(user_id)
    if address is None or lookup_hash(address) != message.recipient_lookup:
        logger.info("e-mail %s not sent: the member's address changed", message.id)
        return False
    email = new_message(to=address, subject=message.subject)
    email.set_content(message.body)
    await get_mailer().send(email)
    return True


async def _sms(message: OutgoingMessage) -> bool:
    """Send the SMS to its number, decrypted only for this call; False, without sending,
    for a row queued before numbers were stored (it has no number to send to)."""
    if not message.recipient_cipher:
        logger.warning("sms %s not sent: no recipient stored", message.id)
        return False
    await _provider.send(
        phone=decrypt_pii(message.recipient_cipher),
        phone_masked=message.recipient_masked,
        message=message,
    )
    return True


async def _deliver(payload: dict[str, Any]) -> None:
    """The outbox handler of `message.send`: hand a PENDING message to its channel and
    record the outcome. A provider error propagates, so the outbox tries again."""
    message = await OutgoingMessage.get_or_none(id=payload["message_id"])
    if message is None or message.status != MessageStatus.PENDING:
        return
    if message.channel == MessageChannel.EMAIL:
        sent = await _email(message, int(payload["user_id"]))
    else:
        sent = await _sms(message)
    message.status = MessageStatus.SENT if sent else MessageStatus.FAILED
    await message.save(update_fields=["status", *_minimized(message)])


# A one-time code in a message text (the codes are 6 digits).
_ONE_TIME_CODE = re.compile(r"\b\d{6}\b")


def _minimized(message: OutgoingMessage) -> list[str]:
    """Once a message is out, the row keeps what the record needs and no more: the
    encrypted number goes (the lookup hash and masked copy stay), and outside dev and
    test the one-time code in the text is masked, so a reader of the table can neither
    text the member nor use a code. Returns the fields changed."""
    message.recipient_cipher = ""
    changed = ["recipient_cipher"]
    if not get_settings().dev_tools_enabled:
        message.body = _ONE_TIME_CODE.sub("******", message.body)
        changed.append("body")
    return changed


outbox.register_handler(SEND_TOPIC, _deliver)


def notices_channel(user_id: int) -> str:
    return f"notices.{user_id}"


async def notify(*, user: User | int, kind: str, title: str, body: str) -> Notice:
    """Create an in-app notice; the `notifications` subscription pushes it after commit."""
    user_id = user if isinstance(user, int) else user.id
    notice = await Notice.create(user_id=user_id, kind=kind, title=title, body=body)
    await outbox.enqueue(
        notices_channel(user_id), _pushed(notice.id, kind, title, body, notice.created_at)
    )
    return notice


def _pushed(notice_id: int, kind: str, title: str, body: str, at: datetime) -> dict[str, Any]:
    """What the `notifications` subscription pushes of a notice."""
    return {
        "id": notice_id,
        "kind": kind,
        "title": title,
        "body": body,
        "created_at": at.isoformat(),
    }


async def notify_many(notices: Sequence[tuple[int, str, str, str]]) -> None:
    """`notify` for several (user id, kind, title, body) at once: the notices in one
    statement, their pushes in another (a day's repayment batch)."""
    if not notices:
        return
    now = datetime.now(UTC)
    ids = await insert_with_ids(
        Notice,
        [
            ("user_id", "bigint"),
            ("kind", "text"),
            ("title", "text"),
            ("body", "text"),
            ("created_at", "timestamptz"),
        ],
        [(user_id, kind, title, body, now) for user_id, kind, title, body in notices],
    )
    await outbox.enqueue_fanout(
        [
            (notices_channel(user_id), _pushed(notice_id, kind, title, body, now))
            for notice_id, (user_id, kind, title, body) in zip(ids, notices, strict=True)
        ]
    )


async def latest_messages(*, limit: int = 20) -> list[OutgoingMessage]:
    """Dev/test only (the API hides it in prod): the newest outgoing messages."""
    if not get_settings().dev_tools_enabled:
        return []
    return await OutgoingMessage.all().order_by("-id").limit(limit)
