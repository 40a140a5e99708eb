from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields



class Migration(migrations.Migration):
    """Automatic bidding on the secondary market (issue 20): a rule's opt-in and limits
    (maximum premium, minimum XIRR at the price, no overdue loans), each listing's mark
    that the rules were served (once), and the rule that made a purchase."""

    dependencies = [('models', '0033_transfer_consent_methods')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AutoBidRule',
            name='market_enabled',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='AutoBidRule',
            name='market_max_premium',
            field=fields.DecimalField(default=0, db_default=0, max_digits=8, decimal_places=6),
        ),
        ops.AddField(
            model_name='AutoBidRule',
            name='market_min_xirr',
            field=fields.DecimalField(default=0, db_default=0, max_digits=8, decimal_places=6),
        ),
        ops.AddField(
            model_name='AutoBidRule',
            name='market_skip_overdue',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name='ClaimTransfer',
            name='auto_rule_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='TransferListing',
            name='auto_buy_done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
