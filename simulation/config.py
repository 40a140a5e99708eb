"""What defines one simulated run, and the command that replays it."""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass
from datetime import date, timedelta

SCENARIOS = ("wide", "classic")
MAX_DAYS = 3660
# Start dates that books meet and schedules get wrong: month ends (a due date clamped to
# a shorter month), February's last days, a leap day, the year end.
SPECIAL_STARTS = (
    date(2027, 1, 31),
    date(2027, 2, 28),
    date(2028, 2, 29),
    date(2027, 8, 31),
    date(2026, 12, 31),
    date(2027, 3, 31),
    date(2028, 1, 30),
    date(2027, 10, 31),
    date(2028, 2, 28),
    date(2027, 12, 31),
    date(2027, 4, 30),
    date(2029, 2, 28),
)
RANDOM_STARTS = (date(2026, 1, 1), date(2030, 12, 31))


class ConfigError(ValueError):
    """A run asked for with something that cannot be: one line for the user."""


@dataclass(frozen=True)
class RunConfig:
    seed: int
    start: date
    days: int = 365
    scenario: str = "wide"
    members: int | None = None  # None: the scenario's own
    loans: int | None = None
    transfers: bool = False  # lenders trade claims on the secondary market (`wide` only)
    guarantees: bool = False  # guarantee companies and collateral (`wide` only)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario {self.scenario!r} (one of {', '.join(SCENARIOS)})")
        if self.seed < 0:
            raise ConfigError(f"--seed must not be negative: {self.seed}")
        if not 1 <= self.days <= MAX_DAYS:
            raise ConfigError(f"--days must be between 1 and {MAX_DAYS}: {self.days}")
        if self.scenario == "classic" and (self.members, self.loans) not in (
            (None, None),
            (50, 20),
        ):
            raise ConfigError("the classic scenario is 50 members and 20 loans, as it ran")
        if self.transfers and self.scenario != "wide":
            raise ConfigError("--transfers runs in the wide scenario only")
        if self.guarantees and self.scenario != "wide":
            raise ConfigError("--guarantees runs in the wide scenario only")
        if self.loans is not None and self.loans < 1:
            raise ConfigError(f"--loans must be at least 1: {self.loans}")
        if self.members is not None and self.members < (self.loans or 1) + 2:
            raise ConfigError(
                f"--members must be at least --loans + 2 (a borrower for each loan and two "
                f"lenders): {self.members}"
            )

    def replay(self, *, postgres: bool = False) -> str:
        """The one command that runs exactly this again."""
        words = ["python", "-m", "app", "simulate"]
        if self.scenario != "wide":
            words += ["--scenario", self.scenario]
        words += ["--seed", str(self.seed), "--start", self.start.isoformat()]
        words += ["--days", str(self.days)]
        if self.members is not None:
            words += ["--members", str(self.members)]
        if self.loans is not None:
            words += ["--loans", str(self.loans)]
        if self.transfers:
            words.append("--transfers")
        if self.guarantees:
            words.append("--guarantees")
        command = shlex.join(words)
        if postgres:
            command = "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL " + command
        return command


CROWD_MEMBERS = 226  # 24 borrowers, 202 lenders: a crowd loan of 200 distinct holders


def sweep_starts(from_seed: int, count: int) -> list[tuple[int, date]]:
    """`count` (seed, start) pairs from `from_seed` on: every other one a special date
    (in turn), the others drawn from the seed in 2026-2030."""
    pairs = []
    span = (RANDOM_STARTS[1] - RANDOM_STARTS[0]).days
    for index in range(count):
        seed = from_seed + index
        if index % 2 == 0:
            start = SPECIAL_STARTS[(index // 2) % len(SPECIAL_STARTS)]
        else:
            start = RANDOM_STARTS[0] + timedelta(days=random.Random(seed).randrange(span + 1))
        pairs.append((seed, start))
    return pairs
