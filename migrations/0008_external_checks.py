from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_platform_parameters')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExternalCheck',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='external_checks', on_delete=OnDelete.RESTRICT)),
                ('source', fields.CharField(max_length=32)),
                ('adapter', fields.CharField(max_length=64)),
                ('subject_lookup', fields.CharField(max_length=64)),
                ('result', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fetched_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'external_checks', 'app': 'models', 'indexes': [Index(fields=['user_id', 'source', 'fetched_at'])], 'pk_attr': 'id', 'table_description': 'One answer of an external source (credit bureau, court, reputation, industry'},
            bases=['Model'],
        ),
    ]
