import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """The daily figure snapshots (issue 19): one row per closed business day and figure,
    written once by the `analytics_snapshots` job; (`day`, `figure`) unique, so a second
    run of the job for a day stores nothing."""

    dependencies = [("models", "0029_analytics_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="FigureSnapshot",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.DateField()),
                ("figure", fields.CharField(max_length=32)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "figure_snapshots",
                "app": "models",
                "unique_together": (("day", "figure"),),
                "pk_attr": "id",
                "table_description": (
                    "One figure as of the end of a closed business day, stored the day after."
                ),
            },
            bases=["Model"],
        ),
    ]
