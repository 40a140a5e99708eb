from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    """Collateral documents (issue 21, M8.1-M8.2): items' files and valuation reports, signed."""

    dependencies = [("models", "0040_guarantee_fee")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CollateralDocument",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "item",
                    fields.ForeignKeyField(
                        "models.CollateralItem",
                        source_field="item_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="documents",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "valuation",
                    fields.OneToOneField(
                        "models.CollateralValuation",
                        source_field="valuation_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="report",
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
                "table": "collateral_documents",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A document of an item (M8.1: title deed, lien registration, photos) or the report",
            },
            bases=["Model"],
        ),
    ]
