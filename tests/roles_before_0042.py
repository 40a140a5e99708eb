"""Run by tests/test_migrations.py in a process of its own (migrating moves Tortoise's
global state): on an empty database, migrate to 0041, seed the roles as they were then
(cs and admin without help:manage, cs without customers:manage; an administrator had
removed the `collector` role's grants and the `auditor` role altogether), migrate to the
latest (0042 grants customers:manage, 0045 help:manage), and print as JSON each role's
grants of them.

    python -m tests.roles_before_0042 DATABASE_URL
"""

from __future__ import annotations

import asyncio
import json
import sys

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from models.access import Role, RolePermission
from services.identity.permissions import DEFAULT_ROLES, Permission
from services.kit.db import tortoise_config

BEFORE = "models.0041_collateral_documents"


async def main(url: str) -> dict[str, list[str]]:
    config = tortoise_config(url)
    await migrate(config=config, target=BEFORE)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    for name, (description, is_staff, permissions) in DEFAULT_ROLES.items():
        if name == "auditor":
            continue  # removed by an administrator
        await Role.create(name=name, description=description, is_staff=is_staff)
        later = {Permission.HELP_MANAGE} | (
            {Permission.CUSTOMERS_MANAGE} if name == "cs" else set()
        )
        granted = [] if name == "collector" else sorted(permissions - later)
        for code in granted:
            await RolePermission.create(role_id=name, permission=str(code))
    await Tortoise.close_connections()

    await migrate(config=config)
    await Tortoise.close_connections()

    await Tortoise.init(config=config)
    try:
        rows = await RolePermission.filter(permission=str(Permission.HELP_MANAGE)).values_list(
            "role_id", flat=True
        )
        customers = await RolePermission.filter(
            permission=str(Permission.CUSTOMERS_MANAGE)
        ).values_list("role_id", flat=True)
        return {
            "help_manage": sorted(str(row) for row in rows),
            "customers_manage": sorted(str(row) for row in customers),
            "roles": sorted(str(name) for name in await Role.all().values_list("name", flat=True)),
            "collector": sorted(
                str(code)
                for code in await RolePermission.filter(role_id="collector").values_list(
                    "permission", flat=True
                )
            ),
        }
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
