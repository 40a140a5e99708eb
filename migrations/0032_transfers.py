from tortoise import migrations
from tortoise.migrations import operations as ops
from models.transfers import ListingStatus, TransferStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    """The secondary market (issue 20): listings of holdings for sale and purchases."""

    dependencies = [('models', '0031_claim_holdings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TransferListing',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', db_constraint=True, to_field='id', related_name='listings', on_delete=OnDelete.RESTRICT)),
                ('loan_id', fields.BigIntField()),
                ('seller_id', fields.BigIntField()),
                ('principal_fen', fields.BigIntField()),
                ('listed_fen', fields.BigIntField()),
                ('sold_fen', fields.BigIntField(default=0)),
                ('rate', fields.DecimalField(max_digits=8, decimal_places=6)),
                ('status', fields.CharEnumField(default=ListingStatus.OPEN, description='OPEN: OPEN\nSOLD: SOLD\nCANCELLED: CANCELLED\nENDED: ENDED', enum_type=ListingStatus, max_length=16)),
                ('end_reason', fields.CharField(default='', max_length=32)),
                ('version', fields.IntField(default=1)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'transfer_listings', 'app': 'models', 'constraints': [CheckConstraint(check='principal_fen >= 0', name='listing_principal_not_negative')], 'pk_attr': 'id', 'table_description': 'A holding offered for sale, in whole or in part.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ClaimTransfer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.TransferListing', source_field='listing_id', db_constraint=True, to_field='id', related_name='transfers', on_delete=OnDelete.RESTRICT)),
                ('loan_id', fields.BigIntField()),
                ('seller_id', fields.BigIntField()),
                ('buyer_id', fields.BigIntField()),
                ('requested_fen', fields.BigIntField()),
                ('listing_version', fields.IntField()),
                ('principal_fen', fields.BigIntField(default=0)),
                ('price_fen', fields.BigIntField(default=0)),
                ('accrued_interest_fen', fields.BigIntField(default=0)),
                ('fee_fen', fields.BigIntField(default=0)),
                ('seller_claim_id', fields.BigIntField()),
                ('buyer_claim_id', fields.BigIntField(null=True)),
                ('status', fields.CharEnumField(default=TransferStatus.AWAITING_CONFIRMATION, description='AWAITING_CONFIRMATION: AWAITING_CONFIRMATION\nDONE: DONE\nREFUSED: REFUSED\nCANCELLED: CANCELLED', enum_type=TransferStatus, max_length=24)),
                ('refusal', fields.CharField(default='', max_length=64)),
                ('operation_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'claim_transfers', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One purchase of all or part of a listing.'},
            bases=['Model'],
        ),
    ]
