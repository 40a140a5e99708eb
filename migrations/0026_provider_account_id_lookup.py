from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from services.kit.security import decrypt_pii, lookup_hash

BATCH = 500
# The name tortoise gives a `db_index` column's index (as `idx_bank_cards_card_lo_74344a`
# for bank_cards.card_lookup): AddField records `db_index` in the migration state but
# does not create the index (tortoise-orm 1.1.9), so RunSQL does.
INDEX = "idx_provider_ac_id_numb_e35001"


async def fill_id_number_lookups(apps: Any, schema_editor: Any) -> None:
    """Every custody account written before 0026 gets the lookup of its ID number,
    decrypted from `id_number_cipher` with the configured personal-data keys. Accounts
    with no number (the platform's own) keep none. A value no configured key decrypts
    stops the migration (PiiCipherError), and the migration's transaction rolls back:
    configure the missing key (PII_RETIRED_KEYS) and migrate again, as for `rotate-pii`."""
    account = apps.get_model("models", "ProviderAccount")
    client = schema_editor.client
    last = 0
    while True:
        rows = (
            await account.filter(id__gt=last, id_number_lookup__isnull=True)
            .exclude(id_number_cipher="")
            .order_by("id")
            .limit(BATCH)
            .using_db(client)
            .values_list("id", "id_number_cipher")
        )
        for row_id, cipher in rows:
            await (
                account.filter(id=row_id)
                .using_db(client)
                .update(id_number_lookup=lookup_hash(decrypt_pii(cipher)))
            )
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


class Migration(migrations.Migration):
    """Custody accounts keep the keyed lookup hash of their ID number beside its cipher,
    so a person is found by their number (R1: a partner's industry credit query) without
    decrypting every row; the accounts already there are filled in from their ciphers."""

    dependencies = [("models", "0025_persisted_manifests")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ProviderAccount",
            name="id_number_lookup",
            field=fields.CharField(max_length=64, null=True, db_index=True),
        ),
        ops.RunSQL(
            f'CREATE INDEX "{INDEX}" ON "provider_accounts" ("id_number_lookup")',
            reverse_sql=f'DROP INDEX "{INDEX}"',
        ),
        ops.RunPython(fill_id_number_lookups, reverse_code=ops.RunPython.noop),
    ]
