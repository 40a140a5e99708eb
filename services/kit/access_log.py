"""Network access logs (R6: kept at least 6 months): one JSON line per request in an
append-only file per UTC day, `access-YYYY-MM-DD.jsonl` under `ACCESS_LOG_DIR`.

Each line is written with one `write` on a descriptor opened `O_APPEND`, so the lines of
several processes (API workers) writing the same day's file never interleave, and no
line is ever rewritten: a file is only appended to, during its day, and then left alone
until the retention purge deletes the whole file once its last line has passed the
period (`purge_files`). A day's file is "rotated" when the day ends: the next line goes
to the next day's file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^access-(\d{4}-\d{2}-\d{2})\.jsonl$")


def file_name(day: date) -> str:
    return f"access-{day.isoformat()}.jsonl"


def day_of(name: str) -> date | None:
    """The day an access-log file holds, or None for any other file."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


class AccessLogStore:
    """Appends lines to the file of their day. Each line opens the file `O_APPEND`,
    writes once and closes it: no descriptor outlives a request (an app made per test,
    or a file removed by the purge, leaves nothing open), at the cost of two system
    calls a request."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def write(self, record: dict[str, Any], *, at: datetime) -> None:
        """Append `record` (JSON-able) as one line to the file of `at`'s UTC day."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / file_name(at.astimezone(UTC).date())
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@dataclass(frozen=True)
class PurgedFile:
    name: str
    day: date
    lines: int


def purge_files(directory: str | Path, *, passed: Callable[[date], bool]) -> list[PurgedFile]:
    """Delete the access-log files whose day has `passed` its period (every line of the
    file is older than it); other files, and days still inside it, stay. Idempotent.
    Returns what was removed, oldest first: name, day and line count, never content."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        day = day_of(path.name)
        if day is None or not passed(day) or not path.is_file():
            continue
        with path.open("rb") as handle:
            lines = sum(1 for _ in handle)
        path.unlink(missing_ok=True)
        removed.append(PurgedFile(name=path.name, day=day, lines=lines))
    return removed
