from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.credit import CreditChangeKind, ReviewDecision, SubjectType
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0008_external_checks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CreditLimitChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='credit_changes', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='EVALUATED: EVALUATED\nON_TIME: ON_TIME\nOVERDUE: OVERDUE\nFROZEN: FROZEN\nUNFROZEN: UNFROZEN\nTEMPORARY_SET: TEMPORARY_SET\nTEMPORARY_ENDED: TEMPORARY_ENDED\nPARAMETERS: PARAMETERS', enum_type=CreditChangeKind, max_length=16)),
                ('old_limit_fen', fields.BigIntField()),
                ('new_limit_fen', fields.BigIntField()),
                ('old_grade', fields.CharField(max_length=2)),
                ('new_grade', fields.CharField(max_length=2)),
                ('score', fields.IntField()),
                ('reason', fields.CharField(max_length=500)),
                ('actor_id', fields.BigIntField(null=True)),
                ('event_key', fields.CharField(null=True, unique=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_limit_changes', 'app': 'models', 'pk_attr': 'id', 'table_description': "One change of a member's credit standing: before and after, why, who (null: the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditProfile',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='credit_profile', on_delete=OnDelete.RESTRICT)),
                ('subject_type', fields.CharEnumField(default=SubjectType.PERSON, description='PERSON: PERSON\nCOMPANY: COMPANY', enum_type=SubjectType, max_length=8)),
                ('score', fields.IntField(default=0)),
                ('grade', fields.CharField(default='HR', max_length=2)),
                ('grade_limit_fen', fields.BigIntField(default=0)),
                ('limit_fen', fields.BigIntField(default=0)),
                ('used_fen', fields.BigIntField(default=0)),
                ('frozen', fields.BooleanField(default=False)),
                ('frozen_reason', fields.CharField(default='', max_length=255)),
                ('temp_limit_fen', fields.BigIntField(null=True)),
                ('temp_limit_expires_on', fields.DateField(null=True)),
                ('temp_limit_reason', fields.CharField(default='', max_length=255)),
                ('on_time_count', fields.IntField(default=0)),
                ('overdue_count', fields.IntField(default=0)),
                ('explanation', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'credit_profiles', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member's score, grade and credit limit, and what they use of it (M2.4-M2.6, R1)."},
            bases=['Model'],
        ),
        # CreateModel does not emit CHECK constraints (tortoise-orm 1.1.9): added here.
        ops.AddConstraint(
            model_name='CreditProfile',
            constraint=CheckConstraint(check='used_fen >= 0 AND limit_fen >= 0', name='credit_amounts_not_negative'),
        ),
        ops.CreateModel(
            name='VerificationReview',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('submission', fields.ForeignKeyField('models.VerificationSubmission', source_field='submission_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.RESTRICT)),
                ('reviewer_id', fields.BigIntField()),
                ('decision', fields.CharEnumField(description='APPROVE: APPROVE\nREJECT: REJECT\nREQUEST_MORE: REQUEST_MORE', enum_type=ReviewDecision, max_length=16)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('external_check_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'verification_reviews', 'app': 'models', 'pk_attr': 'id', 'table_description': "A credit officer's decision on a submission, with the reason the member is told."},
            bases=['Model'],
        ),
    ]
