from tortoise import migrations
from tortoise.migrations import operations as ops
from models.collateral import DisposalStatus, TransferStatus, TransferTo
from models.repayments import RepaymentKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    """Transfers of rights in collateral and its disposal (issue 21, M8.3-M8.4); the
    COLLATERAL repayment kind."""

    dependencies = [('models', '0037_guarantees')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CollateralDisposal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('item', fields.ForeignKeyField('models.CollateralItem', source_field='item_id', db_constraint=True, to_field='id', related_name='disposals', on_delete=OnDelete.RESTRICT)),
                ('loan_id', fields.BigIntField(db_index=True)),
                ('owner_id', fields.BigIntField()),
                ('buyer', fields.CharField(max_length=128)),
                ('price_fen', fields.BigIntField()),
                ('costs_fen', fields.BigIntField()),
                ('net_fen', fields.BigIntField()),
                ('sold_on', fields.DateField()),
                ('status', fields.CharEnumField(default=DisposalStatus.RECORDED, description='RECORDED: RECORDED\nDISTRIBUTED: DISTRIBUTED\nFAILED: FAILED', enum_type=DisposalStatus, max_length=16)),
                ('repayment_id', fields.BigIntField(null=True, unique=True)),
                ('applied_fen', fields.BigIntField(default=0)),
                ('surplus_fen', fields.BigIntField(default=0)),
                ('recorded_by', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('distributed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'collateral_disposals', 'app': 'models', 'constraints': [CheckConstraint(check='costs_fen >= 0 AND net_fen > 0 AND net_fen = price_fen - costs_fen', name='collateral_disposal_net')], 'pk_attr': 'id', 'table_description': 'The sale of a transferred item (M8.4) and where its net proceeds went: `applied_fen`'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CollateralTransfer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('item', fields.ForeignKeyField('models.CollateralItem', source_field='item_id', db_constraint=True, to_field='id', related_name='transfers', on_delete=OnDelete.RESTRICT)),
                ('loan_id', fields.BigIntField(db_index=True)),
                ('to_kind', fields.CharEnumField(description='HOLDERS: HOLDERS\nTRUSTEE: TRUSTEE\nGUARANTOR: GUARANTOR', enum_type=TransferTo, max_length=16)),
                ('to_name', fields.CharField(default='', max_length=128)),
                ('reason', fields.CharField(max_length=500)),
                ('status', fields.CharEnumField(default=TransferStatus.REQUESTED, description='REQUESTED: REQUESTED\nAPPROVED: APPROVED', enum_type=TransferStatus, max_length=16)),
                ('requested_by', fields.BigIntField()),
                ('approved_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('approved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'collateral_transfers', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A transfer of the rights in an item (M8.3): asked by one staff member, approved'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Repayment',
            name='kind',
            field=fields.CharEnumField(description='INSTALLMENTS: INSTALLMENTS\nEARLY_FULL: EARLY_FULL\nAUTO_DEBIT: AUTO_DEBIT\nAMOUNT: AMOUNT\nCOLLATERAL: COLLATERAL', enum_type=RepaymentKind, max_length=16),
        ),
    ]
