"""The statement counter the statement-count tests and benches rely on
(tests/statements.py) sees every statement, inside a transaction as well as outside, on
the engine the app runs on: a test comparing two counts must not compare two zeros."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from models.members import User
from tests.statements import recording_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_statements_inside_and_outside_a_transaction_are_counted(database):
    with recording_statements() as outside:
        await User.filter(id=-1).first()
    assert len(outside) == 1

    with recording_statements() as inside:
        async with in_transaction():
            await User.filter(id=-1).first()
            await User.filter(id=-2).exists()
    assert [statement.sql.split()[0] for statement in inside] == ["SELECT", "SELECT"]
