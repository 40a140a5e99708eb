"""`python -m app simulate` from the outside: bad input is one line and exit status 2
with nothing written; a run prints one JSON summary as its last line; a broken
invariant exits 1 with its name, the day and the replay command; a sweep runs its pairs
in processes of their own. On the PostgreSQL run of the suite the command makes (and
drops) its own database on that server, as DATABASE_URL selects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.kit.settings import ROOT

SMALL = ["--members", "6", "--loans", "2"]


def _simulate(
    tmp_path: Path, *args: str, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    if code is None:
        command = [sys.executable, "-m", "app", "simulate", *args]
    else:
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _left_behind(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("lendbridge"))


@pytest.mark.parametrize(
    "args",
    [
        ["--seed", "1", "--start", "2027-01-31", "--bogus"],
        ["--seed", "-1", "--start", "2027-01-31"],
        ["--seed", "1", "--start", "2027-01-31", "--days", "-5"],
        ["--seed", "1", "--start", "2027-01-31", "--days", "0"],
        ["--seed", "1", "--start", "2027-01-31", "--days", "many"],
        ["--seed", "1", "--start", "2027-02-30"],
        ["--seed", "1", "--start", "31/01/2027"],
        ["--seed", "1"],
        ["--seed", "1", "--start", "2027-01-31", "--members", "3", "--loans", "5"],
        ["--seed", "1", "--start", "2027-01-31", "--scenario", "nope"],
        ["--seed", "1", "--start", "2027-01-31", "--scenario", "classic", "--loans", "3"],
        ["--seed", "1", "--start", "2027-01-31", "--scenario", "classic", "--transfers"],
        ["--seed", "1", "--start", "2027-01-31", "--scenario", "classic", "--guarantees"],
        ["--sweep", "2", "--seed", "1"],
        ["--sweep", "0"],
    ],
)
def test_bad_input_is_one_line_and_exit_status_2_with_nothing_written(tmp_path, args):
    result = _simulate(tmp_path, *args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("simulate: "), result.stderr
    assert result.stdout == ""
    assert _left_behind(tmp_path) == []  # no scratch database, file or directory


def test_a_run_prints_its_summary_as_one_json_line_and_leaves_nothing(tmp_path):
    result = _simulate(tmp_path, "--seed", "5", "--start", "2028-02-29", "--days", "4", *SMALL)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert (summary["seed"], summary["start"], summary["days"]) == (5, "2028-02-29", 4)
    assert summary["loans"] == 2  # listed on days 0 and 3
    for key in ("repayments", "advances", "holders_paid", "invariant_checks", "seconds"):
        assert isinstance(summary[key], int | float), key
    assert summary["invariant_checks"] == 4 * 12
    assert len(summary["books"]) == 16
    assert summary["replay"].endswith(
        "python -m app simulate --seed 5 --start 2028-02-29 --days 4 --members 6 --loans 2"
    )
    assert summary["backend"].startswith(
        "PostgreSQL" if "postgres" in os.environ["DATABASE_URL"] else "SQLite"
    )
    assert _left_behind(tmp_path) == []


def test_a_replay_does_the_same_thing_in_the_same_order(tmp_path):
    # Seed 4 from 2027-08-31: the provider answers 503 and drops or repeats callbacks, a
    # holder's withdrawal races a repayment, a loan is repaid early. Two runs at once
    # (so at different speeds) write the same postings on the same days and leave every
    # account at the same balance each evening (the raced pair may commit in either order).
    args = ["--seed", "4", "--start", "2027-08-31", "--days", "40", "--members", "14"]
    args += ["--loans", "4", "--quiet"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "app", "simulate", *args]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    first, second = (json.loads(output.strip().splitlines()[-1]) for output in outputs)
    assert first["stats"]["provider faults"] == 1, first["stats"]
    assert first["stats"]["races with a holder withdrawal"] >= 1, first["stats"]
    assert first["stats"]["repaid:EARLY_FULL"] >= 1, first["stats"]
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    assert _left_behind(tmp_path) == []


SABOTAGE = """
import sys
from simulation import invariants
calls = []
original = invariants._provider
async def sabotaged(sandbox):
    calls.append(1)
    if len(calls) == 3:
        raise invariants.Broken("provider.equals_ledger", "m:7: provider (1, 0) (sabotaged)")
    await original(sandbox)
invariants._provider = sabotaged
import cli
cli.main(["simulate", *sys.argv[1:]])
"""


def test_a_broken_invariant_exits_1_naming_it_the_day_and_the_replay(tmp_path):
    result = _simulate(
        tmp_path, "--seed", "8", "--start", "2027-08-31", "--days", "5", *SMALL, code=SABOTAGE
    )
    assert result.returncode == 1, result.stderr
    assert (
        "FAILED provider.equals_ledger on day 2 (2027-09-02): m:7: provider (1, 0) (sabotaged)"
        in result.stderr
    )
    replay = "python -m app simulate --seed 8 --start 2027-08-31 --days 5 --members 6 --loans 2"
    [line] = [line for line in result.stderr.splitlines() if line.startswith("replay: ")]
    assert line.endswith(replay)
    if os.environ["DATABASE_URL"].startswith("postgres"):  # the same server and Redis
        assert line.startswith("replay: DATABASE_URL=postgres://")
        assert " REDIS_URL=redis://" in line
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] is False
    assert summary["failure"]["invariant"] == "provider.equals_ledger"
    assert summary["days"] == 2  # days 0 and 1 kept every invariant
    assert _left_behind(tmp_path) == []


def test_a_sweep_runs_each_pair_in_its_own_process(tmp_path):
    result = _simulate(
        tmp_path,
        *("--sweep", "2", "--from-seed", "40", "--days", "3", "--jobs", "2", "--guarantees"),
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    assert "no failures in 2 runs" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["runs"], summary["failed"], summary["failures"]) == (2, 0, [])
    assert (summary["transfers"], summary["guarantees"]) == (False, True)
    # Every other pair starts on a month end, leap day or year end; the others drawn.
    assert "seed 40 start 2027-01-31: ok" in result.stderr
    assert "seed 41 start " in result.stderr
    assert _left_behind(tmp_path) == []
