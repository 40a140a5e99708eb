"""Giving memory back to the system after a crowd leaves.

Ten thousand WebSocket viewers cost a few hundred MiB (buffers, protocol objects,
tasks). When they leave, CPython frees the objects, but the C allocator (glibc malloc)
keeps the freed pages in its heaps for reuse, so the process would stay at its peak for
ever. `Release` notices when the number of open connections has fallen well below its
peak and then, once things are quiet for a moment, collects cycles and asks glibc to
return its free pages (`malloc_trim(0)`). Elsewhere (musl, macOS) only the collection
runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
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


def release_now() -> bool:
    """Collect garbage cycles and return free heap pages to the system; whether the C
    allocator could be asked (glibc)."""
    gc.collect()
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


class Release:
    """Counts open connections; after the count has dropped by at least `min_drop` and to
    at most half its peak, releases memory `delay` seconds after the last departure."""

    def __init__(self, *, min_drop: int = 500, delay: float = 2.0) -> None:
        self.min_drop = min_drop
        self.delay = delay
        self.open = 0
        self.peak = 0
        self.releases = 0
        self._timer: asyncio.TimerHandle | None = None

    def opened(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        self.open = max(0, self.open - 1)
        if self.peak - self.open >= self.min_drop and self.open * 2 <= self.peak:
            if self._timer is not None:
                self._timer.cancel()  # the crowd is still leaving: wait for the last
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._release)

    def _release(self) -> None:
        self._timer = None
        self.peak = self.open
        self.releases += 1
        trimmed = release_now()
        logger.info(
            "memory released after connections left (%d open%s)",
            self.open,
            "" if trimmed else "; no malloc_trim here",
        )
