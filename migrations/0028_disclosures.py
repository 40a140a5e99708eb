import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    """The monthly disclosure (R7, issue 19): one signed report per month, with its PDF's
    storage key and hash; `month` unique, so two builds of a month store one."""

    dependencies = [("models", "0027_partners")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MonthlyDisclosure",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField(unique=True)),
                ("as_of", fields.DateField()),
                (
                    "report",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("report_sha256", fields.CharField(max_length=64)),
                ("signature", fields.CharField(max_length=128)),
                ("pdf_storage_key", fields.CharField(unique=True, max_length=64)),
                ("pdf_sha256", fields.CharField(max_length=64)),
                ("pdf_size", fields.BigIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "monthly_disclosures",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "The R7 report of one month as of its last day, as the platform published it."
                ),
            },
            bases=["Model"],
        ),
    ]
