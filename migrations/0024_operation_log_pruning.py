from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    """The operation log's foot (issue 17, retention): the purge removes the chain's oldest
    entries once their period has passed and keeps the last removed entry's place and hash
    on the head row, so what is left still verifies. Existing heads start at the genesis."""

    dependencies = [("models", "0023_scheduled_jobs")]

    initial = False

    operations = [
        ops.AddField(
            model_name="OperationLogHead",
            name="pruned_hash",
            field=fields.CharField(default="0" * 64, db_default="0" * 64, max_length=64),
        ),
        ops.AddField(
            model_name="OperationLogHead",
            name="pruned_seq",
            field=fields.BigIntField(default=0, db_default=0),
        ),
    ]
