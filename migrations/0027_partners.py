import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """Partners (issue 18): API keys stored hashed, allow-listed operation sets, usage
    per business day; each manifest version keeps its sets."""

    dependencies = [("models", "0026_provider_account_id_lookup")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Partner",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("code", fields.CharField(unique=True, max_length=32)),
                ("name", fields.CharField(max_length=128)),
                (
                    "operation_sets",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("rate_per_minute", fields.IntField()),
                ("daily_quota", fields.IntField()),
                ("status", fields.CharField(default="active", max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "partners", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PartnerKey",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "partner",
                    fields.ForeignKeyField(
                        "models.Partner",
                        source_field="partner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="keys",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("key_id", fields.CharField(unique=True, max_length=16)),
                ("key_hash", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "partner_keys",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "One API key: `lbp_<key_id>_<secret>`. Only the SHA-256 of the whole key "
                    "is kept"
                ),
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PartnerUsage",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "partner",
                    fields.ForeignKeyField(
                        "models.Partner",
                        source_field="partner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="usage",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("day", fields.DateField()),
                ("operation", fields.CharField(max_length=64)),
                ("outcome", fields.CharField(max_length=48)),
                ("count", fields.BigIntField(default=0)),
            ],
            options={
                "table": "partner_usage",
                "app": "models",
                "unique_together": (("partner_id", "day", "operation", "outcome"),),
                "pk_attr": "id",
                "table_description": (
                    "Requests of one partner on one business day, per operation and outcome "
                    "(`ok` or"
                ),
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="PersistedManifest",
            name="sets",
            field=fields.JSONField(
                default=dict,
                db_default="{}",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
    ]
