"""Credit (M2): members' verification submissions and the files they uploaded."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class VerificationStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    MORE_REQUESTED = "MORE_REQUESTED"


class VerificationSubmission(Model):
    """One submission of one verification kind by a member, as received.

    `field_values` maps a field name to {"value": ...} for ordinary fields and to
    {"cipher": ..., "masked": ...} for personal ones (`encrypt_pii`: "<kid>:..." AES-GCM).
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="verification_submissions", on_delete=fields.RESTRICT
    )
    user_id: int
    kind = fields.CharField(max_length=32, db_index=True)
    status = fields.CharEnumField(
        VerificationStatus, max_length=16, default=VerificationStatus.SUBMITTED
    )
    field_values: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    files: fields.ReverseRelation[MaterialFile]

    class Meta:
        table = "verification_submissions"


class MaterialFile(Model):
    """A file of a submission, hashed and signed by the platform when it arrived.

    The signature covers "<sha256>:<size>:<submission id>:<user id>", so a changed file
    (its hash no longer matches) and a changed record (the signature no longer holds)
    are both detectable.
    """

    id = fields.BigIntField(primary_key=True)
    submission: fields.ForeignKeyRelation[VerificationSubmission] = fields.ForeignKeyField(
        "models.VerificationSubmission", related_name="files", on_delete=fields.RESTRICT
    )
    submission_id: int
    storage_key = fields.CharField(max_length=64, unique=True)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    signature = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "material_files"
