from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.ledger import AccountKind
from models.payments import InstructionStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BankCard',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='bank_cards', on_delete=OnDelete.CASCADE)),
                ('provider_card_id', fields.CharField(null=True, max_length=64)),
                ('card_cipher', fields.TextField(unique=False)),
                ('card_lookup', fields.CharField(db_index=True, max_length=64)),
                ('card_masked', fields.CharField(max_length=32)),
                ('bank_name', fields.CharField(default='', max_length=64)),
                ('status', fields.CharField(default='binding', max_length=16)),
                ('failure_reason', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'bank_cards', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Deposit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='deposits', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('channel', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='PENDING', max_length=16)),
                ('request_id', fields.CharField(unique=True, max_length=64)),
                ('pay_url', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'deposits', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='idempotency_records', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=128)),
                ('operation', fields.CharField(max_length=64)),
                ('request_hash', fields.CharField(max_length=64)),
                ('status', fields.CharField(default='IN_PROGRESS', max_length=16)),
                ('response', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_records', 'app': 'models', 'unique_together': (('user', 'key'),), 'pk_attr': 'id', 'table_description': 'The first answer to (user, key): replays get it back, other input is refused.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Journal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=160)),
                ('kind', fields.CharField(max_length=48)),
                ('memo', fields.CharField(default='', max_length=255)),
                ('business_date', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_journals', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One business event. Its postings sum to zero. Never updated or deleted.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerAccount',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharEnumField(description='MEMBER_AVAILABLE: member_available\nMEMBER_FROZEN: member_frozen\nMEMBER_WITHDRAWING: member_withdrawing\nPLATFORM_FEE: platform_fee\nRISK_RESERVE: risk_reserve\nGUARANTEE_FUND: guarantee_fund\nMARGIN: margin\nBANK: bank\nSUSPENSE: suspense', enum_type=AccountKind, max_length=32)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='ledger_accounts', on_delete=OnDelete.CASCADE)),
                ('balance', fields.BigIntField(default=0)),
                ('allow_negative', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_accounts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One account. `balance` is the sum of its postings, kept under a row lock.'},
            bases=['Model'],
        ),
        # CreateModel does not emit CHECK constraints (tortoise-orm 1.1.9): add it
        # explicitly, so both PostgreSQL and SQLite refuse a negative member balance.
        ops.AddConstraint(
            model_name='LedgerAccount',
            constraint=CheckConstraint(check='allow_negative OR balance >= 0', name='ledger_balance_not_negative'),
        ),
        ops.CreateModel(
            name='PaymentInstruction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request_id', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(max_length=16)),
                ('status', fields.CharEnumField(default=InstructionStatus.PENDING, description='PENDING: PENDING\nSENT: SENT\nUNKNOWN: UNKNOWN\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED', enum_type=InstructionStatus, max_length=16)),
                ('amount', fields.BigIntField(default=0)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('business_ref', fields.CharField(db_index=True, max_length=64)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.CharField(default='', max_length=255)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('provider_ref', fields.CharField(default='', max_length=64)),
                ('result', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payment_instructions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One movement at the provider, written with its journal, sent after commit.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PendingOperation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='pending_operations', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=32)),
                ('target_id', fields.BigIntField()),
                ('amount', fields.BigIntField()),
                ('counterparty', fields.CharField(max_length=64)),
                ('status', fields.CharField(default='AWAITING_CODE', max_length=16)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'pending_operations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An outgoing movement a member started, waiting for its SMS confirmation (M4.8).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Posting',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('journal', fields.ForeignKeyField('models.Journal', source_field='journal_id', db_constraint=True, to_field='id', related_name='postings', on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('models.LedgerAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='postings', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('balance_after', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_postings', 'app': 'models', 'indexes': [Index(fields=['account_id', 'id'])], 'pk_attr': 'id', 'table_description': "A signed amount on one account, and `balance_after` is that account's running balance."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProcessedCallback',
            fields=[
                ('event_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('request_id', fields.CharField(max_length=64)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'processed_callbacks', 'app': 'models', 'pk_attr': 'event_id', 'table_description': 'Provider callback ids already handled: a replay is refused.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProviderAccount',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner_code', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='provider_accounts', on_delete=OnDelete.CASCADE)),
                ('provider_account_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('real_name_masked', fields.CharField(default='', max_length=64)),
                ('id_number_cipher', fields.TextField(default='', unique=False)),
                ('id_number_masked', fields.CharField(default='', max_length=32)),
                ('status', fields.CharField(default='opening', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'provider_accounts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A virtual account at the provider: one per member, one per platform account.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Withdrawal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='withdrawals', on_delete=OnDelete.CASCADE)),
                ('card', fields.ForeignKeyField('models.BankCard', source_field='card_id', db_constraint=True, to_field='id', related_name='withdrawals', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('fee', fields.BigIntField()),
                ('speed', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='AWAITING_CONFIRMATION', max_length=24)),
                ('request_id', fields.CharField(unique=True, max_length=64)),
                ('failure_reason', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'withdrawals', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
