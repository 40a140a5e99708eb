"""Account status changes (issue 22, M5.2): each lock, activation and closure of a member
account with its reason, who proposed it and who decided (maker-checker)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.customers import StatusChangeState
from models.members import UserStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0041_collateral_documents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountStatusChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='status_changes', on_delete=OnDelete.RESTRICT)),
                ('from_status', fields.CharEnumField(description='ACTIVE: active\nLOCKED: locked\nCLOSED: closed', enum_type=UserStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='ACTIVE: active\nLOCKED: locked\nCLOSED: closed', enum_type=UserStatus, max_length=16)),
                ('reason', fields.CharField(max_length=255)),
                ('state', fields.CharEnumField(description='PENDING: PENDING\nAPPLIED: APPLIED\nREJECTED: REJECTED\nSUPERSEDED: SUPERSEDED', enum_type=StatusChangeState, max_length=16)),
                ('proposed_by_id', fields.BigIntField()),
                ('decided_by_id', fields.BigIntField(null=True)),
                ('decision_reason', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_status_changes', 'app': 'models', 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id', 'table_description': "One change of a member account's status, proposed by one staff member with a"},
            bases=['Model'],
        ),
        # Customer service manages account status (M5.2): the cs role, where a database
        # has it seeded already, gets customers:manage as a new one is seeded with it.
        ops.RunSQL(
            "INSERT INTO role_permissions (role_id, permission) SELECT r.name,"
            " 'customers:manage' FROM roles r WHERE r.name = 'cs' AND NOT EXISTS (SELECT 1"
            " FROM role_permissions p WHERE p.role_id = r.name"
            " AND p.permission = 'customers:manage')",
            reverse_sql="SELECT 1",
        ),
    ]
