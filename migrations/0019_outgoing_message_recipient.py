from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0018_outbox_backoff")]

    initial = False

    operations = [
        ops.AddField(
            model_name="OutgoingMessage",
            name="recipient_cipher",
            field=fields.TextField(default="", db_default="", unique=False),
        ),
    ]
