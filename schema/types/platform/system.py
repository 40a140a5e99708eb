"""Operation log, business clock, notices and dev tools."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from schema.errors import error_codes, error_type


@strawberry.type(description="One logged mutation (M11.2).")
class OperationLogEntryType:
    seq: int = strawberry.field(description="Position in the chain, from 1.")
    actor: str = strawberry.field(description="Who: `member:12`, `staff:3` or `anonymous`.")
    operation: str = strawberry.field(description="The mutation field.")
    arguments: JSON = strawberry.field(description="Its arguments, secrets replaced by ***.")
    client_ip: str = strawberry.field(description="From where.")
    result: str = strawberry.field(description="Result type and code, or the error code.")
    trace_id: str = strawberry.field(description="Trace id of the request.")
    created_at: datetime = strawberry.field(description="When (UTC).")
    entry_hash: str = strawberry.field(description="SHA-256 chaining this entry to the last.")


@strawberry.type(description="Result of walking the whole operation log chain.")
class OperationLogVerification:
    valid: bool = strawberry.field(description="True when no entry was altered or removed.")
    checked: int = strawberry.field(description="Entries found intact before any problem.")
    first_bad_seq: int | None = strawberry.field(description="Where the chain first breaks.")
    problem: str | None = strawberry.field(description="What is wrong there.")


@strawberry.enum(description="How a job devAdvanceClock ran for a day ended.")
class ClockJobOutcome(Enum):
    DONE = strawberry.enum_value("DONE", description="It ran to the end.")
    FAILED = strawberry.enum_value(
        "FAILED", description="It raised an error (errorCode); the clock moved on all the same."
    )
    BUSY = strawberry.enum_value(
        "BUSY",
        description="Another process held it for longer than one lease: not run for this day.",
    )


@strawberry.type(description="One periodic job run for one day by devAdvanceClock.")
class ClockJobRun:
    day: date = strawberry.field(description="The business day it ran for.")
    job: str = strawberry.field(
        description="The job's name, e.g. repayments_auto_debit, repayments_overdue_daily."
    )
    outcome: ClockJobOutcome = strawberry.field(description="How it ended.")
    summary: str = strawberry.field(
        description="What it did (e.g. `installments paid: 1`), or the error when it failed."
    )
    error_code: str | None = strawberry.field(
        description="When FAILED or BUSY: the domain error code, JOB_FAILED for any other "
        "error, JOB_BUSY; null when DONE."
    )
    started_at: datetime = strawberry.field(description="Business time it started (UTC).")


@strawberry.type(
    description="devAdvanceClock moved the clock: where it is now, the days it passed and "
    "the jobs run for each."
)
class ClockAdvanced:
    now: datetime = strawberry.field(description="Business time after the move (UTC).")
    today: date = strawberry.field(description="Business date after the move.")
    from_day: date = strawberry.field(description="The business date before the move.")
    days: int = strawberry.field(description="How many days it passed.")
    job_runs: list[ClockJobRun] = strawberry.field(
        description="Every job run, day by day, each day's jobs in the order they ran "
        "(docs/clock.md). A job with nothing to do is listed too."
    )
    failed_runs: list[ClockJobRun] = strawberry.field(
        description="The runs that FAILED or were BUSY (a subset of jobRuns)."
    )


@strawberry.type(description="The business clock: what the platform takes as now.")
class BusinessClock:
    now: datetime = strawberry.field(description="Business time (UTC).")
    today: date = strawberry.field(description="Business date.")


@strawberry.input(description="Move business time forward (dev and test only).")
class DevAdvanceClockInput:
    days: int = strawberry.field(description="Whole days, 1 to 3660.")


DevAdvanceClockErrorCode = error_codes(
    "DevAdvanceClock",
    ["INVALID", "FORBIDDEN", "BUSY"],
    "Why the clock did not move (BUSY: another devAdvanceClock is still running its days).",
)
DevAdvanceClockError = error_type("DevAdvanceClock", DevAdvanceClockErrorCode, "Not moved.")
DevAdvanceClockResult = Annotated[
    ClockAdvanced | DevAdvanceClockError, strawberry.union("DevAdvanceClockResult")
]


@strawberry.type(description="An SMS or e-mail as the dev/test provider recorded it.")
class DevMessage:
    channel: str = strawberry.field(description="sms or email.")
    recipient_masked: str = strawberry.field(description="Recipient, masked.")
    subject: str = strawberry.field(description="The e-mail's subject; empty for an SMS.")
    body: str = strawberry.field(description="The text, codes included (dev/test only).")
    status: str = strawberry.field(
        description="pending, sent, or failed (an e-mail whose member changed address)."
    )
    created_at: datetime = strawberry.field(description="When it was queued.")


@strawberry.type(name="Notice", description="An in-app notice for the caller.")
class NoticeType:
    id: strawberry.ID = strawberry.field(description="Notice id.")
    kind: str = strawberry.field(description="What it is about, e.g. welcome.")
    title: str = strawberry.field(description="Headline.")
    body: str = strawberry.field(description="Text.")
    created_at: datetime = strawberry.field(description="When it was sent (UTC).")
    read: bool = strawberry.field(description="Whether the member has read it.")
