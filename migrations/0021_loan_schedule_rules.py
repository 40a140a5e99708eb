from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0020_repayment_kind_amount")]

    initial = False

    # The edition of the schedule rules a loan was published under
    # (services.loans.schedule.ScheduleRules): every loan already there was published
    # under the floor rule (1), a loan written from now on gets the current rule (2).
    operations = [
        ops.AddField(
            model_name="Loan",
            name="schedule_rules",
            field=fields.SmallIntField(default=2, db_default=1),
        ),
    ]
