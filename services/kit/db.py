"""Tortoise ORM configuration shared by the app, the CLI, migrations and tests."""

from __future__ import annotations

from typing import Any

from models import MODEL_MODULES
from services.kit.settings import get_settings


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    url = database_url or get_settings().database_url
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
