"""Issue 13: the simulated runs that went red, replayed exactly (the `classic` scenario is
the issue 7 year draw for draw). Each failed on the old risk-reserve advance split
(`services/repayments/reserve.py` before f52c09c): a holder paid one fen more principal
than the claim holds, or a fen of interest to the wrong holder. Run on the old split,
every one of them fails again as it did; here each must keep every invariant up to a
few days past the day it broke. Seeds 3 and 9 stopped in the simulation's own set-up
(no lender had room for a share) and must now run.

| seed     | start      | in the issue | replayed on the old split (this file's invariants)      |
|----------|------------|--------------|---------------------------------------------------------|
| 20261129 | 2026-12-03 | day 250      | day 247: claim 44 had 57,041 fen of principal of 57,040 |
| 20261129 | 2026-12-25 | day 250      | day 247: claim 42 had 95,694 of 95,693                  |
| 1        | 2026-12-04 | day 342      | day 333: claim 34 had 106,311 of 106,310                |
| 4        | 2026-12-04 | day 148      | day 148: loan 1 interest 233.04 / 241.71, not .03 / .72 |
| 5        | 2026-12-04 | day 166      | day 135: claim 18 had 15,918 of 15,917                  |
| 6        | 2026-12-04 | day 246      | day 177: claim 64 had 713,773 of 713,772                |
| 11       | 2026-12-04 | day 173      | day 173: loan 17 interest 213.66 / 332.43, not .67 / .42 |
| 12       | 2026-12-04 | day 143      | day 141: claim 28 had 761,973 of 761,972                |
| 3, 9     | 2026-12-04 | set-up       | IndexError: no lender with room for a share             |

The issue's check saw the overpayment when the borrower repaid the advanced
installment; these invariants also count what the holder had from the reserve, so they
see it on the day of the advance, a few days earlier.
"""

from __future__ import annotations

from datetime import date

import pytest

from simulation import runner
from simulation.config import RunConfig

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASES = [
    pytest.param(20261129, date(2026, 12, 3), 255, id="57041-of-57040"),
    pytest.param(20261129, date(2026, 12, 25), 255, id="95694-of-95693"),
    pytest.param(1, date(2026, 12, 4), 345, id="seed-1"),
    pytest.param(4, date(2026, 12, 4), 152, id="seed-4"),
    pytest.param(5, date(2026, 12, 4), 170, id="seed-5"),
    pytest.param(6, date(2026, 12, 4), 250, id="seed-6"),
    pytest.param(11, date(2026, 12, 4), 177, id="seed-11"),
    pytest.param(12, date(2026, 12, 4), 147, id="seed-12"),
    pytest.param(3, date(2026, 12, 4), 20, id="seed-3-starts"),
    pytest.param(9, date(2026, 12, 4), 20, id="seed-9-starts"),
]


@pytest.mark.parametrize(("seed", "start", "days"), CASES)
async def test_a_run_that_went_red_keeps_every_invariant(app, seed, start, days):
    config = RunConfig(seed=seed, start=start, days=days, scenario="classic")
    summary = await runner.run(config, app.state.sandbox.sandbox)
    assert summary.failure is None, f"{summary.failure}\nreplay: {summary.replay}"
    assert summary.days == days
    assert summary.loans == min(20, (days + 2) // 3)
