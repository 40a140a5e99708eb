"""Giving memory back to the system after a crowd leaves.

Ten thousand WebSocket viewers cost a few hundred MiB (buffers, protocol objects,
tasks). When they leave, CPython frees the objects, but the C allocator (glibc malloc)
keeps the freed pages in its heaps for reuse, so the process would stay at its peak for
ever. `Release` notices when the number of open connections has fallen well below its
peak and then, once things are quiet for a moment, collects cycles and asks glibc to
return its free pages (`malloc_trim(0)`). Elsewhere (musl, macOS) only the collection
runs.

The objects of ten thousand open connections (about two million) also make every full
collection of CPython's cyclic garbage collector walk them all: 0.76 s with the event
loop stopped, measured, so every request and delivery of the process waited that long
now and then. So each time another `freeze_step` connections have opened, the objects
alive then are moved out of the collector's generations (`gc.freeze()`); a release (the
crowd left, or as many connections closed as the peak held: a full turnover) puts them
back, collects once and freezes again what is still open.

CPython's sets never shrink when entries are removed: the registries that held every
connection (asyncio's task registry, uvicorn's connections and tasks, the loop's timers)
keep tables sized for ten thousand entries, about 5 MiB, after the crowd has gone. A
release rebuilds each such set in place (`shrink_sets`).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


_SET_ITERATOR: type = type(iter(set[object]()))


def shrink_sets(min_bytes: int = 64 * 1024) -> int:
    """Rebuild, in place, every set whose table takes at least `min_bytes` while at
    least seven eighths of it is empty; the bytes freed.

    `intersection_update` with itself builds a table sized for what is there and swaps it
    in, in one call: the set keeps its identity, its owner notices nothing, and no other
    thread can see it half done. A set some iterator is walking is left alone (the
    iterator's position is an index into the old table)."""
    objects = gc.get_objects()
    walked = {
        id(target)
        for obj in objects
        if type(obj) is _SET_ITERATOR
        for target in gc.get_referents(obj)
    }
    freed = 0
    for obj in objects:
        if type(obj) is not set or id(obj) in walked:
            continue
        before = sys.getsizeof(obj)
        # a set entry is 16 bytes; a table is at least 5/3 of the entries it holds
        if before >= min_bytes and len(obj) * 16 * 8 < before:
            obj.intersection_update(obj)
            freed += before - sys.getsizeof(obj)
    del objects
    return freed


def release_now() -> bool:
    """Collect garbage cycles, shrink emptied sets and return free heap pages to the
    system; whether the C allocator could be asked (glibc)."""
    gc.collect()
    shrink_sets()
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


class Release:
    """Counts open connections; after the count has dropped by at least `min_drop` and to
    at most half its peak, releases memory `delay` seconds after the last departure."""

    def __init__(self, *, min_drop: int = 500, delay: float = 2.0, freeze_step: int = 1000) -> None:
        self.min_drop = min_drop
        self.delay = delay
        self.freeze_step = freeze_step
        self.open = 0
        self.peak = 0
        self.releases = 0
        self.freezes = 0
        self._closed_since = 0  # since the last release
        self._frozen_at = 0  # open connections at the last freeze
        self._timer: asyncio.TimerHandle | None = None

    def opened(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.open - self._frozen_at >= self.freeze_step:
            self._frozen_at = self.open
            self.freezes += 1
            gc.collect(1)  # young garbage goes now, not into the frozen set
            gc.freeze()

    def closed(self) -> None:
        self.open = max(0, self.open - 1)
        self._closed_since += 1
        crowd_left = self.peak - self.open >= self.min_drop and self.open * 2 <= self.peak
        turned_over = self._closed_since >= max(self.min_drop, self.peak)
        if crowd_left or turned_over:
            if self._timer is not None:
                self._timer.cancel()  # the crowd is still leaving: wait for the last
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._release)

    def _release(self) -> None:
        self._timer = None
        self.peak = self.open
        self._closed_since = 0
        self.releases += 1
        gc.unfreeze()
        trimmed = release_now()
        if self.open >= self.freeze_step:
            gc.freeze()
        self._frozen_at = self.open
        logger.info(
            "memory released after connections left (%d open%s)",
            self.open,
            "" if trimmed else "; no malloc_trim here",
        )
