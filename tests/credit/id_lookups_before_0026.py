"""Run by tests/credit/test_industry_answers.py in a process of its own (migrating moves
Tortoise's global state): on an empty database, migrate to 0025, write custody accounts
as the platform did then (the ID number's cipher, no lookup column) and one platform
account with no number, migrate to the latest, and print as JSON each account's owner
code and lookup.

    python -m tests.credit.id_lookups_before_0026 DATABASE_URL ID_NUMBER...
"""

from __future__ import annotations

import asyncio
import json
import sys

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from models.payments import ProviderAccount
from services.kit.db import tortoise_config
from services.kit.security import encrypt_pii

BEFORE = "models.0025_persisted_manifests"
WHEN = "'2026-01-05 08:00:00+00:00'"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def main(url: str, id_numbers: list[str]) -> dict[str, str | None]:
    config = tortoise_config(url)
    await migrate(config=config, target=BEFORE)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    connection = connections.get("default")
    rows = [("p:fee", "")] + [
        (f"m:{index}", encrypt_pii(number)) for index, number in enumerate(id_numbers, 1)
    ]
    for owner, cipher in rows:
        await connection.execute_script(
            "INSERT INTO provider_accounts (owner_code, real_name_masked, real_name_cipher, "
            "id_number_cipher, id_number_masked, status, created_at) VALUES "
            f"({_quoted(owner)}, '', '', {_quoted(cipher)}, '', 'open', {WHEN})"
        )
    await Tortoise.close_connections()

    await migrate(config=config)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    try:
        accounts = await ProviderAccount.all().order_by("id")
        return {account.owner_code: account.id_number_lookup for account in accounts}
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2:]))))
