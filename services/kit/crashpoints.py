"""Test-only fault injection: die on the spot, as a power cut or `kill -9` would.

`hit(name, detail)` does nothing unless the environment variable LENDBRIDGE_CRASHPOINT
(read at each call, so nothing is cached) names this point, and never when APP_ENV is
prod. When it does, the process sends itself SIGKILL: no `finally`, no lifespan
shutdown, no flush; what was committed stays, everything else is lost.

LENDBRIDGE_CRASHPOINT is either the bare point name, which fires at the first call
there, or `name:detail`, which fires only when the caller's detail matches, e.g.
`instruction.after_call:DEPOSIT` kills the process once a DEPOSIT instruction has been
answered by the provider, but lets the account opening and card binding before it
through. The end-to-end tests (tests/e2e) start a process with a crashpoint, watch it
die, and restart it without one.
"""

from __future__ import annotations

import logging
import os
import signal

from services.kit.settings import Environment, get_settings

ENV_VAR = "LENDBRIDGE_CRASHPOINT"

logger = logging.getLogger(__name__)


def armed(name: str, detail: str = "") -> bool:
    """True when LENDBRIDGE_CRASHPOINT names this point (bare, or with this detail)
    and the environment is not prod."""
    wanted = os.environ.get(ENV_VAR, "")
    if not wanted or wanted not in (name, f"{name}:{detail}"):
        return False
    return get_settings().app_env != Environment.PROD


def hit(name: str, detail: str = "") -> None:
    """SIGKILL this process when the crashpoint `name` (with `detail`) is armed."""
    if armed(name, detail):
        logger.critical("crashpoint %s:%s hit: SIGKILL to pid %s", name, detail, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)
