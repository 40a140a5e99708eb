"""SMS codes, outgoing messages, in-app notices and the transactional event outbox."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class SmsPurpose(StrEnum):
    REGISTER = "register"
    LOGIN = "login"
    RESET_PASSWORD = "reset_password"
    CONFIRM_OPERATION = "confirm_operation"


class SmsCode(Model):
    """A one-time code. Only its hash is stored, and `binding` ties it to one operation."""

    id = fields.BigIntField(primary_key=True)
    phone_lookup = fields.CharField(max_length=64, db_index=True)
    purpose = fields.CharEnumField(SmsPurpose, max_length=32)
    binding = fields.CharField(max_length=128, default="")
    code_hash = fields.CharField(max_length=64)
    attempts = fields.IntField(default=0)
    expires_at = fields.DatetimeField()
    consumed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sms_codes"


class MessageChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutgoingMessage(Model):
    """Every SMS and e-mail the notifier sends, with what the provider said."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharEnumField(MessageChannel, max_length=8)
    recipient_lookup = fields.CharField(max_length=64, db_index=True)
    recipient_masked = fields.CharField(max_length=128)
    # SMS: the phone number, encrypted (`encrypt_pii`), for the gateway at send time.
    # Empty for e-mail, whose address is read again from the member when it is sent.
    recipient_cipher = fields.TextField(default="", db_default="")
    subject = fields.CharField(max_length=255, default="")
    body = fields.TextField()
    status = fields.CharEnumField(MessageStatus, max_length=16, default=MessageStatus.PENDING)
    provider = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outgoing_messages"


class Notice(Model):
    """An in-app notice for one user, pushed by the `notifications` subscription."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notices"
    )
    kind = fields.CharField(max_length=64)
    title = fields.CharField(max_length=255)
    body = fields.TextField()
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notices"


class OutboxEvent(Model):
    """Written in the business transaction, published to the broker after commit."""

    id = fields.BigIntField(primary_key=True)
    topic = fields.CharField(max_length=128)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    published_at = fields.DatetimeField(null=True, db_index=True)
    attempts = fields.IntField(default=0)
    # After a failed attempt, not tried again before this time (backoff).
    next_attempt_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_events"
