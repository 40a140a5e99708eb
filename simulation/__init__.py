"""The simulated book of loans: `python -m app simulate`.

A whole platform (the services, the embedded sandbox payment provider, a scratch
database of its own) is played through many simulated days by generated members: loans
listed, filled by lenders, signed, disbursed, repaid on time, late, partly, early or
after a long default; the risk reserve advancing and recovering; withdrawals and top-ups;
the provider settling every day. After each day every invariant of the money is checked
(`simulation.invariants`); the first one broken stops the run with its name, the day and
the one command that replays exactly that run.

Every input is drawn from (scenario, seed, start date, sizes) alone: the business clock
starts at the start date (`CLOCK_START`), nothing reads the wall clock, so a run is
replayed by its command on any day, on SQLite or on PostgreSQL + Redis.

- `config`: what defines a run, its replay command, and the command line's checks.
- `people`: members, lenders, borrowers and staff made through the services.
- `scenario`: the scenarios (`wide`, the default, and `classic`, the issue 7 year kept
  as it was so that its failing runs replay) and what happens each day.
- `invariants`: the named checks.
- `runner`: one run in a running platform (tests call it with their fixtures).
- `command`: the command line (scratch database, lifespan, progress bar, JSON summary,
  the sweep over many seeds and start dates in parallel processes).
"""
