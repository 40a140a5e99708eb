"""Members' data deletion requests (issue 22, R6): each request with the answer given,
what the law keeps and until when."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0042_account_status')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DataDeletionRequest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='deletion_requests', on_delete=OnDelete.RESTRICT)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('answer', fields.TextField(unique=False)),
                ('loans_running', fields.BooleanField()),
                ('retained_until', fields.DateField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'data_deletion_requests', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A member asked for their data to be deleted, and the answer they were given: what'},
            bases=['Model'],
        ),
    ]
