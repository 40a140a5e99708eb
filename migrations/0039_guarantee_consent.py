from tortoise import migrations
from tortoise.migrations import operations as ops
from models.contracts import ConsentMethod
from tortoise import fields

class Migration(migrations.Migration):
    """The guarantor consents to a guarantee contract by issuing the policy (issue 21)."""

    dependencies = [('models', '0038_collateral_disposal')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='ContractConsent',
            name='method',
            field=fields.CharEnumField(description='SMS_CODE: SMS_CODE\nBID_CONFIRMATION: BID_CONFIRMATION\nPURCHASE_CONFIRMATION: PURCHASE_CONFIRMATION\nLISTING: LISTING\nPOLICY_ISSUE: POLICY_ISSUE', enum_type=ConsentMethod, max_length=24),
        ),
    ]
