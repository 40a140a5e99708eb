"""Operation log, business clock, notices and dev tools."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from models.messaging import Notice
from models.system import OperationLogEntry
from schema.errors import resync
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.types.platform import system as t
from services.errors import DomainError
from services.jobs import days
from services.kit.broker import Gap
from services.platform import clock, notices, oplog


def _entry(entry: OperationLogEntry) -> t.OperationLogEntryType:
    """A sealed entry (the listing shows no other)."""
    assert entry.seq is not None
    assert entry.entry_hash is not None
    return t.OperationLogEntryType(
        seq=entry.seq,
        actor=entry.actor_label,
        operation=entry.operation,
        arguments=JSON(entry.arguments),
        client_ip=entry.client_ip,
        result=entry.result,
        trace_id=entry.trace_id,
        created_at=entry.created_at,
        entry_hash=entry.entry_hash,
    )


async def operation_log(
    info: Info, first: int | None = 20, after: str | None = None
) -> Connection[t.OperationLogEntryType]:
    size = clamp_first(first)
    page = await oplog.list_entries(first=size + 1, before_seq=cursor_key(after))
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.seq,
        node=_entry,
    )


async def verify_operation_log(info: Info) -> t.OperationLogVerification:
    report = await oplog.verify()
    return t.OperationLogVerification(
        valid=report.valid,
        checked=report.checked,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )


async def business_clock(info: Info) -> t.BusinessClock:
    now = await clock.now()
    return t.BusinessClock(now=now, today=now.date())


def _job_run(run: days.JobRun) -> t.ClockJobRun:
    return t.ClockJobRun(
        day=run.day,
        job=run.job,
        outcome=t.ClockJobOutcome(run.outcome.value),
        summary=run.summary,
        error_code=run.error_code,
        started_at=run.started_at,
    )


async def dev_advance_clock(info: Info, input: t.DevAdvanceClockInput) -> t.DevAdvanceClockResult:
    try:
        moved = await days.advance_clock(days=input.days)
    except DomainError as error:
        return t.DevAdvanceClockError.from_domain(error)
    runs = [_job_run(run) for run in moved.runs]
    return t.ClockAdvanced(
        now=moved.now,
        today=moved.now.date(),
        from_day=moved.from_day,
        days=input.days,
        job_runs=runs,
        failed_runs=[run for run in runs if run.outcome != t.ClockJobOutcome.DONE],
    )


async def dev_outbox(info: Info, first: int | None = 20) -> list[t.DevMessage]:
    return [
        t.DevMessage(
            channel=str(message.channel),
            recipient_masked=message.recipient_masked,
            subject=message.subject,
            body=message.body,
            status=str(message.status),
            created_at=message.created_at,
        )
        for message in await notices.latest_messages(limit=clamp_first(first))
    ]


def _notice(row: Notice) -> t.NoticeType:
    return t.NoticeType(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        title=row.title,
        body=row.body,
        created_at=row.created_at,
        read=row.read_at is not None,
    )


async def my_notices(
    info: Info, first: int | None = 20, after: str | None = None
) -> Connection[t.NoticeType]:
    actor = await info.context.get_actor()
    size = clamp_first(first)
    page = await notices.list_for(actor=actor, first=size + 1, before_id=cursor_key(after))
    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=_notice,
    )


async def notifications(info: Info) -> AsyncGenerator[t.NoticeType, None]:
    actor = await info.context.get_actor()
    async for payload in notices.stream_for(actor=actor):
        if isinstance(payload, Gap):
            yield resync(payload)
            continue
        yield t.NoticeType(
            id=strawberry.ID(str(payload["id"])),
            kind=payload["kind"],
            title=payload["title"],
            body=payload["body"],
            created_at=datetime.fromisoformat(payload["created_at"]),
            read=False,
        )
