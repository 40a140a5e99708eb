"""Simulated years of lending (the `wide` scenario of `simulation/`), every invariant
checked every day (`simulation/invariants.py`), on this run's backend.

- Fixed (seed, start) pairs: the run's own start (TEST_CLOCK_START, so running the suite
  with another start date runs these years from it), a leap day (with the secondary
  market, guarantee companies and collateral switched on: `--transfers --guarantees`),
  a month end.
- One fresh random pair per run of `scripts/test`, which draws it and prints its replay
  command before the tests start (SIMULATION_RANDOM_SEED / SIMULATION_RANDOM_START; a
  plain pytest run without them takes a fixed pair).

A failure names the broken invariant, the day and the command that replays that run.
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from simulation import runner
from simulation.config import RunConfig
from tests.conftest import TEST_CLOCK_START

pytestmark = pytest.mark.asyncio(loop_scope="session")

RANDOM_SEED = int(os.environ.get("SIMULATION_RANDOM_SEED", "424242"))
RANDOM_START = date.fromisoformat(os.environ.get("SIMULATION_RANDOM_START", "2029-07-15"))


async def _year(
    app, seed: int, start: date, *, transfers: bool = False, guarantees: bool = False
) -> runner.Summary:
    config = RunConfig(seed=seed, start=start, days=365, transfers=transfers, guarantees=guarantees)
    summary = await runner.run(config, app.state.sandbox.sandbox)
    assert summary.failure is None, f"{summary.failure}\nreplay: {summary.replay}"
    assert summary.days == 365
    return summary


@pytest.mark.parametrize(
    ("seed", "start", "extras"),
    [
        pytest.param(20261129, date.fromisoformat(TEST_CLOCK_START), False, id="the-run's-start"),
        pytest.param(30, date(2028, 2, 29), True, id="leap-day-with-transfers-and-guarantees"),
        pytest.param(31, date(2027, 1, 31), False, id="january-31"),
    ],
)
async def test_a_simulated_year_keeps_every_invariant_every_day(app, seed, start, extras):
    summary = await _year(app, seed, start, transfers=extras, guarantees=extras)
    # It exercised what it is meant to: every method, a crowd loan and a 1-fen claim,
    # lateness and penalty, early repayment before and after an advance, the reserve
    # switched off and on, withdrawals racing repayments, loans settled. With transfers
    # (issue 20): claims listed and bought in part, resold, two buyers racing for the
    # rest, a loan with sold claims settled; every holding exact to the fen and the
    # holdings' outstanding principal adding up to the loan's every day. With guarantees
    # (issue 21): guarantees issued and declined, compensations, recoveries by the
    # guarantor, its margin drawn and released, collateral disposed at a loss and with a
    # surplus; every company's books and every disposal's proceeds adding up every day.
    missed = [what for what, done in summary.coverage.items() if not done]
    assert not missed, (missed, summary.stats)
    assert summary.loans == 24
    assert summary.advances >= 1
    if extras:
        stats = summary.stats
        assert stats["purchases"] >= 5, stats
        for what in (
            "compensations",
            "recoveries",
            "margin draws",
            "disposals at a loss",
            "disposals with a surplus",
        ):
            assert stats[what] >= 1, (what, stats)
        assert summary.replay.endswith("--transfers --guarantees")


async def test_this_runs_random_year(app):
    await _year(app, RANDOM_SEED, RANDOM_START)
