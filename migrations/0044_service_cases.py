"""Service cases (issue 22, M5.3): cases, their append-only messages and attached files."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.cases import CaseKind, CaseStatus, EntryKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    dependencies = [("models", "0043_data_deletion_requests")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ServiceCase",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("member_id", fields.BigIntField(db_index=True)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="ENQUIRY: ENQUIRY\nCOMPLAINT: COMPLAINT\nDISPUTE: DISPUTE\nDATA_REQUEST: DATA_REQUEST",
                        enum_type=CaseKind,
                        max_length=16,
                    ),
                ),
                ("subject", fields.CharField(max_length=200)),
                (
                    "status",
                    fields.CharEnumField(
                        default=CaseStatus.OPEN,
                        description="OPEN: OPEN\nANSWERED: ANSWERED\nCLOSED: CLOSED",
                        enum_type=CaseStatus,
                        max_length=16,
                    ),
                ),
                ("level", fields.IntField(default=1)),
                ("assignee_id", fields.BigIntField(null=True, db_index=True)),
                ("loan_id", fields.BigIntField(null=True)),
                ("movement_id", fields.BigIntField(null=True)),
                ("opened_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "waiting_since",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("warn_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "due_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                ("warned_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "breached_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("breaches", fields.IntField(default=0)),
                (
                    "first_answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("first_answer_seconds", fields.BigIntField(null=True)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("resolution", fields.TextField(default="", unique=False)),
                ("reopened", fields.IntField(default=0)),
                ("rating", fields.IntField(null=True)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "service_cases",
                "app": "models",
                "constraints": [
                    CheckConstraint(check="level IN (1, 2)", name="service_case_level"),
                    CheckConstraint(
                        check="rating IS NULL OR (rating >= 1 AND rating <= 5)",
                        name="service_case_rating",
                    ),
                ],
                "pk_attr": "id",
                "table_description": "A case: whose, what kind, where it stands, and its SLA clock.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CaseMessage",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "models.ServiceCase",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "entry",
                    fields.CharEnumField(
                        description="MEMBER: MEMBER\nSTAFF: STAFF\nACTION: ACTION",
                        enum_type=EntryKind,
                        max_length=8,
                    ),
                ),
                ("author_id", fields.BigIntField()),
                ("text", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "service_case_messages",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One entry of a case's history, in the order written. Append-only: nothing in the",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CaseAttachment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "models.ServiceCase",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attachments",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "message",
                    fields.ForeignKeyField(
                        "models.CaseMessage",
                        source_field="message_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attachments",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("storage_key", fields.CharField(unique=True, max_length=64)),
                ("filename", fields.CharField(max_length=255)),
                ("content_type", fields.CharField(max_length=100)),
                ("size", fields.BigIntField()),
                ("sha256", fields.CharField(max_length=64)),
                ("signature", fields.CharField(max_length=128)),
                ("uploaded_by", fields.BigIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "service_case_attachments",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A file sent with a case's message, stored, hashed and signed as it arrived over",
            },
            bases=["Model"],
        ),
    ]
