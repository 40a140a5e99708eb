from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.credit import VerificationStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_finance')]

    initial = False

    operations = [
        ops.CreateModel(
            name='VerificationSubmission',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='verification_submissions', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(db_index=True, max_length=32)),
                ('status', fields.CharEnumField(default=VerificationStatus.SUBMITTED, description='SUBMITTED: SUBMITTED\nAPPROVED: APPROVED\nREJECTED: REJECTED\nMORE_REQUESTED: MORE_REQUESTED', enum_type=VerificationStatus, max_length=16)),
                ('field_values', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'verification_submissions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One submission of one verification kind by a member, as received.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MaterialFile',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('submission', fields.ForeignKeyField('models.VerificationSubmission', source_field='submission_id', db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.RESTRICT)),
                ('storage_key', fields.CharField(unique=True, max_length=64)),
                ('filename', fields.CharField(max_length=255)),
                ('content_type', fields.CharField(max_length=100)),
                ('size', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('signature', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'material_files', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A file of a submission, hashed and signed by the platform when it arrived.'},
            bases=['Model'],
        ),
    ]
