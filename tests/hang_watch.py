"""A test that hangs shows where: after `HANG_DUMP_SECONDS` (default 300) in one test,
every asyncio task's stack of the test's event loop is written to stderr and to a file
in the temporary directory (pytest-timeout, which ends the test later, shows threads
only, and an xdist worker's stderr may not reach the console). Registered as a plugin
by tests/conftest.py."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_SECONDS = float(os.environ.get("HANG_DUMP_SECONDS", "300"))
_current: dict[str, object] = {}
_lock = threading.Lock()


def _dump(nodeid: str) -> None:
    out = io.StringIO()
    out.write(f"\n+++ {nodeid} has run {_SECONDS:.0f} s: asyncio tasks +++\n")
    for task in asyncio.all_tasks():
        out.write(f"--- {task!r}\n")
        task.print_stack(file=out)
    text = out.getvalue()
    path = Path(tempfile.gettempdir()) / f"lendbridge-hang-{os.getpid()}.txt"
    path.write_text(text)
    sys.__stderr__.write(text + f"(also in {path})\n")


def _watch() -> None:
    while True:
        time.sleep(5)
        with _lock:
            started = _current.get("started")
            loop = _current.get("loop")
            nodeid = str(_current.get("nodeid", ""))
            due = isinstance(started, float) and time.monotonic() - started > _SECONDS
            if due:
                _current["started"] = None  # once per test
        if due and isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
            loop.call_soon_threadsafe(_dump, nodeid)


def remember_loop() -> None:
    """Called from the session's event loop (the `database` fixture): the loop to dump."""
    with _lock:
        _current["loop"] = asyncio.get_running_loop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _lock:
        _current.update(started=time.monotonic(), nodeid=item.nodeid)
        if "thread" not in _current:
            _current["thread"] = threading.Thread(target=_watch, name="hang-watch", daemon=True)
            _current["thread"].start()  # type: ignore[attr-defined]
    try:
        return (yield)
    finally:
        with _lock:
            _current["started"] = None
