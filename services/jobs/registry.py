"""The job registry: each job module `register`s its periodic function here (imported by
the job modules; `services.jobs.registered()` imports them all).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]


_jobs: dict[str, Job] = {}


def register(
    name: str, every_seconds: float
) -> Callable[[Callable[[], Awaitable[object]]], Callable[[], Awaitable[object]]]:
    def decorator(function: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        _jobs[name] = Job(name=name, every_seconds=every_seconds, run=function)
        return function

    return decorator
