from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_credit_materials')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PersonalDataReveal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor_id', fields.BigIntField()),
                ('subject_user_id', fields.BigIntField(db_index=True)),
                ('field_name', fields.CharField(max_length=32)),
                ('reason', fields.CharField(max_length=255)),
                ('client_ip', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'personal_data_reveals', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A staff member saw a full personal value (D4): who, whose, which, why, when.'},
            bases=['Model'],
        ),
    ]
