"""Roles, their permissions and who holds them (edited at run time), and refresh tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class Role(Model):
    name = fields.CharField(max_length=32, primary_key=True)
    description = fields.CharField(max_length=255, default="")
    is_staff = fields.BooleanField(default=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "roles"


class RolePermission(Model):
    id = fields.BigIntField(primary_key=True)
    role: fields.ForeignKeyRelation[Role] = fields.ForeignKeyField(
        "models.Role", related_name="grants", on_delete=fields.CASCADE
    )
    permission = fields.CharField(max_length=64)

    class Meta:
        table = "role_permissions"
        unique_together = (("role", "permission"),)


class UserRole(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="role_links", on_delete=fields.CASCADE
    )
    role: fields.ForeignKeyRelation[Role] = fields.ForeignKeyField(
        "models.Role", related_name="user_links", on_delete=fields.CASCADE
    )

    class Meta:
        table = "user_roles"
        unique_together = (("user", "role"),)


class RefreshToken(Model):
    """One issued refresh token. Tokens of one login form a family, and reuse revokes it."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens"
    )
    family_id = fields.UUIDField(db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_tokens"


class RevokedAccessToken(Model):
    """Access tokens revoked by logout before they expire (kept until their expiry)."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "revoked_access_tokens"
