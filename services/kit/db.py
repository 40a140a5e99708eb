"""Tortoise ORM configuration shared by the app, the CLI, migrations and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.fields.data import JSON_DUMPS
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models import MODEL_MODULES
from services.kit.settings import get_settings

# asyncpg's pool, unless the URL says otherwise: as many connections kept open as it may
# have (a burst never waits for connections to be opened and introspected, and a
# process's memory does not grow by a connection's caches in the middle of a crowd), and
# prepared statements kept for as long as the connection lives (no timer per statement).
_POSTGRES_DEFAULTS = {"max_cached_statement_lifetime": "0"}
_DEFAULT_POOL_SIZE = "5"


def _with_pool_defaults(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("maxsize", _DEFAULT_POOL_SIZE)
    query.setdefault("minsize", query["maxsize"])
    for key, value in _POSTGRES_DEFAULTS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _connection(url: str) -> str | dict[str, Any]:
    """tortoise's own parsing of the URL, on an engine of ours. PostgreSQL: the pool's
    defaults added, on the pool that keeps sessions as they are (postgres_pool.py).
    SQLite: the engine that reads apart from its transactions (sqlite_reads.py)."""
    if is_postgres(url):
        expanded = expand_db_url(_with_pool_defaults(url))
        expanded["engine"] = "services.kit.postgres_pool"
        return expanded
    expanded = expand_db_url(url)
    if expanded["engine"] == "tortoise.backends.sqlite":
        expanded["engine"] = "services.kit.sqlite_reads"
    return expanded


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    url = database_url or get_settings().database_url
    return {
        "connections": {"default": _connection(url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `tortoise makemigrations` reads TORTOISE_ORM; compute it lazily from the settings.
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)


def is_postgres(database_url: str | None = None) -> bool:
    url = database_url or get_settings().database_url
    return url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def param(connection: Any, number: int) -> str:
    """The `number`-th (from 1) parameter of raw SQL on `connection`: `$n` for asyncpg,
    `?n` for SQLite (numbered, so one value may be used several times)."""
    prefix = "$" if connection.capabilities.dialect == "postgres" else "?"
    return f"{prefix}{number}"


async def insert_unnest(
    connection: Any,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    *,
    returning: str = "",
) -> list[dict[str, Any]]:
    """PostgreSQL only: `rows` inserted into `table` by one `INSERT ... SELECT FROM
    unnest(...)` of one array per column (`columns`: name and PostgreSQL type), the
    fastest way short of COPY to write many rows from a transaction, with no model
    object per row. Returns the `returning` columns of each row (match them to the rows
    by a key of their own: PostgreSQL does not promise their order)."""
    names = ", ".join(f'"{name}"' for name, _type in columns)
    arrays = ", ".join(f"${n}::{pg_type}[]" for n, (_name, pg_type) in enumerate(columns, 1))
    values = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in columns]
    sql = f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays})'
    if returning:
        return list(await connection.execute_query_dict(f"{sql} RETURNING {returning}", values))
    await connection.execute_query(sql, values)
    return []


async def insert_rows(
    model: type[Model], columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """Many rows of `model` in the caller's transaction: on PostgreSQL by `insert_unnest`
    (`columns`: column name - a foreign key's `<name>_id` - and PostgreSQL type; "jsonb"
    values are encoded here), else by the ORM's bulk_create. The model's Python-side
    defaults (auto_now_add...) are not applied on PostgreSQL: give every column the row
    needs."""
    if not rows:
        return
    async with in_transaction() as connection:
        if connection.capabilities.dialect != "postgres":
            names = [name for name, _type in columns]
            await model.bulk_create(
                [model(**dict(zip(names, row, strict=True))) for row in rows], using_db=connection
            )
            return
        await insert_unnest(connection, model._meta.db_table, columns, _encoded(columns, rows))


async def insert_with_ids(
    model: type[Model], columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """`insert_rows`, answering each row's new id in the order of `rows`. On PostgreSQL
    the ids are taken from the table's sequence first (one statement), then every row
    is written with its id by one `insert_unnest`; elsewhere a row at a time."""
    if not rows:
        return []
    async with in_transaction() as connection:
        if connection.capabilities.dialect != "postgres":
            names = [name for name, _type in columns]
            made = [
                await model.create(**dict(zip(names, row, strict=True)), using_db=connection)
                for row in rows
            ]
            return [int(one.pk) for one in made]
        table = model._meta.db_table
        taken = await connection.execute_query_dict(
            "SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id"
            " FROM generate_series(1, $2) ORDER BY 1",
            [table, len(rows)],
        )
        ids = [int(row["id"]) for row in taken]
        await insert_unnest(
            connection,
            table,
            [("id", "bigint"), *columns],
            [[new_id, *row] for new_id, row in zip(ids, _encoded(columns, rows), strict=True)],
        )
        return ids


def _encoded(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """`rows` as `insert_unnest` takes them: the "jsonb" columns' values JSON-encoded."""
    encode = [pg_type == "jsonb" for _name, pg_type in columns]
    return [
        [JSON_DUMPS(value) if json else value for value, json in zip(row, encode, strict=True)]
        for row in rows
    ]
