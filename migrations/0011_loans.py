from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.loans import LoanReviewDecision, LoanStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0010_lender_risk_assessment')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BlacklistEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='blacklist_entry', on_delete=OnDelete.RESTRICT)),
                ('reason', fields.CharField(max_length=500)),
                ('actor_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'loan_blacklist', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member who may not borrow (the automatic review's NOT_BLACKLISTED rule)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Loan',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('borrower', fields.ForeignKeyField('models.User', source_field='borrower_id', db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.RESTRICT)),
                ('amount_fen', fields.BigIntField()),
                ('annual_rate', fields.DecimalField(max_digits=8, decimal_places=6)),
                ('term_months', fields.IntField()),
                ('method', fields.CharField(max_length=24)),
                ('day_count', fields.CharField(max_length=16)),
                ('purpose', fields.CharField(max_length=500)),
                ('bid_window_days', fields.IntField()),
                ('bidding_opens_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('bidding_closes_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('min_bid_fen', fields.BigIntField()),
                ('max_bid_fen', fields.BigIntField()),
                ('collateral_ref', fields.CharField(null=True, max_length=128)),
                ('guarantee_ref', fields.CharField(null=True, max_length=128)),
                ('status', fields.CharEnumField(db_index=True, description='DRAFT: DRAFT\nPENDING_REVIEW: PENDING_REVIEW\nIN_REVIEW: IN_REVIEW\nREJECTED: REJECTED\nLISTED: LISTED\nFULL: FULL\nFAILED: FAILED\nDISBURSED: DISBURSED\nREPAYING: REPAYING\nOVERDUE: OVERDUE\nSETTLED: SETTLED\nCANCELLED: CANCELLED', enum_type=LoanStatus, max_length=16)),
                ('funded_fen', fields.BigIntField(default=0)),
                ('bidder_count', fields.IntField(default=0)),
                ('required_levels', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('next_review_level', fields.IntField(null=True)),
                ('auto_review', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('all_in_cost', fields.DecimalField(max_digits=8, decimal_places=6)),
                ('fee_terms', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rejection_reason', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('listed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'loans', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A loan request and the loan it becomes, with its terms frozen at publishing.'},
            bases=['Model'],
        ),
        # CreateModel does not emit CHECK constraints (tortoise-orm 1.1.9): added here, so
        # both PostgreSQL and SQLite refuse funding beyond the amount and a bad bid range.
        ops.AddConstraint(
            model_name='Loan',
            constraint=CheckConstraint(check='funded_fen >= 0 AND funded_fen <= amount_fen', name='loan_funded_in_amount'),
        ),
        ops.AddConstraint(
            model_name='Loan',
            constraint=CheckConstraint(check='min_bid_fen > 0 AND min_bid_fen <= max_bid_fen', name='loan_bid_range'),
        ),
        ops.CreateModel(
            name='LoanReview',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.RESTRICT)),
                ('level', fields.IntField()),
                ('reviewer_id', fields.BigIntField()),
                ('decision', fields.CharEnumField(description='APPROVE: APPROVE\nREJECT: REJECT', enum_type=LoanReviewDecision, max_length=8)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'loan_reviews', 'app': 'models', 'unique_together': (('loan', 'level'),), 'pk_attr': 'id', 'table_description': "One level's decision on a loan, by one reviewer (one decision per level)."},
            bases=['Model'],
        ),
    ]
