from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.members import UserKind, UserStatus
from models.messaging import MessageChannel, MessageStatus, SmsPurpose
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ClockState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offset_seconds', fields.BigIntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'clock_state', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Offset of the business clock from real time (moved only in dev/test).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OperationLogEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField(unique=True)),
                ('actor_id', fields.BigIntField(null=True)),
                ('actor_label', fields.CharField(max_length=64)),
                ('operation', fields.CharField(max_length=128)),
                ('arguments', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('client_ip', fields.CharField(max_length=64)),
                ('user_agent', fields.CharField(default='', max_length=255)),
                ('result', fields.CharField(max_length=128)),
                ('trace_id', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('entry_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'operation_log', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One mutation: who, what, when, from where, result. Chained by SHA-256.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OperationLogHead',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_seq', fields.BigIntField(default=0)),
                ('last_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'operation_log_head', 'app': 'models', 'pk_attr': 'id', 'table_description': "The chain's tip: locked to append, and it catches deletion of the last entries."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('topic', fields.CharField(max_length=128)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('published_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
            ],
            options={'table': 'outbox_events', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Written in the business transaction, published to the broker after commit.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutgoingMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharEnumField(description='SMS: sms\nEMAIL: email', enum_type=MessageChannel, max_length=8)),
                ('recipient_lookup', fields.CharField(db_index=True, max_length=64)),
                ('recipient_masked', fields.CharField(max_length=128)),
                ('subject', fields.CharField(default='', max_length=255)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=MessageStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed', enum_type=MessageStatus, max_length=16)),
                ('provider', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outgoing_messages', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every SMS and e-mail the notifier sends, with what the provider said.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RevokedAccessToken',
            fields=[
                ('jti', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'revoked_access_tokens', 'app': 'models', 'pk_attr': 'jti', 'table_description': 'Access tokens revoked by logout before they expire (kept until their expiry).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Role',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('description', fields.CharField(default='', max_length=255)),
                ('is_staff', fields.BooleanField(default=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'roles', 'app': 'models', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RolePermission',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('role', fields.ForeignKeyField('models.Role', source_field='role_id', db_constraint=True, to_field='name', related_name='grants', on_delete=OnDelete.CASCADE)),
                ('permission', fields.CharField(max_length=64)),
            ],
            options={'table': 'role_permissions', 'app': 'models', 'unique_together': (('role', 'permission'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SmsCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('phone_lookup', fields.CharField(db_index=True, max_length=64)),
                ('purpose', fields.CharEnumField(description='REGISTER: register\nLOGIN: login\nRESET_PASSWORD: reset_password\nCONFIRM_OPERATION: confirm_operation', enum_type=SmsPurpose, max_length=32)),
                ('binding', fields.CharField(default='', max_length=128)),
                ('code_hash', fields.CharField(max_length=64)),
                ('attempts', fields.IntField(default=0)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('consumed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'sms_codes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time code. Only its hash is stored, and `binding` ties it to one operation.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='MEMBER: member\nSTAFF: staff', enum_type=UserKind, max_length=16)),
                ('status', fields.CharEnumField(default=UserStatus.ACTIVE, description='ACTIVE: active\nLOCKED: locked\nCLOSED: closed', enum_type=UserStatus, max_length=16)),
                ('phone_lookup', fields.CharField(unique=True, max_length=64)),
                ('phone_cipher', fields.TextField(unique=False)),
                ('phone_masked', fields.CharField(max_length=32)),
                ('display_name', fields.CharField(max_length=64)),
                ('password_hash', fields.CharField(max_length=255)),
                ('failed_logins', fields.IntField(default=0)),
                ('login_locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A login. The phone number is stored encrypted, `phone_lookup` is its keyed hash.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=64)),
                ('title', fields.CharField(max_length=255)),
                ('body', fields.TextField(unique=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notices', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An in-app notice for one user, pushed by the `notifications` subscription.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('family_id', fields.UUIDField(db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'refresh_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One issued refresh token. Tokens of one login form a family, and reuse revokes it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserRole',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='role_links', on_delete=OnDelete.CASCADE)),
                ('role', fields.ForeignKeyField('models.Role', source_field='role_id', db_constraint=True, to_field='name', related_name='user_links', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'user_roles', 'app': 'models', 'unique_together': (('user', 'role'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
