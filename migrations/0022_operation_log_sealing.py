from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    """The operation log without a global hot row (issue 16): entries are appended with
    no lock (seq, prev_hash, entry_hash null until sealed; content_hash at once) and
    sealed into the chain in order afterwards. Existing entries are sealed already."""

    dependencies = [("models", "0021_loan_schedule_rules")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="OperationLogEntry",
            options={
                "table": "operation_log",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One mutation: who, what, when, from where, result. Sealed into a SHA-256 chain.",
            },
        ),
        ops.AlterField(
            model_name="OperationLogEntry",
            name="entry_hash",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AlterField(
            model_name="OperationLogEntry",
            name="prev_hash",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AlterField(
            model_name="OperationLogEntry",
            name="seq",
            field=fields.BigIntField(null=True, unique=True),
        ),
        ops.AddField(
            model_name="OperationLogEntry",
            name="content_hash",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AlterModelOptions(
            name="OperationLogHead",
            options={
                "table": "operation_log_head",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The chain's tip: locked to seal, and it catches deletion of the last entries.",
            },
        ),
    ]
