"""People who use the platform: members (borrowers and lenders) and staff."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UserKind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"


class UserStatus(StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    CLOSED = "closed"


class User(Model):
    """A login. The phone number is stored encrypted, `phone_lookup` is its keyed hash."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(UserKind, max_length=16)
    status = fields.CharEnumField(UserStatus, max_length=16, default=UserStatus.ACTIVE)
    phone_lookup = fields.CharField(max_length=64, unique=True)
    phone_cipher = fields.TextField()
    phone_masked = fields.CharField(max_length=32)
    display_name = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=255)
    failed_logins = fields.IntField(default=0)
    login_locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"
