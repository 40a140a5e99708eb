"""The business clock moves forward in dev/test only, by whole days, for every process."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.system import ClockState
from services.kit.settings import get_settings
from services.platform import clock
from tests.conftest import TEST_CLOCK_START
from tests.factories import create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLOCK = "{ businessClock { today now } }"
ADVANCE = """mutation ($days: Int!) { devAdvanceClock(input: {days: $days}) {
  __typename ... on ClockAdvanced { today } ... on DevAdvanceClockError { code field } } }"""


async def test_advancing_the_clock_moves_today_for_every_reader(client):
    _admin, phone = await create_staff("admin")
    token = await token_for(phone)
    before = date.fromisoformat((await gql(client, CLOCK))["data"]["businessClock"]["today"])
    assert before == date.fromisoformat(TEST_CLOCK_START)  # CLOCK_START, not the real date
    offset = (await ClockState.get(id=1)).offset_seconds

    moved = (await gql(client, ADVANCE, {"days": 3}, token=token))["data"]["devAdvanceClock"]

    assert date.fromisoformat(moved["today"]) == before + timedelta(days=3)
    after = (await gql(client, CLOCK))["data"]["businessClock"]
    assert date.fromisoformat(after["today"]) == before + timedelta(days=3)
    # Stored in the database, so another process reads the same offset.
    assert (await ClockState.get(id=1)).offset_seconds == offset + 3 * 86400


@pytest.mark.parametrize("days", [0, -1, 3661])
async def test_out_of_range_days_are_refused_and_change_nothing(client, days):
    _admin, phone = await create_staff("admin")
    before = await clock.now()  # the clock's row, written at CLOCK_START
    offset = (await ClockState.get(id=1)).offset_seconds
    result = await gql(client, ADVANCE, {"days": days}, token=await token_for(phone))
    assert result["data"]["devAdvanceClock"] == {
        "__typename": "DevAdvanceClockError",
        "code": "INVALID",
        "field": "days",
    }
    assert (await ClockState.get(id=1)).offset_seconds == offset
    assert await clock.today() == before.date() == date.fromisoformat(TEST_CLOCK_START)


async def test_a_new_database_starts_its_clock_at_clock_start(monkeypatch):
    """CLOCK_START pins where a new database's business clock starts (00:00 UTC of that
    day), whatever the real date; without it the clock is real time."""
    pinned = get_settings().model_copy(update={"clock_start": date(2028, 2, 29)})
    monkeypatch.setattr(clock, "get_settings", lambda: pinned)
    clock.reset_cache()
    now = await clock.now()
    assert now.date() == date(2028, 2, 29)
    assert (now.hour, now.minute) == (0, 0)
    await clock.advance(days=1)
    assert await clock.today() == date(2028, 3, 1)

    real = get_settings().model_copy(update={"clock_start": None})
    monkeypatch.setattr(clock, "get_settings", lambda: real)
    await ClockState.all().delete()
    clock.reset_cache()
    assert await clock.today() == clock.system_now().date()
    assert not await ClockState.exists()  # real time writes nothing until moved
