"""Service cases (issue 22, M5.3): a member's enquiry, complaint, dispute or data request,
its messages (kept, never edited or deleted: R6) and its attached files."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class CaseKind(StrEnum):
    ENQUIRY = "ENQUIRY"
    COMPLAINT = "COMPLAINT"
    DISPUTE = "DISPUTE"  # about a movement of money or a loan
    DATA_REQUEST = "DATA_REQUEST"  # the member's own data (a copy, a correction, deletion)


class CaseStatus(StrEnum):
    OPEN = "OPEN"  # waiting for the platform: the SLA clock runs
    ANSWERED = "ANSWERED"  # staff answered, waiting for the member: the clock stops
    CLOSED = "CLOSED"  # closed with a resolution


class EntryKind(StrEnum):
    MEMBER = "MEMBER"  # the member wrote it
    STAFF = "STAFF"  # a staff member answered
    ACTION = "ACTION"  # what staff or the member did (assigned, escalated, closed...)


class ServiceCase(Model):
    """A case: whose, what kind, where it stands, and its SLA clock.

    `due_at` is when the current wait for the platform breaches its SLA (the kind's
    hours from the moment it started waiting, `waiting_since`), `warn_at` when it comes
    near (cases.slaWarning of those hours), `warned_at` and `breached_at` when the
    SLA job noticed the wait near and past it (reset when a new wait starts), so each
    is notified once per wait.
    """

    id = fields.BigIntField(primary_key=True)
    member_id = fields.BigIntField(db_index=True)
    kind = fields.CharEnumField(CaseKind, max_length=16)
    subject = fields.CharField(max_length=200)
    status = fields.CharEnumField(CaseStatus, max_length=16, default=CaseStatus.OPEN)
    level = fields.IntField(default=1)  # 2 once escalated
    assignee_id = fields.BigIntField(null=True, db_index=True)
    loan_id = fields.BigIntField(null=True)
    movement_id = fields.BigIntField(null=True)  # a ledger posting of the member's
    opened_at = fields.DatetimeField()
    waiting_since = fields.DatetimeField(null=True)
    warn_at = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True, db_index=True)
    warned_at = fields.DatetimeField(null=True)
    breached_at = fields.DatetimeField(null=True)
    breaches = fields.IntField(default=0)
    first_answered_at = fields.DatetimeField(null=True)
    first_answer_seconds = fields.BigIntField(null=True)  # opened to first staff answer
    closed_at = fields.DatetimeField(null=True)
    resolution = fields.TextField(default="")
    reopened = fields.IntField(default=0)
    rating = fields.IntField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "service_cases"
        constraints = (
            CheckConstraint(check="level IN (1, 2)", name="service_case_level"),
            CheckConstraint(
                check="rating IS NULL OR (rating >= 1 AND rating <= 5)",
                name="service_case_rating",
            ),
        )


class CaseMessage(Model):
    """One entry of a case's history, in the order written. Append-only: nothing in the
    code updates or deletes these rows (R6 keeps interaction logs five years after the
    member's last loan ends)."""

    id = fields.BigIntField(primary_key=True)
    case: fields.ForeignKeyRelation[ServiceCase] = fields.ForeignKeyField(
        "models.ServiceCase", related_name="messages", on_delete=fields.RESTRICT
    )
    case_id: int
    entry = fields.CharEnumField(EntryKind, max_length=8)
    author_id = fields.BigIntField()
    text = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "service_case_messages"


class CaseAttachment(Model):
    """A file sent with a case's message, stored, hashed and signed as it arrived over
    "<sha256>:<size>:case:<case id>:<uploader id>"."""

    id = fields.BigIntField(primary_key=True)
    case: fields.ForeignKeyRelation[ServiceCase] = fields.ForeignKeyField(
        "models.ServiceCase", related_name="attachments", on_delete=fields.RESTRICT
    )
    case_id: int
    message: fields.ForeignKeyRelation[CaseMessage] = fields.ForeignKeyField(
        "models.CaseMessage", related_name="attachments", on_delete=fields.RESTRICT
    )
    message_id: int
    storage_key = fields.CharField(max_length=64, unique=True)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    signature = fields.CharField(max_length=128)
    uploaded_by = fields.BigIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "service_case_attachments"
