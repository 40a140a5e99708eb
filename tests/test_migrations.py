"""The migrations in migrations/ build exactly the schema the models describe."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.models import Model

from models import MODEL_MODULES
from services.identity.permissions import DEFAULT_ROLES
from services.kit.db import tortoise_config
from services.loans.schedule import CURRENT_SCHEDULE_RULES, ScheduleRules
from tests.conftest import BACKEND
from tests.own_database import run_on_own_database

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _columns(table: str) -> set[str]:
    connection = connections.get("default")
    if BACKEND == "postgres":
        rows = await connection.execute_query_dict(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table]
        )
        return {row["column_name"] for row in rows}
    rows = await connection.execute_query_dict(f"PRAGMA table_info('{table}')")
    return {row["name"] for row in rows}


async def test_migrated_database_has_every_model_table_and_column(database):
    models = Tortoise.apps["models"].values()
    assert models
    for model in models:
        expected = set(model._meta.db_fields)
        found = await _columns(model._meta.db_table)
        assert found, f"table {model._meta.db_table} is missing"
        assert expected <= found, f"{model._meta.db_table}: missing {expected - found}"
        assert found <= expected, f"{model._meta.db_table}: extra {found - expected}"


async def test_models_have_no_changes_missing_from_migrations(database):
    """`tortoise makemigrations` would write nothing: every model change has a migration."""
    apps_config = tortoise_config(database)["apps"]
    writers = await MigrationAutodetector(Tortoise.apps, apps_config).changes()
    pending = [(writer.name, [type(op).__name__ for op in writer.operations]) for writer in writers]
    assert pending == []


async def test_the_indexes_made_by_sql_survive_later_migrations(database):
    """0029 makes indexes by RunSQL; SQLite makes a table again to alter a column (0031
    on `claims`), which would lose them unless made again."""
    spec = importlib.import_module("migrations.0029_analytics_indexes")
    wanted = {name for name, _table, _column in spec.INDEXES} | {spec.TO_RESERVE}
    connection = connections.get("default")
    if BACKEND == "postgres":
        rows = await connection.execute_query_dict("SELECT indexname AS name FROM pg_indexes")
    else:
        rows = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        )
    assert wanted <= {row["name"] for row in rows}


async def test_model_docstrings_have_no_semicolons():
    """Tortoise turns a model's docstring into a table comment and splits migration SQL on
    semicolons, so a semicolon there breaks `migrate` (seen with tortoise-orm 1.1.9)."""
    offenders = [
        f"{module_name}.{name}"
        for module_name in MODEL_MODULES
        for name, value in vars(importlib.import_module(module_name)).items()
        if isinstance(value, type)
        and issubclass(value, Model)
        and value is not Model
        and ";" in (value.__doc__ or "")
    ]
    assert offenders == []


async def test_loans_written_before_0020_keep_the_floor_rule(tmp_path):
    """0021 adds `loans.schedule_rules`: a loan already there was published under the
    floor rule of equal principal and keeps it (1), a loan written now gets the
    current rule (2). On a database of its own, migrated in a process of its own."""
    found = await run_on_own_database("tests.loans_before_0021", "0020", tmp_path)
    assert found == {
        "old": ScheduleRules.FLOOR,
        "new": CURRENT_SCHEDULE_RULES,
    }


async def test_roles_seeded_before_0042_get_customers_and_help_manage(tmp_path):
    """0042 adds customers:manage to cs, 0045 help:manage to cs and admin, in a database
    seeded before them (seed_roles never changes a role that exists), and nothing else: a
    role an administrator removed is not made again, one whose grants were emptied gets
    none back."""
    found = await run_on_own_database("tests.roles_before_0042", "0041", tmp_path)
    expected_roles = sorted(name for name in DEFAULT_ROLES if name != "auditor")
    assert found == {
        "help_manage": ["admin", "cs"],
        "customers_manage": ["admin", "cs"],
        "roles": expected_roles,
        "collector": [],
    }
