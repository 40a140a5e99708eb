"""Customer service's side of a member account: status changes with their reasons (M5.2),
members' deletion requests with their answers (R6)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.members import User, UserStatus


class StatusChangeState(StrEnum):
    PENDING = "PENDING"  # proposed, waiting for a second person (maker-checker)
    APPLIED = "APPLIED"  # the account has the new status
    REJECTED = "REJECTED"  # the second person said no
    SUPERSEDED = "SUPERSEDED"  # another change was applied first (a lock, say)


class AccountStatusChange(Model):
    """One change of a member account's status, proposed by one staff member with a
    reason. A lock applies at once (the proposer alone). Activating a locked account and
    closing one give the member's money back into their hands or end the custody account,
    so a second person with the same permission applies or rejects them."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="status_changes", on_delete=fields.RESTRICT
    )
    user_id: int
    from_status = fields.CharEnumField(UserStatus, max_length=16)
    to_status = fields.CharEnumField(UserStatus, max_length=16)
    reason = fields.CharField(max_length=255)
    state = fields.CharEnumField(StatusChangeState, max_length=16)
    proposed_by_id = fields.BigIntField()
    decided_by_id = fields.BigIntField(null=True)
    decision_reason = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_status_changes"
        indexes = (("user_id", "id"),)


class DataDeletionRequest(Model):
    """A member asked for their data to be deleted, and the answer they were given: what
    R6 keeps and until when (`services/customers/member_data.py`)."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="deletion_requests", on_delete=fields.RESTRICT
    )
    user_id: int
    reason = fields.CharField(max_length=500, default="")
    answer = fields.TextField()
    loans_running = fields.BooleanField()
    retained_until = fields.DateField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "data_deletion_requests"
