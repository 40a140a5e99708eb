"""The daily figure snapshots (issue 19): a closed day's platform figures, risk figures
and platform returns are computed once, the day after, by the `analytics_snapshots` job;
the queries then read them. Shown over the hand-built book of test_figures: the stored
answers are the live ones to the fen, they are what the API serves for that day, a
second run of the job changes nothing, today is never stored, and moving the clock runs
the job before the monthly disclosure.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

import pytest

from app import analytics_command
from models.disclosures import FigureSnapshot
from services.analytics import snapshots
from services.errors import InvalidInputError
from services.jobs import days as clock_days
from services.platform import clock
from tests.analytics.test_figures import PLATFORM, RISK, TODAY, _book, _staff_token
from tests.factories import gql

pytestmark = pytest.mark.asyncio(loop_scope="session")

RETURNS = """query ($asOf: Date) { platformReturns(asOf: $asOf) {
  lenderId asOf invested received outstandingPrincipal realisedXirr expectedXirr } }"""
PAST = "2026-08-31"
NEXT_DAY = TODAY + timedelta(days=1)
# What the snapshot test asks for each day: a period other than the snapshot's own (the
# month), which only the loans disbursed answer, and the default.
ASKED = [
    (PLATFORM, "platformFigures", {"asOf": TODAY.isoformat()}),
    (PLATFORM, "platformFigures", {"asOf": TODAY.isoformat(), "since": "2026-06-01"}),
    (PLATFORM, "platformFigures", {"asOf": PAST, "since": "2026-07-01"}),
    (RISK, "riskFigures", {"asOf": TODAY.isoformat()}),
    (RISK, "riskFigures", {"asOf": PAST}),
    (RETURNS, "platformReturns", {"asOf": TODAY.isoformat()}),
    (RETURNS, "platformReturns", {"asOf": PAST}),
]


async def _answers(client: Any, token: str) -> list[dict[str, Any]]:
    found = []
    for document, field, variables in ASKED:
        body = await gql(client, document, variables, token=token)
        assert "errors" not in body, body
        found.append(body["data"][field])
    return found


async def _rows() -> list[tuple[Any, ...]]:
    return [
        (row.day, row.figure, row.payload, row.created_at)
        for row in await FigureSnapshot.all().order_by("day", "figure")
    ]


async def test_a_closed_day_is_served_from_its_snapshot_to_the_fen(client):
    await _book()
    token = await _staff_token()
    live = await _answers(client, token)  # today and a past day, computed from the book

    await clock.start_at(NEXT_DAY)
    taken = await snapshots.take_missing()
    week = [TODAY - timedelta(days=n) for n in range(snapshots.CATCH_UP_DAYS - 1, -1, -1)]
    assert taken.days == week  # the last seven closed days, oldest first; not today
    assert await snapshots.take_day(date.fromisoformat(PAST)) is True  # a backfill
    stored = await _rows()
    assert len(stored) == 3 * (len(week) + 1)
    assert not await FigureSnapshot.filter(day=NEXT_DAY).exists()

    assert await _answers(client, token) == live  # the same answers, from the snapshots

    # Served from the row, not recomputed: a changed payload shows (the period figures
    # are still counted from the loans, so another `since` is answered right).
    row = await FigureSnapshot.get(day=TODAY, figure="platform")
    await FigureSnapshot.filter(id=row.id).update(
        payload={**row.payload, "outstanding_principal": 1, "members": 99}
    )
    body = await gql(
        client, PLATFORM, {"asOf": TODAY.isoformat(), "since": "2026-06-01"}, token=token
    )
    shown = body["data"]["platformFigures"]
    assert (shown["outstandingPrincipal"], shown["membersRegistered"]) == ("0.01", 99)
    assert (shown["since"], shown["periodVolume"]) == ("2026-06-01", live[1]["periodVolume"])
    assert shown["periodVolume"] != live[0]["periodVolume"]
    await FigureSnapshot.filter(id=row.id).update(payload=row.payload)

    # Run again (a second worker, or the job the next time): nothing is written.
    stored = await _rows()
    again = await snapshots.take_missing()
    assert again.days == []
    assert again.summary == "no day to snapshot"
    assert await snapshots.take_day(TODAY) is False
    assert await _rows() == stored


async def test_today_and_unsnapshotted_days_are_computed_live(client):
    await _book()
    token = await _staff_token()
    live = await _answers(client, token)
    await clock.start_at(NEXT_DAY)
    assert await _answers(client, token) == live  # no job has run: all live, the same
    assert await FigureSnapshot.all().count() == 0


async def test_moving_the_clock_runs_the_job_before_the_disclosure(client):
    await _book()
    moved = await clock_days.advance_clock(days=2)
    names = [run.job for run in moved.runs if run.day == moved.runs[0].day]
    assert names.index("analytics_snapshots") < names.index("publish_disclosure")
    ours = [run for run in moved.runs if run.job == "analytics_snapshots"]
    assert [run.outcome.value for run in ours] == ["DONE", "DONE"]
    # The first day passed stored the week before it, the second only the day before.
    assert ours[1].summary == f"figures of 1 day(s) stored: {NEXT_DAY.isoformat()}"
    days = await FigureSnapshot.filter(figure="risk").order_by("day").values_list("day", flat=True)
    assert days[-2:] == [TODAY, NEXT_DAY]


async def test_the_backfill_command_takes_older_days_once_and_refuses_open_ones(client):
    await _book()
    token = await _staff_token()
    live = await _answers(client, token)
    await clock.start_at(NEXT_DAY)
    parser = argparse.ArgumentParser()
    analytics_command.add_arguments(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["analytics", "snapshot", "--from", "2026-08-30", "--to", PAST])
    said = await analytics_command.snapshot(args.first, args.last)
    assert said == "2026-08-30  stored\n2026-08-31  stored"
    again = await analytics_command.snapshot(date(2026, 8, 31), date(2026, 9, 1))
    assert again == "2026-08-31  already there\n2026-09-01  stored"
    assert await FigureSnapshot.filter(figure="platform_returns").count() == 3
    assert await _answers(client, token) == live  # 08-31 from its snapshot, the rest live

    stored = await _rows()
    for first, last in [
        (TODAY, NEXT_DAY),  # today is not over
        (date(2025, 5, 31), date(2025, 6, 1)),  # before the platform's first day
        (date(2025, 6, 1), date(2026, 6, 2)),  # 367 days
        (date(2026, 9, 2), date(2026, 9, 1)),
    ]:
        with pytest.raises(InvalidInputError):
            await analytics_command.snapshot(first, last)
    assert await _rows() == stored
