from tortoise import migrations
from tortoise.migrations import operations as ops
from models.repayments import RepaymentKind
from tortoise import fields


class Migration(migrations.Migration):
    """Repayment kind AMOUNT (a partial repayment of what has fallen due): the column is
    unchanged (16 characters hold it); only its comment lists the new value."""

    dependencies = [("models", "0019_outgoing_message_recipient")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Repayment",
            name="kind",
            field=fields.CharEnumField(
                description="INSTALLMENTS: INSTALLMENTS\nEARLY_FULL: EARLY_FULL\n"
                "AUTO_DEBIT: AUTO_DEBIT\nAMOUNT: AMOUNT",
                enum_type=RepaymentKind,
                max_length=16,
            ),
        ),
    ]
