"""`python -m app analytics snapshot --from DAY [--to DAY]`: store the figure snapshots of
closed days the daily job did not reach (it takes the last seven), e.g. after deploying
on a book with history (docs/figures.md). Days already taken are left as they are."""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

from app import command_runner
from services.analytics import snapshots
from services.analytics.window import MAX_PERIOD_DAYS, first_day
from services.errors import InvalidInputError
from services.platform import clock


def add_arguments(commands: Any) -> None:
    analytics = commands.add_parser("analytics", help="figure snapshots of closed days")
    actions = analytics.add_subparsers(dest="action", required=True)
    snapshot = actions.add_parser("snapshot", help="store the snapshots of closed days")
    snapshot.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    snapshot.add_argument(
        "--to", dest="last", type=date.fromisoformat, default=None, help="default yesterday"
    )


async def snapshot(first: date, last: date | None) -> str:
    """Snapshot each closed day from `first` to `last` (default yesterday), oldest first;
    what it did, one line a day. InvalidInputError for a day not closed yet, before the
    platform's first day, or a range over `MAX_PERIOD_DAYS` days."""
    today = await clock.today()
    last = last or today - timedelta(days=1)
    if last >= today:
        raise InvalidInputError(f"--to {last} is not a closed day (today is {today})")
    if first < await first_day(today):
        raise InvalidInputError(f"--from {first} is before the platform's first day")
    if first > last or (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInputError(f"--from must be on or before --to, at most {MAX_PERIOD_DAYS} days")
    lines = []
    day = first
    while day <= last:
        stored = await snapshots.take_day(day)
        lines.append(f"{day}  {'stored' if stored else 'already there'}")
        day += timedelta(days=1)
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    return command_runner.run(f"analytics {args.action}", lambda: snapshot(args.first, args.last))
