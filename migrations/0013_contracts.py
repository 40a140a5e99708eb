from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.contracts import ConsentMethod, ContractKind, ContractStatus, EmailStatus, PartyRole
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_bids_and_claims')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ContractCounter',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.BigIntField()),
            ],
            options={'table': 'contract_counters', 'app': 'models', 'pk_attr': 'key', 'table_description': 'The last serial handed out per order-number prefix (kind and day).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContractTemplate',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='LOAN: LOAN\nGUARANTEE: GUARANTEE\nCLAIM_TRANSFER: CLAIM_TRANSFER', enum_type=ContractKind, max_length=16)),
                ('version', fields.IntField()),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('created_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contract_templates', 'app': 'models', 'unique_together': (('kind', 'version'),), 'pk_attr': 'id', 'table_description': 'One version of the text of a contract kind. Versions are never edited: a change is'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Contract',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.CharField(unique=True, max_length=40)),
                ('kind', fields.CharEnumField(description='LOAN: LOAN\nGUARANTEE: GUARANTEE\nCLAIM_TRANSFER: CLAIM_TRANSFER', enum_type=ContractKind, max_length=16)),
                ('order_key', fields.CharField(unique=True, max_length=128)),
                ('data_sha256', fields.CharField(max_length=64)),
                ('loan_id', fields.BigIntField(null=True, db_index=True)),
                ('loan_ref', fields.CharField(default='', max_length=64)),
                ('template', fields.ForeignKeyField('models.ContractTemplate', source_field='template_id', db_constraint=True, to_field='id', related_name='contracts', on_delete=OnDelete.RESTRICT)),
                ('template_version', fields.IntField()),
                ('title', fields.CharField(max_length=200)),
                ('amount_fen', fields.BigIntField()),
                ('terms', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=ContractStatus.DRAFT, description='DRAFT: DRAFT\nSIGNING: SIGNING\nSIGNED: SIGNED', enum_type=ContractStatus, max_length=16)),
                ('storage_key', fields.CharField(unique=True, max_length=64)),
                ('sha256', fields.CharField(db_index=True, max_length=64)),
                ('size', fields.BigIntField()),
                ('signature', fields.CharField(null=True, max_length=128)),
                ('signed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('retain_until', fields.DateField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contracts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An order with its number and its contract document (a PDF in the archive).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContractConsent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.RESTRICT)),
                ('user_id', fields.BigIntField()),
                ('role', fields.CharEnumField(description='BORROWER: BORROWER\nLENDER: LENDER\nGUARANTOR: GUARANTOR\nSELLER: SELLER\nBUYER: BUYER', enum_type=PartyRole, max_length=16)),
                ('method', fields.CharEnumField(description='SMS_CODE: SMS_CODE\nBID_CONFIRMATION: BID_CONFIRMATION', enum_type=ConsentMethod, max_length=24)),
                ('document_sha256', fields.CharField(max_length=64)),
                ('client_ip', fields.CharField(default='', max_length=64)),
                ('reference', fields.CharField(default='', max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'contract_consents', 'app': 'models', 'unique_together': (('contract', 'user_id'),), 'pk_attr': 'id', 'table_description': 'A party agreed to the document with this hash: who, when, from where, how.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContractEmail',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.RESTRICT)),
                ('user_id', fields.BigIntField()),
                ('recipient_cipher', fields.TextField(unique=False)),
                ('recipient_masked', fields.CharField(max_length=128)),
                ('status', fields.CharEnumField(default=EmailStatus.PENDING, description='PENDING: PENDING\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.CharField(default='', max_length=500)),
                ('next_attempt_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('requested_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contract_emails', 'app': 'models', 'pk_attr': 'id', 'table_description': "One e-mail of a contract's PDF to one party, with every attempt counted."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContractParty',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='parties', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField()),
                ('role', fields.CharEnumField(description='BORROWER: BORROWER\nLENDER: LENDER\nGUARANTOR: GUARANTOR\nSELLER: SELLER\nBUYER: BUYER', enum_type=PartyRole, max_length=16)),
                ('user_id', fields.BigIntField(db_index=True)),
                ('name_masked', fields.CharField(max_length=64)),
                ('id_masked', fields.CharField(max_length=64)),
                ('amount_fen', fields.BigIntField(null=True)),
            ],
            options={'table': 'contract_parties', 'app': 'models', 'unique_together': (('contract', 'user_id'),), 'pk_attr': 'id', 'table_description': 'A party as the document names it (masked name and ID number).'},
            bases=['Model'],
        ),
    ]
