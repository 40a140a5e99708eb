"""`python -m app simulate`: one run, or a sweep of many, each on a scratch platform.

    python -m app simulate --seed 7 --start 2027-01-31 [--days 365] [--members 60
        --loans 24] [--scenario wide|classic] [--transfers] [--guarantees]
    python -m app simulate --sweep 300 [--from-seed 1] [--jobs 2] [--days 365] [--transfers]
        [--guarantees]

`--transfers` switches the secondary market on (`wide` only): lenders list and buy
claims every day (`simulation/trading.py`). `--guarantees` (`wide` only, with or without
`--transfers`) adds two guarantee companies that guarantee about a third of the loans
and compensate their holders, and collateral pledged, valued, transferred and disposed
of (`simulation/guaranteeing.py`, `simulation/pledging.py`), with the invariants of
`simulation/guarantee_checks.py`.

SQLite and the in-process broker by default; with DATABASE_URL naming a PostgreSQL
server (and REDIS_URL) each run makes its own database there (and its own Redis key
prefix) and drops it afterwards, as the test suite does. Nothing is written to any
other database.

One run prints a progress bar on a terminal, then one JSON summary object as its last
line on stdout; it exits 0 when every invariant held every day, 1 with the broken
invariant, the day and the command that replays exactly that run, 2 on bad input (one
line). A sweep runs its (seed, start) pairs as separate processes, `--jobs` at a time,
prints a table of the failures and one JSON line, and exits 1 when any run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import date
from typing import Any, NoReturn

from simulation import scratch
from simulation.config import CROWD_MEMBERS, SCENARIOS, ConfigError, RunConfig, sweep_starts

BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """Bad input: one clear line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"simulate: {message}\n")
        sys.exit(BAD_INPUT)


