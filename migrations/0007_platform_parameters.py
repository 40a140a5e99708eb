from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_personal_data_reveals')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ParameterChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(db_index=True, max_length=64)),
                ('old_value', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('new_value', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actor_id', fields.BigIntField(null=True)),
                ('reason', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'parameter_changes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One change of a platform parameter: old and new value, who, why, when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PlatformParameter',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_by', fields.BigIntField(null=True)),
            ],
            options={'table': 'platform_parameters', 'app': 'models', 'pk_attr': 'name', 'table_description': 'The stored value of a platform parameter (M11.3), as JSON.'},
            bases=['Model'],
        ),
    ]
