"""Tortoise ORM configuration shared by the app, the CLI, migrations and tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    url = database_url or get_settings().database_url
    if is_postgres(url):
        url = _with_pool_defaults(url)
    return {
        "connections": {"default": url},
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
