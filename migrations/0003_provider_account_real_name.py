from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_ledger_and_payments')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProviderAccount',
            name='real_name_cipher',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
    ]
