from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    """Periodic jobs' schedule and lease in the database (issue 16): any number of job
    workers, one runner of a job at a time, taken over when its runner dies."""

    dependencies = [("models", "0022_operation_log_sealing")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ScheduledJob",
            fields=[
                (
                    "name",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                ("next_due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("holder", fields.CharField(null=True, max_length=128)),
                (
                    "lease_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("runs", fields.IntField(default=0)),
                ("failures", fields.IntField(default=0)),
                ("taken_over", fields.IntField(default=0)),
                ("last_error", fields.CharField(default="", max_length=255)),
            ],
            options={
                "table": "scheduled_jobs",
                "app": "models",
                "pk_attr": "name",
                "table_description": "A periodic job's schedule and lease, shared by every process that runs jobs: one",
            },
            bases=["Model"],
        ),
    ]
