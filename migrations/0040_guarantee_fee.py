from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    """The guarantee fee (issue 21): a policy's monthly rate, each installment's part."""

    dependencies = [('models', '0039_guarantee_consent')]

    initial = False

    operations = [
        ops.AddField(
            model_name='GuaranteePolicy',
            name='fee_rate',
            field=fields.DecimalField(default=0, db_default=0, max_digits=8, decimal_places=6),
        ),
        ops.AddField(
            model_name='LoanInstallment',
            name='guarantee_fee_fen',
            field=fields.BigIntField(default=0, db_default=0),
        ),
    ]
