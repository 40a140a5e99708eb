from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_contracts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AutoBidQueue',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_position', fields.BigIntField(default=0)),
            ],
            options={'table': 'auto_bid_queue', 'app': 'models', 'pk_attr': 'id', 'table_description': "The fair queue's position counter: one row (id 1), locked FOR UPDATE to hand out the"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Loan',
            name='auto_bid_done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
