"""Credit (M2): members' verification submissions and the files they uploaded."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
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
    reviews: fields.ReverseRelation[VerificationReview]

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


class ReviewDecision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    REQUEST_MORE = "REQUEST_MORE"


class VerificationReview(Model):
    """A credit officer's decision on a submission, with the reason the member is told.

    For kinds checked against an outside source, `external_check_id` names the report the
    decision was made with.
    """

    id = fields.BigIntField(primary_key=True)
    submission: fields.ForeignKeyRelation[VerificationSubmission] = fields.ForeignKeyField(
        "models.VerificationSubmission", related_name="reviews", on_delete=fields.RESTRICT
    )
    submission_id: int
    reviewer_id = fields.BigIntField()
    decision = fields.CharEnumField(ReviewDecision, max_length=16)
    reason = fields.CharField(max_length=500, default="")
    external_check_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "verification_reviews"


class SubjectType(StrEnum):
    PERSON = "PERSON"
    COMPANY = "COMPANY"


class CreditProfile(Model):
    """A member's score, grade and credit limit, and what they use of it (M2.4-M2.6, R1).

    The limit in force is derived: the grade's limit moved by repayment history (M2.5),
    raised to a temporary limit while one runs, zero while frozen (M2.6), and never above
    the R1 cap. `used_fen` is the principal of the member's loans not yet repaid (or
    requested and not yet failed), kept by the loans and repayments services.
    `explanation` keeps the last evaluation (score parts, reasons) for `myCredit`.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="credit_profile", on_delete=fields.RESTRICT
    )
    user_id: int
    subject_type = fields.CharEnumField(SubjectType, max_length=8, default=SubjectType.PERSON)
    score = fields.IntField(default=0)
    grade = fields.CharField(max_length=2, default="HR")
    grade_limit_fen = fields.BigIntField(default=0)
    limit_fen = fields.BigIntField(default=0)
    used_fen = fields.BigIntField(default=0)
    frozen = fields.BooleanField(default=False)
    frozen_reason = fields.CharField(max_length=255, default="")
    temp_limit_fen = fields.BigIntField(null=True)
    temp_limit_expires_on = fields.DateField(null=True)
    temp_limit_reason = fields.CharField(max_length=255, default="")
    on_time_count = fields.IntField(default=0)
    overdue_count = fields.IntField(default=0)
    explanation: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "credit_profiles"
        constraints = (
            CheckConstraint(
                check="used_fen >= 0 AND limit_fen >= 0", name="credit_amounts_not_negative"
            ),
        )


class CreditChangeKind(StrEnum):
    EVALUATED = "EVALUATED"  # a review changed the score, grade or limit
    ON_TIME = "ON_TIME"  # an installment repaid on time (M2.5)
    OVERDUE = "OVERDUE"  # an installment went overdue (M2.5)
    FROZEN = "FROZEN"  # by an officer, or by serious overdue (M2.6)
    UNFROZEN = "UNFROZEN"
    TEMPORARY_SET = "TEMPORARY_SET"  # a temporary limit on extra proof (M2.6)
    TEMPORARY_ENDED = "TEMPORARY_ENDED"  # it expired or was withdrawn
    PARAMETERS = "PARAMETERS"  # re-evaluated after the credit policy changed


class CreditLimitChange(Model):
    """One change of a member's credit standing: before and after, why, who (null: the
    platform's rules), and a unique event key so a repeated event is applied once."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="credit_changes", on_delete=fields.RESTRICT
    )
    user_id: int
    kind = fields.CharEnumField(CreditChangeKind, max_length=16)
    old_limit_fen = fields.BigIntField()
    new_limit_fen = fields.BigIntField()
    old_grade = fields.CharField(max_length=2)
    new_grade = fields.CharField(max_length=2)
    score = fields.IntField()
    reason = fields.CharField(max_length=500)
    actor_id = fields.BigIntField(null=True)
    event_key = fields.CharField(max_length=128, unique=True, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "credit_limit_changes"
