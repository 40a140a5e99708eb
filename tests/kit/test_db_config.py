"""The PostgreSQL pool's defaults (services/kit/db.py): a full pool kept open, prepared
statements kept for the connection's life, anything the URL says kept as it says, on the
engine whose pool keeps sessions (services/kit/postgres_pool.py)."""

from __future__ import annotations

from services.kit.db import tortoise_config


def _query(url: str) -> dict[str, str]:
    connection = tortoise_config(url)["connections"]["default"]
    assert connection["engine"] == "services.kit.postgres_pool"
    credentials = connection["credentials"]
    return {key: str(value) for key, value in credentials.items() if key in _POOL_KEYS}


_POOL_KEYS = ("maxsize", "minsize", "max_cached_statement_lifetime")


def test_a_plain_postgres_url_gets_a_full_pool_and_statements_kept():
    assert _query("postgres://lb@db:5432/lendbridge") == {
        "maxsize": "5",
        "minsize": "5",
        "max_cached_statement_lifetime": "0",
    }


def test_what_the_url_says_wins():
    query = _query("postgres://lb@db/lendbridge?maxsize=12&max_cached_statement_lifetime=60")
    assert query == {"maxsize": "12", "minsize": "12", "max_cached_statement_lifetime": "60"}
    assert _query("postgres://lb@db/lendbridge?minsize=2&maxsize=8")["minsize"] == "2"


def test_sqlite_urls_run_on_the_engine_that_reads_apart():
    connection = tortoise_config("sqlite://data/x.db?synchronous=NORMAL")["connections"]["default"]
    assert connection["engine"] == "services.kit.sqlite_reads"
    assert connection["credentials"]["file_path"] == "data/x.db"
    assert connection["credentials"]["synchronous"] == "NORMAL"
