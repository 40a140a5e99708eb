"""One simulated run inside a running platform: a migrated, empty database (roles and
platform accounts seeded), the broker started, and the app's embedded sandbox provider
(`sandbox`). `python -m app simulate` makes all that on a scratch database; the tests
call `run` with their fixtures'.

The business clock is set to the run's start (00:00 UTC) and moved one day at a time;
after each day every invariant is checked (`simulation.invariants`). The first one
broken, or any unexpected error, ends the run: the summary names it, the day and the
date. Nothing reads the wall clock except the run's duration in seconds.
"""

from __future__ import annotations

import hashlib
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from models.ledger import Posting
from models.loans import Loan
from models.repayments import Receipt, Repayment, ReserveAdvance
from services.platform import clock
from simulation import invariants
from simulation.classic import ADVANCE_AFTER_DAYS, Classic
from simulation.config import RunConfig
from simulation.people import People
from simulation.wide import Wide
from simulation.world import World


class Scenario(Protocol):
    name: str

    async def set_up(self) -> None: ...

    async def day(self, number: int, today: date) -> None: ...

    async def coverage(self) -> dict[str, bool]: ...


@dataclass
class Failure:
    invariant: str  # an invariant's name, or "error:<exception type>"
    day: int
    date: str
    detail: str


@dataclass
class Summary:
    ok: bool
    scenario: str
    seed: int
    start: str
    days: int  # days simulated (up to the failure)
    loans: int
    repayments: int
    advances: int
    holders_paid: int  # payments to holders: their receipts and the reserve's advances
    invariant_checks: int
    seconds: float
    failure: Failure | None = None
    replay: str = ""
    coverage: dict[str, bool] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    books: str = ""  # a digest of each day's postings and closing balances: a replay's is the same

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


OnDay = Callable[[int, date, World], None]


def _scenario(config: RunConfig, world: World) -> Scenario:
    if config.scenario == "classic":
        return Classic(world)
    return Wide(world, config)


async def _counts(summary: Summary) -> None:
    summary.loans = await Loan.all().count()
    summary.repayments = await Repayment.filter(status="DONE").count()
    summary.advances = await ReserveAdvance.all().count()
    summary.holders_paid = await Receipt.filter(to_reserve=False).count() + summary.advances


async def books_digest() -> str:
    """The books in one short string: for each business day, the postings written that
    day (journal kind, account, amount) as a sorted list and each touched account's
    balance at the end of the day. Two runs that did the same things have the same
    digest. Two operations raced on purpose (a repayment and a withdrawal confirmed at
    the same moment) commit in either order on PostgreSQL: that changes posting ids and
    the running balances between them, never what a day wrote or where it left each
    account, so neither is in the digest."""
    rows = (
        await Posting.all()
        .order_by("id")
        .values_list(
            "journal__business_date", "journal__kind", "account_id", "amount", "balance_after"
        )
    )
    days: dict[Any, tuple[list[tuple[str, int, int]], dict[int, int]]] = {}
    for day, kind, account_id, amount, balance_after in rows:
        postings, closing = days.setdefault(day, ([], {}))
        postings.append((kind, account_id, amount))
        closing[account_id] = balance_after  # the last one written: the day's closing
    digest = hashlib.sha256()
    for day in sorted(days):
        postings, closing = days[day]
        digest.update(repr((day, sorted(postings), sorted(closing.items()))).encode())
    return digest.hexdigest()[:16]


async def run(
    config: RunConfig, sandbox: Any, *, on_day: OnDay | None = None, postgres: bool = False
) -> Summary:
    """Simulate `config` in the running platform; see the module docstring."""
    started = time.monotonic()
    await clock.start_at(config.start)
    people = People(sandbox)
    book = invariants.Book(
        loan_ids=[],
        reserve_funded_fen=0,
        advance_after_days=ADVANCE_AFTER_DAYS,
        guarantees=config.guarantees,
    )
    world = World(rng=random.Random(config.seed), people=people, book=book)
    scenario = _scenario(config, world)
    summary = Summary(
        ok=True,
        scenario=config.scenario,
        seed=config.seed,
        start=config.start.isoformat(),
        days=0,
        loans=0,
        repayments=0,
        advances=0,
        holders_paid=0,
        invariant_checks=0,
        seconds=0.0,
        replay=config.replay(postgres=postgres),
    )
    people.install()
    day = 0
    today = config.start
    try:
        await scenario.set_up()
        for day in range(config.days):
            if day:
                await clock.advance(days=1)
            today = await clock.today()
            if today != config.start + timedelta(days=day):
                raise invariants.Broken("clock.one_day_a_day", f"{today} on day {day}")
            await scenario.day(day, today)
            await invariants.check_all(book, sandbox, today)
            world.stats["reserve advances"] = await ReserveAdvance.all().count()
            world.stats["most open installments paid in part"] = book.most_paid_in_part
            world.stats["quiet days"] = book.quiet_days
            summary.days = day + 1
            if on_day is not None:
                on_day(day, today, world)
    except invariants.Broken as broken:
        summary.failure = Failure(broken.name, day, today.isoformat(), broken.detail)
    except Exception as error:  # a refusal or a crash the scenario did not expect
        where = traceback.extract_tb(error.__traceback__)[-1]
        summary.failure = Failure(
            f"error:{type(error).__name__}",
            day,
            today.isoformat(),
            f"{error} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})",
        )
    finally:
        people.uninstall()
    summary.ok = summary.failure is None
    summary.invariant_checks = book.checks
    await _counts(summary)
    summary.books = await books_digest()
    if summary.ok and summary.days == config.days:
        summary.coverage = await scenario.coverage()
    summary.stats = dict(sorted(world.stats.items()))
    summary.seconds = round(time.monotonic() - started, 1)
    return summary
