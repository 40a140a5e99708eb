"""Jobs: the housekeeping job deletes only rows whose time has passed; the schedule in
the database runs each job once per period whatever the number of processes, and takes
over the job of a process that died."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from models.access import RefreshToken, RevokedAccessToken
from models.system import ScheduledJob
from services import jobs
from services.jobs.registry import Job
from services.platform.clock import system_now
from tests.factories import create_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_purge_removes_expired_credentials_and_keeps_live_ones(schedule):
    user, _phone = await create_member()
    now = system_now()
    await RevokedAccessToken.create(jti="old", expires_at=now - timedelta(minutes=1))
    await RevokedAccessToken.create(jti="live", expires_at=now + timedelta(minutes=10))
    family = uuid.uuid4()
    await RefreshToken.create(
        id=uuid.uuid4(),
        user=user,
        family_id=family,
        token_hash="a" * 64,
        expires_at=now - timedelta(days=2),
    )
    await RefreshToken.create(
        id=uuid.uuid4(),
        user=user,
        family_id=family,
        token_hash="b" * 64,
        expires_at=now + timedelta(days=2),
    )

    ran = await jobs.run_due(now=NOW)

    assert "purge_expired_credentials" in ran
    assert await RevokedAccessToken.all().values_list("jti", flat=True) == ["live"]
    assert await RefreshToken.all().values_list("token_hash", flat=True) == ["b" * 64]
    # Not due again until its period has passed.
    assert "purge_expired_credentials" not in await jobs.run_due(now=NOW + timedelta(seconds=1))


# --- the schedule in the database: any number of processes, one runner per job ---------

NOW = datetime(2031, 3, 1, 8, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def schedule():
    """A clean schedule before and after (the jobs table is shared by the session)."""
    await ScheduledJob.all().delete()
    yield
    await ScheduledJob.all().delete()


@pytest.fixture
def only_job(monkeypatch):
    """Replace the registered jobs by one that counts its runs (and fails when asked)."""
    calls: list[str] = []
    failing: list[bool] = [False]

    async def counting() -> None:
        calls.append("ran")
        if failing[0]:
            raise RuntimeError("the gateway said no")

    job = Job(name="counting", every_seconds=600, run=counting)
    monkeypatch.setattr(jobs, "registered", lambda: {"counting": job})
    return calls, failing


async def test_a_new_job_runs_at_once_and_then_after_its_period(schedule, only_job):
    calls, _failing = only_job
    assert await jobs.run_due(now=NOW) == ["counting"]
    row = await ScheduledJob.get(name="counting")
    assert (row.holder, row.lease_until, row.runs) == (None, None, 1)
    assert row.next_due_at == NOW + timedelta(seconds=600)
    assert await jobs.run_due(now=NOW + timedelta(seconds=599)) == []
    assert await jobs.run_due(now=NOW + timedelta(seconds=600)) == ["counting"]
    assert calls == ["ran", "ran"]


async def test_a_job_another_process_holds_is_left_to_it_until_its_lease_runs_out(
    schedule, only_job
):
    calls, _failing = only_job
    await ScheduledJob.create(
        name="counting",
        next_due_at=NOW - timedelta(minutes=5),
        holder="worker-b:4242:dead",
        lease_until=NOW + timedelta(seconds=30),
        started_at=NOW - timedelta(seconds=30),
    )
    assert await jobs.run_due(now=NOW) == []
    assert calls == []
    # worker-b was killed: it renews no more, and its lease runs out.
    later = NOW + timedelta(seconds=31)
    assert await jobs.run_due(now=later) == ["counting"]
    row = await ScheduledJob.get(name="counting")
    assert (row.holder, row.taken_over, row.runs) == (None, 1, 1)
    assert row.next_due_at == later + timedelta(seconds=600)


async def test_of_two_processes_looking_at_once_one_takes_the_job(schedule, only_job):
    await ScheduledJob.create(name="counting", next_due_at=NOW)
    taken = await asyncio.gather(*(jobs._take("counting", NOW) for _ in range(2)))
    assert sorted(taken) == [False, True]
    assert (await ScheduledJob.get(name="counting")).holder == jobs.HOLDER


async def test_a_failing_job_lets_go_and_is_tried_again_after_its_period(schedule, only_job):
    calls, failing = only_job
    failing[0] = True
    assert await jobs.run_due(now=NOW) == []
    row = await ScheduledJob.get(name="counting")
    assert (row.holder, row.failures, row.runs) == (None, 1, 1)
    assert row.last_error == "RuntimeError: the gateway said no"
    assert await jobs.run_due(now=NOW + timedelta(seconds=60)) == []
    failing[0] = False
    assert await jobs.run_due(now=NOW + timedelta(seconds=600)) == ["counting"]
    assert calls == ["ran", "ran"]


async def test_published_outbox_events_go_after_their_days_and_the_unpublished_stay(
    monkeypatch: pytest.MonkeyPatch,
):
    from models.messaging import OutboxEvent
    from services.jobs import housekeeping
    from services.kit.settings import get_settings
    from services.platform import outbox

    now = system_now()
    days = get_settings().outbox_keep_days
    for name, published in (
        ("old-1", now - timedelta(days=days, minutes=1)),
        ("old-2", now - timedelta(days=days + 30)),
        ("recent", now - timedelta(days=days) + timedelta(minutes=1)),
        ("waiting", None),
    ):
        await OutboxEvent.create(topic=f"test.{name}", payload={}, published_at=published)
    given_up = await outbox.enqueue("test.given-up", {})
    await OutboxEvent.filter(id=given_up.id).update(attempts=outbox.MAX_ATTEMPTS)
    monkeypatch.setattr(housekeeping, "PURGE_BATCH", 1)  # a batch at a time

    assert await housekeeping.purge_published_outbox() == 2
    assert sorted(await OutboxEvent.all().values_list("topic", flat=True)) == [
        "test.given-up",
        "test.recent",
        "test.waiting",
    ]
    assert await housekeeping.purge_published_outbox() == 0