def _count(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return int(text)


def _day(text: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, not {text!r}")


def parser() -> argparse.ArgumentParser:
    found = _Parser(prog="python -m app simulate", description=__doc__.split("\n\n")[0])
    found.add_argument("--scenario", choices=SCENARIOS, default="wide")
    found.add_argument("--seed", type=_count)
    found.add_argument("--start", type=_day)
    found.add_argument("--days", type=_count, default=365)
    found.add_argument("--members", type=_count)
    found.add_argument("--loans", type=_count)
    found.add_argument(
        "--transfers", action="store_true", help="lenders trade claims (the secondary market)"
    )
    found.add_argument(
        "--guarantees",
        action="store_true",
        help="guarantee companies and collateral (compensation, disposal)",
    )
    found.add_argument("--sweep", type=_count, help="run this many (seed, start) pairs")
    found.add_argument("--from-seed", type=_count, default=1, help="the sweep's first seed")
    found.add_argument("--jobs", type=_count, default=os.cpu_count() or 1)
    found.add_argument("--quiet", action="store_true", help="no progress bar")
    return found


def _masked(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _postgres() -> tuple[str | None, str | None]:
    """The PostgreSQL server and Redis the runs use (None, None: SQLite, in-process)."""
    server = scratch.postgres_server(os.environ.get("DATABASE_URL", ""))
    return server, (os.environ.get("REDIS_URL") or None) if server else None


def _config(args: argparse.Namespace, seed: int, start: date) -> RunConfig:
    return RunConfig(
        seed=seed,
        start=start,
        days=args.days,
        scenario=args.scenario,
        members=args.members,
        loans=args.loans,
        transfers=args.transfers,
        guarantees=args.guarantees,
    )


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if args.sweep is not None:
            if args.seed is not None or args.start is not None:
                raise ConfigError("--sweep draws its own seeds and dates: drop --seed/--start")
            if args.sweep < 1 or args.jobs < 1:
                raise ConfigError("--sweep and --jobs must be at least 1")
            _config(args, args.from_seed, date(2027, 1, 31))  # the sizes, checked once
            return asyncio.run(sweep(args))
        if args.seed is None or args.start is None:
            raise ConfigError("give --seed and --start (or --sweep K)")
        config = _config(args, args.seed, args.start)
    except ConfigError as error:
        sys.stderr.write(f"simulate: {error}\n")
        return BAD_INPUT
    return asyncio.run(run_one(config, progress=not args.quiet and sys.stderr.isatty()))


# --- one run -----------------------------------------------------------------------------


def _bar(config: RunConfig) -> Any:
    def on_day(day: int, today: date, world: Any) -> None:
        done = (day + 1) / config.days
        filled = int(done * 30)
        stats = world.stats
        repaid = sum(count for name, count in stats.items() if name.startswith("repaid:"))
        sys.stderr.write(
            f"\r{today} day {day + 1}/{config.days} [{'#' * filled}{'.' * (30 - filled)}] "
            f"loans {len(world.book.loan_ids)} repaid {repaid} "
            f"advances {stats['reserve advances']}   "
        )
        if day + 1 == config.days:
            sys.stderr.write("\n")

    return on_day


async def run_one(config: RunConfig, *, progress: bool) -> int:
    from simulation import runner

    server, redis_url = _postgres()
    replay_prefix = ""
    if server:
        replay_prefix = f"DATABASE_URL={_masked(os.environ['DATABASE_URL'])} "
        if redis_url:
            replay_prefix += f"REDIS_URL={_masked(redis_url)} "
    run = scratch.plan("sim", postgres_server=server, redis_url=redis_url)
    scratch.use_environment(run, CLOCK_START=config.start.isoformat())
    template = os.environ.get("SIMULATION_TEMPLATE")  # a sweep's migrated database
    async with (
        scratch.database(run, template) as backend,
        scratch.embedded_app(background=False) as app,
    ):
        summary = await runner.run(
            config,
            app.state.sandbox.sandbox,
            on_day=_bar(config) if progress else None,
            postgres=False,
        )
    summary.replay = replay_prefix + summary.replay
    result = summary.as_json() | {"backend": backend}
    if summary.failure is not None:
        failure = summary.failure
        if progress:
            sys.stderr.write("\n")
        sys.stderr.write(
            f"FAILED {failure.invariant} on day {failure.day} ({failure.date}): "
            f"{failure.detail}\nreplay: {summary.replay}\n"
        )
    print(json.dumps(result, sort_keys=False))
    return 0 if summary.ok else 1


# --- a sweep -------------------------------------------------------------------------------


def _members(args: argparse.Namespace, index: int) -> int | None:
    """The members of a sweep's pair: as asked, or for every fourth `wide` pair of the
    default sizes enough lenders for a crowd loan of 200 distinct holders."""
    if args.members is not None or args.loans is not None or args.scenario != "wide":
        return args.members  # type: ignore[no-any-return]
    return CROWD_MEMBERS if index % 4 == 3 else None


async def _one_process(
    args: argparse.Namespace, index: int, seed: int, start: date, env: dict[str, str]
) -> dict[str, Any]:
    words = [sys.executable, "-m", "app", "simulate", "--quiet", "--scenario", args.scenario]
    words += ["--seed", str(seed), "--start", start.isoformat(), "--days", str(args.days)]
    members = _members(args, index)
    if members is not None:
        words += ["--members", str(members)]
    if args.loans is not None:
        words += ["--loans", str(args.loans)]
    if args.transfers:
        words.append("--transfers")
    if args.guarantees:
        words.append("--guarantees")
    process = await asyncio.create_subprocess_exec(
        *words, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await process.communicate()
    lines = out.decode().strip().splitlines()
    try:
        answer: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = err.decode().strip().splitlines()[-3:]
        answer = {
            "ok": False,
            "seed": seed,
            "start": start.isoformat(),
            "failure": {
                "invariant": "crashed",
                "day": None,
                "date": None,
                "detail": " | ".join(tail),
            },
            "replay": RunConfig(
                seed=seed,
                start=start,
                days=args.days,
                scenario=args.scenario,
                members=members,
                loans=args.loans,
                transfers=args.transfers,
                guarantees=args.guarantees,
            ).replay(),
        }
    return answer


async def sweep(args: argparse.Namespace) -> int:
    pairs = sweep_starts(args.from_seed, args.sweep)
    started = time.monotonic()
    server, redis_url = _postgres()
    # One migrated database that every run copies instead of migrating its own.
    async with scratch.template(
        scratch.plan("simtpl", postgres_server=server, redis_url=redis_url)
    ) as template:
        env = {**os.environ, "SIMULATION_TEMPLATE": template}
        return await _sweep(args, pairs, started, env)


async def _sweep(
    args: argparse.Namespace,
    pairs: list[tuple[int, date]],
    started: float,
    env: dict[str, str],
) -> int:
    gate = asyncio.Semaphore(args.jobs)
    finished: list[dict[str, Any]] = []

    async def one(index: int, seed: int, start: date) -> None:
        async with gate:
            answer = await _one_process(args, index, seed, start, env)
        finished.append(answer)
        state = "ok" if answer.get("ok") else f"FAILED {answer['failure']['invariant']}"
        sys.stderr.write(
            f"[{len(finished)}/{len(pairs)}] seed {seed} start {start}: {state}"
            f" ({answer.get('seconds', '?')} s)\n"
        )

    await asyncio.gather(*(one(index, seed, start) for index, (seed, start) in enumerate(pairs)))
    failures = sorted((a for a in finished if not a.get("ok")), key=lambda a: a["seed"])
    if failures:
        print(f"{'seed':>6}  {'start':10}  {'day':>4}  invariant / detail / replay")
        for answer in failures:
            failure = answer["failure"]
            print(
                f"{answer['seed']:>6}  {answer['start']:10}  {failure['day']!s:>4}  "
                f"{failure['invariant']}: {failure['detail']}\n{'':26}{answer['replay']}"
            )
    else:
        print(f"no failures in {len(pairs)} runs")
    print(
        json.dumps(
            {
                "runs": len(pairs),
                "failed": len(failures),
                "scenario": args.scenario,
                "transfers": args.transfers,
                "guarantees": args.guarantees,
                "days": args.days,
                "from_seed": args.from_seed,
                "jobs": args.jobs,
                "seconds": round(time.monotonic() - started, 1),
                "failures": [
                    {"seed": a["seed"], "start": a["start"], **a["failure"], "replay": a["replay"]}
                    for a in failures
                ],
            }
        )
    )
    return 1 if failures else 0
