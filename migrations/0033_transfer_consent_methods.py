from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.contracts import ConsentMethod


class Migration(migrations.Migration):
    """Consent methods of the claim transfer contract (issue 20): PURCHASE_CONFIRMATION
    (the buyer's SMS-confirmed purchase) and LISTING (the seller listed the claim on
    these terms). The column is unchanged (24 characters hold them, and no CHECK lists
    the values); only its comment lists the new values."""

    dependencies = [("models", "0032_transfers")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="ContractConsent",
            name="method",
            field=fields.CharEnumField(
                description="SMS_CODE: SMS_CODE\nBID_CONFIRMATION: BID_CONFIRMATION\n"
                "PURCHASE_CONFIRMATION: PURCHASE_CONFIRMATION\nLISTING: LISTING",
                enum_type=ConsentMethod,
                max_length=24,
            ),
        ),
    ]
