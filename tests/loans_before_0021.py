"""Run by tests/test_migrations.py in a process of its own (migrating moves Tortoise's
global state): on an empty database, migrate to 0020, write a loan as the platform did
then (no `schedule_rules` column), migrate to the latest, and print as JSON the rules
that loan has and the rules a loan written now gets.

    python -m tests.loans_before_0021 DATABASE_URL
"""

from __future__ import annotations

import asyncio
import json
import sys

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from models.loans import Loan, LoanStatus
from services.kit.db import tortoise_config

BEFORE = "models.0020_repayment_kind_amount"
WHEN = "'2026-01-05 08:00:00+00:00'"


async def main(url: str) -> dict[str, int]:
    config = tortoise_config(url)
    await migrate(config=config, target=BEFORE)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    connection = connections.get("default")
    await connection.execute_script(
        "INSERT INTO users (kind, status, phone_lookup, phone_cipher, phone_masked, "
        "display_name, password_hash, failed_logins, created_at, updated_at) VALUES "
        f"('member', 'ACTIVE', 'lookup', 'cipher', '199****1001', 'Borrower', 'x', 0, "
        f"{WHEN}, {WHEN})"
    )
    await connection.execute_script(
        "INSERT INTO loans (borrower_id, amount_fen, annual_rate, term_months, method, "
        "day_count, purpose, bid_window_days, min_bid_fen, max_bid_fen, status, funded_fen, "
        "bidder_count, required_levels, auto_review, all_in_cost, fee_terms, "
        "rejection_reason, created_at) VALUES "
        "((SELECT id FROM users WHERE phone_lookup = 'lookup'), 100006, 0.12, 12, "
        "'EQUAL_PRINCIPAL', 'MONTHLY_30_360', 'Published before 0021', 10, 5000, 100006, "
        f"'FULL', 100006, 1, '[1, 2]', '[]', 0.12, '{{}}', '', {WHEN})"
    )
    await Tortoise.close_connections()

    await migrate(config=config)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    try:
        old = await Loan.get(purpose="Published before 0021")
        new = await Loan.create(
            borrower_id=old.borrower_id,
            amount_fen=100_006,
            annual_rate="0.12",
            term_months=12,
            method="EQUAL_PRINCIPAL",
            day_count="MONTHLY_30_360",
            purpose="Working capital",
            bid_window_days=10,
            min_bid_fen=5_000,
            max_bid_fen=100_006,
            status=LoanStatus.LISTED,
            all_in_cost="0.12",
            created_at=old.created_at,
        )
        new = await Loan.get(id=new.id)
        return {"old": old.schedule_rules, "new": new.schedule_rules}
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
