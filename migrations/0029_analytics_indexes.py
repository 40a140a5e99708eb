from tortoise import migrations
from tortoise.migrations import operations as ops

# (index, table, column): what one lender's returns (services/analytics/returns.py) look
# up by, so that they read that lender's rows instead of whole tables: their claims by
# holder, then what each claim had (receipts and reserve advances by claim).
INDEXES = (
    ("idx_claims_holder_id", "claims", "holder_id"),
    ("idx_repayment_receipts_claim_id", "repayment_receipts", "claim_id"),
    ("idx_reserve_advances_claim_id", "reserve_advances", "claim_id"),
)
# What the risk reserve recovered (services/analytics/risk.py): the few receipts
# `to_reserve`, found without reading every receipt.
TO_RESERVE = "idx_repayment_receipts_to_reserve"


class Migration(migrations.Migration):
    """Indexes for the analytics figures (issue 19, docs/analytics-bench.md): a lender's
    returns over a 100,000-loan book read their 2,000 claims' rows through them in
    milliseconds, where each statement read the whole claims and receipts tables, and
    the reserve's recoveries are read from the receipts `to_reserve` alone. Plain
    indexes by RunSQL, as 0026 made its own: no model field changes, so the models'
    state (what `makemigrations` compares) is unchanged."""

    dependencies = [("models", "0028_disclosures")]

    initial = False

    operations = [
        *(
            ops.RunSQL(
                f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                reverse_sql=f'DROP INDEX "{name}"',
            )
            for name, table, column in INDEXES
        ),
        ops.RunSQL(
            f'CREATE INDEX "{TO_RESERVE}" ON "repayment_receipts" ("created_at") WHERE to_reserve',
            reverse_sql=f'DROP INDEX "{TO_RESERVE}"',
        ),
    ]
