"""Memory given back after a crowd of connections leaves (services/kit/memory.py), and
the server started on the allocator that can give it back (cli.py)."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys

import pytest

import cli
from services.kit import memory
from services.kit.settings import ROOT


@pytest.mark.asyncio(loop_scope="session")
async def test_memory_is_released_once_after_a_crowd_has_left():
    release = memory.Release(min_drop=500, delay=0.05)
    for _ in range(600):
        release.opened()
    for _ in range(599):
        release.closed()
    await asyncio.sleep(0.02)
    release.closed()  # the last one leaves: the wait starts again from here
    await asyncio.sleep(0.03)
    assert release.releases == 0
    await asyncio.sleep(0.1)
    assert (release.releases, release.open, release.peak) == (1, 0, 0)


@pytest.mark.asyncio(loop_scope="session")
async def test_ordinary_comings_and_goings_release_nothing():
    release = memory.Release(min_drop=500, delay=0.01)
    for _ in range(400):
        release.opened()
    for _ in range(400):
        release.closed()  # a drop of 400: under the threshold
    for _ in range(2_000):
        release.opened()
    for _ in range(900):
        release.closed()  # 1,100 still open: more than half the peak
    await asyncio.sleep(0.05)
    assert release.releases == 0


def _emptied_registry() -> set[int]:
    """A set that held 100,000 entries and had all but ten removed one by one, as
    connections leave (`difference_update` would rebuild it itself)."""
    registry = set(range(100_000))
    for entry in range(99_990):
        registry.discard(entry)
    return registry


def test_emptied_sets_are_rebuilt_in_place_and_keep_what_they_hold():
    registry = _emptied_registry()
    owner = {"registry": registry}
    before = sys.getsizeof(registry)
    freed = memory.shrink_sets()
    assert owner["registry"] is registry
    assert registry == set(range(99_990, 100_000))
    assert sys.getsizeof(registry) < 4_096 < before
    assert freed >= before - sys.getsizeof(registry)
    registry.add(-1)  # still an ordinary set
    assert -1 in registry


def test_a_set_being_walked_is_left_alone():
    registry = _emptied_registry()
    walker = iter(registry)
    first = next(walker)
    before = sys.getsizeof(registry)
    memory.shrink_sets()
    assert sys.getsizeof(registry) == before
    assert sorted([first, *walker]) == list(range(99_990, 100_000))


def test_a_full_set_is_not_touched():
    registry = set(range(20_000))
    table = sys.getsizeof(registry)
    memory.shrink_sets()
    assert sys.getsizeof(registry) == table


def test_release_now_asks_the_c_allocator_where_it_is_glibc():
    assert memory.release_now() is (memory._malloc_trim is not None)
    if sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION"):
        assert memory._malloc_trim is not None


def test_the_server_runs_on_the_system_allocator_unless_told_otherwise():
    assert cli.server_environment({"A": "1"}) == {"A": "1", "PYTHONMALLOC": "malloc"}
    assert cli.server_environment({"PYTHONMALLOC": "pymalloc"}) is None
    assert cli.server_environment({"PYTHONMALLOC": "malloc"}) is None


def test_several_workers_are_refused_on_the_embedded_database():
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "PYTHONMALLOC"}
    }
    environment["DATABASE_URL"] = "sqlite://:memory:"
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--workers", "2", "--port", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)" in done.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_open_connections_are_kept_out_of_full_collections_until_they_leave():
    gc.unfreeze()
    release = memory.Release(min_drop=500, delay=0.01, freeze_step=300)
    try:
        for _ in range(299):
            release.opened()
        assert (release.freezes, gc.get_freeze_count()) == (0, 0)
        release.opened()
        assert release.freezes == 1
        assert gc.get_freeze_count() > 0  # what is alive now is skipped by collections
        for _ in range(300):
            release.opened()
        assert release.freezes == 2
        for _ in range(600):
            release.closed()
        await asyncio.sleep(0.05)
        assert release.releases == 1
        assert gc.get_freeze_count() == 0  # given back to the collector, and collected
    finally:
        gc.unfreeze()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_full_turnover_releases_what_the_frozen_connections_left():
    release = memory.Release(min_drop=500, delay=0.01, freeze_step=100_000)
    for _ in range(1_000):
        release.opened()
    for _ in range(1_000):  # a thousand leave, a thousand others come: never a drop
        release.closed()
        release.opened()
    await asyncio.sleep(0.05)
    assert release.releases == 1
