"""Operation log, business clock, notices and dev tools."""

from __future__ import annotations

from datetime import date, datetime
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


@strawberry.type(description="The business clock: what the platform takes as now.")
class BusinessClock:
    now: datetime = strawberry.field(description="Business time (UTC).")
    today: date = strawberry.field(description="Business date.")


@strawberry.input(description="Move business time forward (dev and test only).")
class DevAdvanceClockInput:
    days: int = strawberry.field(description="Whole days, 1 to 3660.")


DevAdvanceClockErrorCode = error_codes(
    "DevAdvanceClock", ["INVALID", "FORBIDDEN"], "Why the clock did not move."
)
DevAdvanceClockError = error_type("DevAdvanceClock", DevAdvanceClockErrorCode, "Not moved.")
DevAdvanceClockResult = Annotated[
    BusinessClock | DevAdvanceClockError, strawberry.union("DevAdvanceClockResult")
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
