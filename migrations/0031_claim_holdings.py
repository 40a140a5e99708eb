from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    """Claims as holdings (issue 20): a claim bought on the secondary market has no bid
    (`bid_id` nullable); a claim sold in part is a line whose holdings share its targets
    (`line_id`) and hold their own interest targets (`interest_share_fen`); a holding
    sold whole keeps what it had as its principal, 0 when none was repaid yet (the check
    is now `principal_fen >= 0`). Existing rows keep None in both new columns: a claim
    never sold is split exactly as before."""

    dependencies = [("models", "0030_figure_snapshots")]

    initial = False

    operations = [
        ops.RemoveConstraint(
            model_name="Claim",
            name="claim_principal_positive",
            fields=None,
        ),
        ops.AlterModelOptions(
            name="Claim",
            options={
                "table": "claims",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "A lender's holding of a disbursed loan, from a bid or bought on the"
                    " secondary market."
                ),
            },
        ),
        ops.AlterField(
            model_name="Claim",
            name="bid_id",
            field=fields.BigIntField(null=True, unique=True),
        ),
        ops.AddField(
            model_name="Claim",
            name="interest_share_fen",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Claim",
            name="line_id",
            field=fields.BigIntField(null=True),
        ),
        ops.AddConstraint(
            model_name="Claim",
            constraint=CheckConstraint(
                check="principal_fen >= 0", name="claim_principal_not_negative"
            ),
        ),
        # SQLite makes the table again to alter it, and the index 0029 made by RunSQL is
        # not made again with it (PostgreSQL alters the table in place).
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_claims_holder_id" ON "claims" ("holder_id")',
            reverse_sql="SELECT 1",
        ),
    ]
