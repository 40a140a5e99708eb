"""Simulated years of lending (the `wide` scenario of `simulation/`), every invariant
checked every day (`simulation/invariants.py`), on this run's backend.

- Fixed (seed, start) pairs: the run's own start (TEST_CLOCK_START, so running the suite
  with another start date runs these years from it), a leap day (with the secondary
  market switched on: `--transfers`), a month end.
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


async def _year(app, seed: int, start: date, *, transfers: bool = False) -> runner.Summary:
    config = RunConfig(seed=seed, start=start, days=365, transfers=transfers)
    summary = await runner.run(config, app.state.sandbox.sandbox)
    assert summary.failure is None, f"{summary.failure}\nreplay: {summary.replay}"
    assert summary.days == 365
    return summary


@pytest.mark.parametrize(
    ("seed", "start", "transfers"),
    [
        pytest.param(20261129, date.fromisoformat(TEST_CLOCK_START), False, id="the-run's-start"),
        pytest.param(29, date(2028, 2, 29), True, id="leap-day-with-transfers"),
        pytest.param(31, date(2027, 1, 31), False, id="january-31"),
    ],
)
async def test_a_simulated_year_keeps_every_invariant_every_day(app, seed, start, transfers):
    summary = await _year(app, seed, start, transfers=transfers)
    # It exercised what it is meant to: every method, a crowd loan and a 1-fen claim,
    # lateness and penalty, early repayment before and after an advance, the reserve
    # switched off and on, withdrawals racing repayments, loans settled. With transfers
    # (issue 20): claims listed and bought in part, resold, two buyers racing for the
    # rest, a loan with sold claims settled; every holding exact to the fen and the
    # holdings' outstanding principal adding up to the loan's every day.
    missed = [what for what, done in summary.coverage.items() if not done]
    assert not missed, (missed, summary.stats)
    assert summary.loans == 24
    assert summary.advances >= 1
    if transfers:
        assert summary.stats["purchases"] >= 5, summary.stats
        assert summary.replay.endswith("--transfers")


async def test_this_runs_random_year(app):
    await _year(app, RANDOM_SEED, RANDOM_START)
