from tortoise import migrations
from tortoise.migrations import operations as ops
from models.guarantees import CompanyStatus, Coverage, PolicyStatus
from models.ledger import AccountKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    """Guarantee companies, their staff, policies and compensations (issue 21, M7), and a
    deposit into an organisation's account."""

    dependencies = [('models', '0036_advance_recoverers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GuaranteeCompany',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=128)),
                ('licence_number', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=CompanyStatus.ACTIVE, description='ACTIVE: ACTIVE\nSUSPENDED: SUSPENDED', enum_type=CompanyStatus, max_length=16)),
                ('created_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guarantee_companies', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A guarantee company. Its money is at the provider in its own custody account'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GuaranteePolicy',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='guarantee_policies', on_delete=OnDelete.RESTRICT)),
                ('company', fields.ForeignKeyField('models.GuaranteeCompany', source_field='company_id', db_constraint=True, to_field='id', related_name='policies', on_delete=OnDelete.RESTRICT)),
                ('requested_by', fields.BigIntField()),
                ('status', fields.CharEnumField(default=PolicyStatus.REQUESTED, description='REQUESTED: REQUESTED\nDECLINED: DECLINED\nISSUED: ISSUED\nACTIVE: ACTIVE\nTRIGGERED: TRIGGERED\nCOMPENSATED: COMPENSATED\nRECOVERED: RECOVERED\nCLOSED: CLOSED', enum_type=PolicyStatus, max_length=16)),
                ('coverage', fields.CharEnumField(null=True, description='PRINCIPAL: PRINCIPAL\nPRINCIPAL_INTEREST: PRINCIPAL_INTEREST', enum_type=Coverage, max_length=24)),
                ('covers_penalty', fields.BooleanField(default=False)),
                ('trigger_days', fields.IntField(null=True)),
                ('may_draw_margin', fields.BooleanField(default=True)),
                ('issued_by', fields.BigIntField(null=True)),
                ('issued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decline_reason', fields.CharField(default='', max_length=500)),
                ('margin_at_issue_fen', fields.BigIntField(null=True)),
                ('required_at_issue_fen', fields.BigIntField(null=True)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guarantee_policies', 'app': 'models', 'constraints': [CheckConstraint(check='trigger_days IS NULL OR trigger_days >= 1', name='policy_trigger_days')], 'pk_attr': 'id', 'table_description': 'A guarantee of one loan by one company (one open request or policy per loan).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GuaranteeCompensation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('policy', fields.ForeignKeyField('models.GuaranteePolicy', source_field='policy_id', db_constraint=True, to_field='id', related_name='compensations', on_delete=OnDelete.RESTRICT)),
                ('company_id', fields.BigIntField(db_index=True)),
                ('loan_id', fields.BigIntField(db_index=True)),
                ('installment_id', fields.BigIntField(unique=True)),
                ('amount_fen', fields.BigIntField()),
                ('from_margin_fen', fields.BigIntField(default=0)),
                ('recovered_fen', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guarantee_compensations', 'app': 'models', 'constraints': [CheckConstraint(check='recovered_fen >= 0 AND recovered_fen <= amount_fen', name='compensation_recovered_within')], 'pk_attr': 'id', 'table_description': 'What a company paid the holders of one overdue installment (代偿), through the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GuarantorStaff',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('company', fields.ForeignKeyField('models.GuaranteeCompany', source_field='company_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.RESTRICT)),
                ('user_id', fields.BigIntField(unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guarantor_staff', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A staff user (role `guarantor`) acting for one company.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Deposit',
            name='owner_code',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AlterField(
            model_name='LedgerAccount',
            name='kind',
            field=fields.CharEnumField(description='MEMBER_AVAILABLE: member_available\nMEMBER_FROZEN: member_frozen\nMEMBER_WITHDRAWING: member_withdrawing\nPLATFORM_FEE: platform_fee\nRISK_RESERVE: risk_reserve\nGUARANTEE_FUND: guarantee_fund\nMARGIN: margin\nGUARANTOR_AVAILABLE: guarantor_available\nGUARANTOR_MARGIN: guarantor_margin\nBANK: bank\nSUSPENSE: suspense', enum_type=AccountKind, max_length=32),
        ),
    ]
