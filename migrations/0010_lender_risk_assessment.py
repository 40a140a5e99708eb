from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.lending import RiskTier
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_credit_review_and_limits')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RiskAssessment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='risk_assessments', on_delete=OnDelete.RESTRICT)),
                ('questionnaire_version', fields.CharField(max_length=32)),
                ('answers', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('score', fields.IntField()),
                ('tier', fields.CharEnumField(description='CONSERVATIVE: CONSERVATIVE\nSTEADY: STEADY\nBALANCED: BALANCED\nGROWTH: GROWTH\nAGGRESSIVE: AGGRESSIVE', enum_type=RiskTier, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'risk_assessments', 'app': 'models', 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id', 'table_description': "A lender's answers to one version of the risk questionnaire, and the result."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RiskNoticeConfirmation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='risk_notice_confirmations', on_delete=OnDelete.RESTRICT)),
                ('assessment', fields.ForeignKeyField('models.RiskAssessment', source_field='assessment_id', db_constraint=True, to_field='id', related_name='confirmations', on_delete=OnDelete.RESTRICT)),
                ('notice_version', fields.CharField(max_length=32)),
                ('notice_sha256', fields.CharField(max_length=64)),
                ('confirmed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('client_ip', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'risk_notice_confirmations', 'app': 'models', 'unique_together': (('assessment', 'notice_sha256'),), 'pk_attr': 'id', 'table_description': 'A lender confirmed the risk notice of an assessment: which text, when, from where.'},
            bases=['Model'],
        ),
    ]
