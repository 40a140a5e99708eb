from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.repayments import CollectionKind, InstallmentStatus, RepaymentKind, RepaymentStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0014_auto_bidding')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CollectionRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='collection_records', on_delete=OnDelete.RESTRICT)),
                ('collector_id', fields.BigIntField()),
                ('kind', fields.CharEnumField(description='CALL: CALL\nVISIT: VISIT\nMESSAGE: MESSAGE\nPROMISE: PROMISE', enum_type=CollectionKind, max_length=8)),
                ('note', fields.CharField(default='', max_length=1000)),
                ('promised_amount_fen', fields.BigIntField(null=True)),
                ('promised_date', fields.DateField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'collection_records', 'app': 'models', 'pk_attr': 'id', 'table_description': "A collector's contact with the borrower of an overdue loan (M9.4)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoanInstallment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='installments', on_delete=OnDelete.RESTRICT)),
                ('number', fields.IntField()),
                ('due_date', fields.DateField(db_index=True)),
                ('principal_fen', fields.BigIntField()),
                ('interest_fen', fields.BigIntField()),
                ('fee_fen', fields.BigIntField()),
                ('status', fields.CharEnumField(default=InstallmentStatus.PENDING, db_index=True, description='PENDING: PENDING\nOVERDUE: OVERDUE\nPAID: PAID', enum_type=InstallmentStatus, max_length=8)),
                ('paid_principal_fen', fields.BigIntField(default=0)),
                ('paid_interest_fen', fields.BigIntField(default=0)),
                ('paid_fee_fen', fields.BigIntField(default=0)),
                ('penalty_accrued_fen', fields.BigIntField(default=0)),
                ('penalty_paid_fen', fields.BigIntField(default=0)),
                ('penalty_accrued_through', fields.DateField(null=True)),
                ('overdue_since', fields.DateField(null=True)),
                ('paid_on', fields.DateField(null=True)),
                ('paid_late', fields.BooleanField(default=False)),
                ('warned_on', fields.DateField(null=True)),
            ],
            options={'table': 'loan_installments', 'app': 'models', 'unique_together': (('loan', 'number'),), 'constraints': [CheckConstraint(check='paid_principal_fen >= 0 AND paid_principal_fen <= principal_fen AND paid_interest_fen >= 0 AND paid_interest_fen <= interest_fen AND paid_fee_fen >= 0 AND paid_fee_fen <= fee_fen AND penalty_paid_fen >= 0 AND penalty_paid_fen <= penalty_accrued_fen', name='installment_paid_within_due')], 'pk_attr': 'id', 'table_description': "One installment of a disbursed loan, as the loan contract's schedule has it."},
            bases=['Model'],
        ),
        # CreateModel does not emit CHECK constraints (tortoise-orm 1.1.9): added here.
        ops.AddConstraint(
            model_name='LoanInstallment',
            constraint=CheckConstraint(check='paid_principal_fen >= 0 AND paid_principal_fen <= principal_fen AND paid_interest_fen >= 0 AND paid_interest_fen <= interest_fen AND paid_fee_fen >= 0 AND paid_fee_fen <= fee_fen AND penalty_paid_fen >= 0 AND penalty_paid_fen <= penalty_accrued_fen', name='installment_paid_within_due'),
        ),
        ops.CreateModel(
            name='Repayment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='repayments', on_delete=OnDelete.RESTRICT)),
                ('borrower', fields.ForeignKeyField('models.User', source_field='borrower_id', db_constraint=True, to_field='id', related_name='repayments', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='INSTALLMENTS: INSTALLMENTS\nEARLY_FULL: EARLY_FULL\nAUTO_DEBIT: AUTO_DEBIT', enum_type=RepaymentKind, max_length=16)),
                ('status', fields.CharEnumField(db_index=True, description='AWAITING_CONFIRMATION: AWAITING_CONFIRMATION\nDONE: DONE\nREFUSED: REFUSED\nCANCELLED: CANCELLED', enum_type=RepaymentStatus, max_length=24)),
                ('installments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('amount_fen', fields.BigIntField(default=0)),
                ('principal_fen', fields.BigIntField(default=0)),
                ('interest_fen', fields.BigIntField(default=0)),
                ('fee_fen', fields.BigIntField(default=0)),
                ('penalty_fen', fields.BigIntField(default=0)),
                ('early_fee_fen', fields.BigIntField(default=0)),
                ('operation_id', fields.UUIDField(null=True)),
                ('refusal', fields.CharField(default='', max_length=64)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'repayments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One repayment by the borrower: how much, of which installments, in which parts.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Receipt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('repayment', fields.ForeignKeyField('models.Repayment', source_field='repayment_id', db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.RESTRICT)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.RESTRICT)),
                ('holder_id', fields.BigIntField(db_index=True)),
                ('loan_id', fields.BigIntField(db_index=True)),
                ('principal_fen', fields.BigIntField()),
                ('interest_fen', fields.BigIntField()),
                ('penalty_fen', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'repayment_receipts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What one claim holder received of one repayment (largest-remainder shares).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Loan',
            name='collector_id',
            field=fields.BigIntField(null=True, db_index=True),
        ),
    ]
