"""Where a phase's CPU went, read from /proc (Linux): the machine's busy time over all
cores, and the CPU seconds of the PostgreSQL server's processes, of the platform's
processes (API, job workers, sandbox provider: each with its descendants), of Redis and
of the bench's own process. Two samples around a phase, divided by what the phase did,
give CPU ms per bid (or per posting) for each, and the machine's use of its cores: when
that is near 100 %, the rate is what the cores allow, and the split says which process
spends them.

Processes that ended during the phase (pgbench's connections, a backend closed by a pool)
are counted through their parent's children time (fields cutime/cstime), so a
short-lived process is not lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    machine_busy: float  # seconds of CPU used on all cores together (not idle, not iowait)
    machine_total: float  # seconds of all cores together, busy or not
    groups: dict[str, float] = field(default_factory=dict)  # CPU seconds by group


def _stat(pid: int) -> tuple[str, int, float, float] | None:
    """(comm, parent pid, own CPU s, reaped children's CPU s) of a process, or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    own = (int(rest[11]) + int(rest[12])) / _TICKS
    children = (int(rest[13]) + int(rest[14])) / _TICKS
    return comm, int(rest[1]), own, children


def _machine() -> tuple[float, float]:
    fields = [int(value) for value in (_PROC / "stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / _TICKS, total / _TICKS


def available() -> bool:
    return (_PROC / "stat").exists()


def _descendants(table: dict[int, tuple[str, int, float, float]], roots: list[int]) -> set[int]:
    found = {pid for pid in roots if pid in table}
    grew = True
    while grew:
        grew = False
        for pid, (_comm, parent, _own, _children) in table.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def sample(trees: dict[str, list[int]] | None = None) -> Sample:
    """The machine's and each group's CPU seconds so far: each of `trees` (a name and
    the processes it counts with all their descendants, e.g. "api": the server's pid),
    `postgres` (every other process named postgres, with what its ended children used),
    `redis`, and `bench` (this process and its ended children)."""
    if not available():
        return Sample(0.0, 0.0)
    table: dict[int, tuple[str, int, float, float]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                table[int(entry.name)] = stat
    members = {name: _descendants(table, roots) for name, roots in (trees or {}).items()}
    groups = dict.fromkeys(members, 0.0) | {"postgres": 0.0, "redis": 0.0, "bench": 0.0}
    for pid, (comm, _parent, own, children) in table.items():
        tree = next((name for name, pids in members.items() if pid in pids), None)
        if tree is not None:
            groups[tree] += own + children
        elif comm.startswith("postgres"):
            groups["postgres"] += own + children
        elif comm.startswith("redis"):
            groups["redis"] += own
        elif pid == os.getpid():
            groups["bench"] += own + children
    busy, total = _machine()
    return Sample(busy, total, groups)


def per_unit(before: Sample, after: Sample, units: int) -> dict[str, float]:
    """CPU ms per unit of work for each group and the machine between two samples, and
    `cores_busy_pct`: the share of all cores that was busy."""
    if not available() or units <= 0:
        return {}
    figures = {
        f"{name}_cpu_ms": round(
            (after.groups[name] - before.groups.get(name, 0.0)) * 1000 / units, 2
        )
        for name in after.groups
    }
    busy = after.machine_busy - before.machine_busy
    total = after.machine_total - before.machine_total
    figures["machine_cpu_ms"] = round(busy * 1000 / units, 2)
    figures["cores_busy_pct"] = round(100 * busy / total, 1) if total else 0.0
    return figures
