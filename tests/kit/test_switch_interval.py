"""The thread switch interval a serving process takes (Settings.switch_interval, applied by
the app's lifespan when it owns its services): 1 ms on the embedded SQLite database, whose
statements run in aiosqlite's threads; Python's own on PostgreSQL; GIL_SWITCH_INTERVAL_MS
overrides both."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.kit.settings import Settings

SQLITE = "sqlite:///tmp/lendbridge.sqlite3"
POSTGRES = "postgres://lendbridge@db.internal:5432/lendbridge"


def test_the_embedded_database_switches_threads_every_millisecond():
    assert Settings(database_url=SQLITE).switch_interval() == 0.001


def test_postgresql_keeps_pythons_own_interval():
    assert Settings(database_url=POSTGRES).switch_interval() is None


@pytest.mark.parametrize("url", [SQLITE, POSTGRES])
def test_the_setting_overrides_the_default_on_either_database(url):
    assert Settings(database_url=url, gil_switch_interval_ms=2.5).switch_interval() == 0.0025


@pytest.mark.parametrize("value", [0, -1, 1000])
def test_an_interval_out_of_range_is_refused(value):
    with pytest.raises(ValidationError, match="gil_switch_interval_ms"):
        Settings(database_url=SQLITE, gil_switch_interval_ms=value)
