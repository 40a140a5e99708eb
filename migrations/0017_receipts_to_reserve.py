from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0016_overdue_penalty_and_reserve_advances')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Receipt',
            name='to_reserve',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
