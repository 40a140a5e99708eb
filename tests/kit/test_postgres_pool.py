"""The PostgreSQL pool without a reset query at each release
(services/kit/postgres_pool.py): a connection goes back to the pool as it is (no extra
round trip), yet a transaction left open on it is rolled back, never inherited by the
next statement that takes it."""

from __future__ import annotations

import pytest
from tortoise import connections

from services.kit.db import tortoise_config
from tests.conftest import BACKEND, DATABASE_URL

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(BACKEND != "postgres", reason="the PostgreSQL engine"),
]


async def _one_connection_client():  # type: ignore[no-untyped-def]
    from services.kit.postgres_pool import SessionKeepingClient

    credentials = dict(tortoise_config(DATABASE_URL)["connections"]["default"]["credentials"])
    credentials.update(minsize=1, maxsize=1)
    client = SessionKeepingClient(**credentials, connection_name="pool-test")
    await client.create_connection(with_db=True)
    return client


async def test_the_app_runs_on_the_session_keeping_pool(database):
    from services.kit.postgres_pool import SessionKeepingClient

    assert isinstance(connections.get("default"), SessionKeepingClient)


async def test_a_released_connection_is_not_reset_but_an_open_transaction_is_rolled_back():
    client = await _one_connection_client()
    try:
        # The pool has one connection: every statement below takes the same one.
        await client.execute_script("SET application_name = 'kept-by-pool-test'")
        assert await client.execute_query_dict("SHOW application_name") == [
            {"application_name": "kept-by-pool-test"}
        ]  # no RESET ALL ran at release: the session is as the last statement left it

        await client.execute_script("CREATE TEMP TABLE pool_test (x int)")
        await client.execute_script("BEGIN; INSERT INTO pool_test VALUES (1)")  # no COMMIT
        rows = await client.execute_query_dict("SELECT count(*) AS n FROM pool_test")
        assert rows == [{"n": 0}]  # rolled back at release, not left open nor committed
        in_transaction = await client.execute_query_dict(
            "SELECT txid_current_if_assigned() IS NOT NULL AS open"
        )
        assert in_transaction == [{"open": False}]
    finally:
        await client.close()
