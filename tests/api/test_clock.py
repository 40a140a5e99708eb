"""The business clock moves forward in dev/test only, by whole days, for every process."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.system import ClockState
from services.clock import system_now
from tests.factories import create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLOCK = "{ businessClock { today now } }"
ADVANCE = """mutation ($days: Int!) { devAdvanceClock(input: {days: $days}) {
  __typename ... on BusinessClock { today } ... on DevAdvanceClockError { code field } } }"""


async def test_advancing_the_clock_moves_today_for_every_reader(client):
    _admin, phone = await create_staff("admin")
    token = await token_for(phone)
    before = date.fromisoformat((await gql(client, CLOCK))["data"]["businessClock"]["today"])
    assert before == system_now().date()

    moved = (await gql(client, ADVANCE, {"days": 3}, token=token))["data"]["devAdvanceClock"]

    assert date.fromisoformat(moved["today"]) == before + timedelta(days=3)
    after = (await gql(client, CLOCK))["data"]["businessClock"]
    assert date.fromisoformat(after["today"]) == before + timedelta(days=3)
    # Stored in the database, so another process reads the same offset.
    assert (await ClockState.get(id=1)).offset_seconds == 3 * 86400


@pytest.mark.parametrize("days", [0, -1, 3661])
async def test_out_of_range_days_are_refused_and_change_nothing(client, days):
    _admin, phone = await create_staff("admin")
    result = await gql(client, ADVANCE, {"days": days}, token=await token_for(phone))
    assert result["data"]["devAdvanceClock"] == {
        "__typename": "DevAdvanceClockError",
        "code": "INVALID",
        "field": "days",
    }
    assert not await ClockState.exists()
