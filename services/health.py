"""Readiness: the database and the broker answer."""

from __future__ import annotations

from tortoise import connections

from services.kit.broker import get_broker


async def database_ready() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means "not ready"
        return False
    return True


async def readiness() -> dict[str, bool]:
    return {"database": await database_ready(), "broker": await get_broker().ping()}
