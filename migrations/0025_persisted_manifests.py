from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    """Persisted queries (issue 18): each loaded manifest of trusted documents is a
    version, the newest one live in every API process."""

    dependencies = [("models", "0024_operation_log_pruning")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PersistedManifest",
            fields=[
                (
                    "version",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("sha256", fields.CharField(max_length=64)),
                ("operations", fields.JSONField()),
                ("loaded_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "persisted_manifests",
                "app": "models",
                "pk_attr": "version",
                "table_description": "One loaded version of the persisted-query manifest (trusted documents). The newest",
            },
            bases=["Model"],
        ),
    ]
