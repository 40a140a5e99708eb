"""Lending (R4): lenders' risk assessments and their confirmations of the risk notice."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class RiskTier(StrEnum):
    """A lender's risk tier, from the most cautious to the most risk-taking."""

    CONSERVATIVE = "CONSERVATIVE"
    STEADY = "STEADY"
    BALANCED = "BALANCED"
    GROWTH = "GROWTH"
    AGGRESSIVE = "AGGRESSIVE"


class RiskAssessment(Model):
    """A lender's answers to one version of the risk questionnaire, and the result.

    `answers` maps a question code to the option chosen. `created_at` and `valid_until`
    are business time, and the newest assessment still valid is the one in force.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="risk_assessments", on_delete=fields.RESTRICT
    )
    user_id: int
    questionnaire_version = fields.CharField(max_length=32)
    answers: fields.JSONField[dict[str, str]] = fields.JSONField()
    score = fields.IntField()
    tier = fields.CharEnumField(RiskTier, max_length=16)
    created_at = fields.DatetimeField()
    valid_until = fields.DatetimeField()

    confirmations: fields.ReverseRelation[RiskNoticeConfirmation]

    class Meta:
        table = "risk_assessments"
        indexes = (("user_id", "id"),)


class RiskNoticeConfirmation(Model):
    """A lender confirmed the risk notice of an assessment: which text, when, from where.

    `notice_sha256` is the SHA-256 of the exact text shown (UTF-8), which states the
    tier's lending cap and grades, so a later change of either needs a new confirmation.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="risk_notice_confirmations", on_delete=fields.RESTRICT
    )
    user_id: int
    assessment: fields.ForeignKeyRelation[RiskAssessment] = fields.ForeignKeyField(
        "models.RiskAssessment", related_name="confirmations", on_delete=fields.RESTRICT
    )
    assessment_id: int
    notice_version = fields.CharField(max_length=32)
    notice_sha256 = fields.CharField(max_length=64)
    confirmed_at = fields.DatetimeField()
    client_ip = fields.CharField(max_length=64, default="")

    class Meta:
        table = "risk_notice_confirmations"
        unique_together = (("assessment", "notice_sha256"),)
