from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.bids import BidSource, BidStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0011_loans')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AutoBidRule',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='auto_bid_rule', on_delete=OnDelete.RESTRICT)),
                ('enabled', fields.BooleanField(default=False)),
                ('min_rate', fields.DecimalField(max_digits=8, decimal_places=6)),
                ('max_rate', fields.DecimalField(max_digits=8, decimal_places=6)),
                ('min_term', fields.IntField()),
                ('max_term', fields.IntField()),
                ('grades', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('methods', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('amount_per_loan_fen', fields.BigIntField()),
                ('keep_balance_fen', fields.BigIntField(default=0)),
                ('queue_position', fields.BigIntField(null=True, db_index=True)),
                ('opted_in_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auto_bid_rules', 'app': 'models', 'pk_attr': 'id', 'table_description': "A lender's automatic bidding rule (M1.7). `queue_position` orders the fair queue:"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Bid',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='bids', on_delete=OnDelete.RESTRICT)),
                ('lender', fields.ForeignKeyField('models.User', source_field='lender_id', db_constraint=True, to_field='id', related_name='bids', on_delete=OnDelete.RESTRICT)),
                ('requested_fen', fields.BigIntField()),
                ('amount_fen', fields.BigIntField(default=0)),
                ('status', fields.CharEnumField(db_index=True, description='AWAITING_CONFIRMATION: AWAITING_CONFIRMATION\nACCEPTED: ACCEPTED\nREFUSED: REFUSED\nCANCELLED: CANCELLED\nRELEASED: RELEASED\nTRANSFERRED: TRANSFERRED', enum_type=BidStatus, max_length=24)),
                ('source', fields.CharEnumField(description='MANUAL: MANUAL\nAUTO: AUTO', enum_type=BidSource, max_length=8)),
                ('auto_rule_id', fields.BigIntField(null=True)),
                ('operation_id', fields.UUIDField(null=True)),
                ('refusal', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bids', 'app': 'models', 'constraints': [CheckConstraint(check='amount_fen >= 0 AND amount_fen <= requested_fen', name='bid_amount_within_request')], 'indexes': [Index(fields=['loan_id', 'status']), Index(fields=['lender_id', 'status'])], 'pk_attr': 'id', 'table_description': "One lender's bid on one loan. `requested_fen` is what was asked, `amount_fen` what"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Claim',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='claims', on_delete=OnDelete.RESTRICT)),
                ('holder', fields.ForeignKeyField('models.User', source_field='holder_id', db_constraint=True, to_field='id', related_name='claims', on_delete=OnDelete.RESTRICT)),
                ('bid_id', fields.BigIntField(unique=True)),
                ('principal_fen', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'claims', 'app': 'models', 'constraints': [CheckConstraint(check='principal_fen > 0', name='claim_principal_positive')], 'pk_attr': 'id', 'table_description': "A lender's claim on a disbursed loan: the principal share they lent (architecture:"},
            bases=['Model'],
        ),
        # CreateModel does not emit CHECK constraints (tortoise-orm 1.1.9): added here.
        ops.AddConstraint(
            model_name='Bid',
            constraint=CheckConstraint(check='amount_fen >= 0 AND amount_fen <= requested_fen', name='bid_amount_within_request'),
        ),
        ops.AddConstraint(
            model_name='Claim',
            constraint=CheckConstraint(check='principal_fen > 0', name='claim_principal_positive'),
        ),
        ops.AddField(
            model_name='Loan',
            name='disbursed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
