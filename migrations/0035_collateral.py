from tortoise import migrations
from tortoise.migrations import operations as ops
from models.collateral import CollateralKind, CollateralStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    """Collateral (issue 21, M8.1-M8.2): items pledged for loans and their valuations."""

    dependencies = [("models", "0034_market_auto_buy")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CollateralItem",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "loan",
                    fields.ForeignKeyField(
                        "models.Loan",
                        source_field="loan_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="collateral_items",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("owner_id", fields.BigIntField()),
                (
                    "kind",
                    fields.CharEnumField(
                        description="PROPERTY: PROPERTY\nVEHICLE: VEHICLE\nEQUITY: EQUITY\nRECEIVABLE: RECEIVABLE\nDEPOSIT: DEPOSIT",
                        enum_type=CollateralKind,
                        max_length=16,
                    ),
                ),
                ("description", fields.CharField(max_length=500)),
                ("registration_number", fields.CharField(max_length=64)),
                ("registration_authority", fields.CharField(max_length=128)),
                ("lien_rank", fields.IntField()),
                (
                    "status",
                    fields.CharEnumField(
                        default=CollateralStatus.PLEDGED,
                        description="PLEDGED: PLEDGED\nRELEASED: RELEASED\nTRANSFERRED: TRANSFERRED\nIN_DISPOSAL: IN_DISPOSAL\nDISPOSED: DISPOSED",
                        enum_type=CollateralStatus,
                        max_length=16,
                    ),
                ),
                ("recorded_by", fields.BigIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "collateral_items",
                "app": "models",
                "constraints": [
                    CheckConstraint(check="lien_rank >= 1", name="collateral_lien_rank")
                ],
                "pk_attr": "id",
                "table_description": "An item pledged or mortgaged for a loan (M8.1): what it is, whose it is, where its",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CollateralValuation",
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
                        related_name="valuations",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("loan_id", fields.BigIntField(db_index=True)),
                ("appraiser", fields.CharField(max_length=128)),
                ("method", fields.CharField(max_length=32)),
                ("value_fen", fields.BigIntField()),
                ("valued_on", fields.DateField()),
                ("report_ref", fields.CharField(default="", max_length=256)),
                ("recorded_by", fields.BigIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "collateral_valuations",
                "app": "models",
                "constraints": [
                    CheckConstraint(check="value_fen > 0", name="collateral_value_positive")
                ],
                "pk_attr": "id",
                "table_description": "One valuation of an item (M8.2): by whom, how, what it is worth on which day, and",
            },
            bases=["Model"],
        ),
    ]
