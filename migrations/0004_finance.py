from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.finance import AdjustmentStatus, BreakKind, BreakState, RunStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_provider_account_real_name')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InstructionOutcome',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request_id', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(max_length=16)),
                ('status', fields.CharField(max_length=16)),
                ('business_day', fields.DateField(db_index=True)),
                ('platform_amount', fields.BigIntField()),
                ('provider_amount', fields.BigIntField(null=True)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'instruction_outcomes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The first final outcome of a money movement as the platform received it (by call,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField(db_index=True)),
                ('status', fields.CharEnumField(default=RunStatus.RUNNING, description='RUNNING: RUNNING\nCOMPLETED: COMPLETED\nFAILED: FAILED', enum_type=RunStatus, max_length=16)),
                ('triggered_by', fields.ForeignKeyField('models.User', source_field='triggered_by_id', null=True, db_constraint=True, to_field='id', related_name='reconciliation_runs', on_delete=OnDelete.RESTRICT)),
                ('statement_lines', fields.IntField(default=0)),
                ('matched', fields.IntField(default=0)),
                ('in_flight', fields.IntField(default=0)),
                ('accounts_checked', fields.IntField(default=0)),
                ('breaks_found', fields.IntField(default=0)),
                ('breaks_known', fields.IntField(default=0)),
                ('error', fields.CharField(default='', max_length=255)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reconciliation_runs', 'app': 'models', 'pk_attr': 'id', 'table_description': "One daily batch: the provider's statement of `day` and its balances against the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationBreak',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=160)),
                ('run', fields.ForeignKeyField('models.ReconciliationRun', source_field='run_id', null=True, db_constraint=True, to_field='id', related_name='breaks', on_delete=OnDelete.RESTRICT)),
                ('day', fields.DateField(db_index=True)),
                ('kind', fields.CharEnumField(description='MISSING_AT_PROVIDER: MISSING_AT_PROVIDER\nMISSING_AT_PLATFORM: MISSING_AT_PLATFORM\nAMOUNT_MISMATCH: AMOUNT_MISMATCH\nKIND_MISMATCH: KIND_MISMATCH\nSTATUS_MISMATCH: STATUS_MISMATCH\nBALANCE_MISMATCH: BALANCE_MISMATCH', enum_type=BreakKind, max_length=24)),
                ('request_id', fields.CharField(default='', db_index=True, max_length=64)),
                ('account', fields.CharField(default='', max_length=64)),
                ('platform_amount', fields.BigIntField(null=True)),
                ('provider_amount', fields.BigIntField(null=True)),
                ('note', fields.CharField(default='', max_length=255)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharEnumField(default=BreakState.OPEN, description='OPEN: OPEN\nRESOLVED: RESOLVED\nACCEPTED: ACCEPTED', enum_type=BreakState, max_length=16)),
                ('resolved_by', fields.ForeignKeyField('models.User', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='resolved_breaks', on_delete=OnDelete.RESTRICT)),
                ('resolution', fields.CharField(default='', max_length=500)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reconciliation_breaks', 'app': 'models', 'indexes': [Index(fields=['state', 'id'])], 'pk_attr': 'id', 'table_description': 'A difference between the platform and the provider. `key` makes recording it'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Adjustment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reconciliation_break', fields.ForeignKeyField('models.ReconciliationBreak', source_field='reconciliation_break_id', null=True, db_constraint=True, to_field='id', related_name='adjustments', on_delete=OnDelete.RESTRICT)),
                ('reason', fields.CharField(max_length=500)),
                ('entries', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('moves_money', fields.BooleanField(default=False)),
                ('member_consent_operation_id', fields.UUIDField(null=True)),
                ('status', fields.CharEnumField(default=AdjustmentStatus.PROPOSED, description='PROPOSED: PROPOSED\nAPPROVED: APPROVED\nREJECTED: REJECTED', enum_type=AdjustmentStatus, max_length=16)),
                ('proposed_by', fields.ForeignKeyField('models.User', source_field='proposed_by_id', db_constraint=True, to_field='id', related_name='proposed_adjustments', on_delete=OnDelete.RESTRICT)),
                ('decided_by', fields.ForeignKeyField('models.User', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='decided_adjustments', on_delete=OnDelete.RESTRICT)),
                ('decision_note', fields.CharField(default='', max_length=500)),
                ('journal', fields.ForeignKeyField('models.Journal', source_field='journal_id', null=True, db_constraint=True, to_field='id', related_name='adjustments', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'adjustments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A manual correction (M10.3): proposed by one staff member, approved or rejected by'},
            bases=['Model'],
        ),
    ]
