"""The access-log store: a file per UTC day, lines only appended (several writers, as
several API processes, to the same day's file), files removed whole by the purge."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from services.kit.access_log import AccessLogStore, day_of, file_name, purge_files


def test_a_file_per_day_appended_by_every_writer(tmp_path):
    first, second = AccessLogStore(tmp_path), AccessLogStore(tmp_path)
    first.write({"n": 1}, at=datetime(2027, 1, 1, 23, 59, 59, 999_000, tzinfo=UTC))
    first.write({"n": 2}, at=datetime(2027, 1, 2, 0, 0, tzinfo=UTC))  # the day rotates
    second.write({"n": 3}, at=datetime(2027, 1, 2, 8, 0, tzinfo=UTC))
    first.write({"n": 4, "path": "/graphql"}, at=datetime(2027, 1, 2, 9, 0, tzinfo=UTC))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "access-2027-01-01.jsonl",
        "access-2027-01-02.jsonl",
    ]
    day_one = (tmp_path / "access-2027-01-01.jsonl").read_text(encoding="utf-8")
    day_two = (tmp_path / "access-2027-01-02.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["n"] for line in day_one.splitlines()] == [1]
    assert [json.loads(line)["n"] for line in day_two.splitlines()] == [2, 3, 4]
    # A later writer appends: what was there stays byte for byte.
    AccessLogStore(tmp_path).write({"n": 5}, at=datetime(2027, 1, 2, 10, 0, tzinfo=UTC))
    again = (tmp_path / "access-2027-01-02.jsonl").read_text(encoding="utf-8")
    assert again.startswith(day_two)
    assert [json.loads(line)["n"] for line in again.splitlines()] == [2, 3, 4, 5]


def test_purge_removes_whole_files_of_passed_days_only(tmp_path):
    store = AccessLogStore(tmp_path)
    for day in (date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)):
        store.write({"day": day.isoformat()}, at=datetime(day.year, day.month, day.day, tzinfo=UTC))
        store.write({"day": day.isoformat()}, at=datetime(day.year, day.month, day.day, tzinfo=UTC))
    (tmp_path / "notes.txt").write_text("not a log")
    removed = purge_files(tmp_path, passed=lambda day: day < date(2027, 1, 3))
    assert [(f.name, f.day, f.lines) for f in removed] == [
        ("access-2027-01-01.jsonl", date(2027, 1, 1), 2),
        ("access-2027-01-02.jsonl", date(2027, 1, 2), 2),
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "access-2027-01-03.jsonl",
        "notes.txt",
    ]
    assert purge_files(tmp_path, passed=lambda day: day < date(2027, 1, 3)) == []
    assert day_of(file_name(date(2028, 2, 29))) == date(2028, 2, 29)
    assert day_of("access-2027-02-30.jsonl") is None
