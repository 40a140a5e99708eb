from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0015_repayments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReserveAdvance',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='reserve_advances', on_delete=OnDelete.RESTRICT)),
                ('installment', fields.ForeignKeyField('models.LoanInstallment', source_field='installment_id', db_constraint=True, to_field='id', related_name='reserve_advances', on_delete=OnDelete.RESTRICT)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', db_constraint=True, to_field='id', related_name='reserve_advances', on_delete=OnDelete.RESTRICT)),
                ('holder_id', fields.BigIntField(db_index=True)),
                ('principal_fen', fields.BigIntField()),
                ('interest_fen', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reserve_advances', 'app': 'models', 'unique_together': (('installment', 'claim'),), 'pk_attr': 'id', 'table_description': "The risk reserve paid one claim holder their share of an overdue installment's"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='LoanInstallment',
            name='penalty_accrued_micro_fen',
            field=fields.BigIntField(default=0),
        ),
    ]
