"""External credit sources (M2.7): what an outside source answered about a member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class ExternalCheck(Model):
    """One answer of an external source (credit bureau, court, reputation, industry
    sharing) about a member, as fetched. `subject_lookup` is the keyed hash of the ID
    number that was looked up, never the number itself, and `result` holds no name or
    ID number.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="external_checks", on_delete=fields.RESTRICT
    )
    user_id: int
    source = fields.CharField(max_length=32)
    adapter = fields.CharField(max_length=64)
    subject_lookup = fields.CharField(max_length=64)
    result: fields.JSONField[dict[str, Any]] = fields.JSONField()
    fetched_at = fields.DatetimeField()  # business clock
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "external_checks"
        indexes = (("user_id", "source", "fetched_at"),)
