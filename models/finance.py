"""Finance: reconciliation runs and breaks, instruction outcomes as received, and
maker-checker adjustments (M4.6, M10.3)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.ledger import Journal
    from models.members import User


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class BreakKind(StrEnum):
    MISSING_AT_PROVIDER = "MISSING_AT_PROVIDER"  # the platform has it, the provider does not
    MISSING_AT_PLATFORM = (
        "MISSING_AT_PLATFORM"  # the provider moved money the platform never asked for
    )
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    KIND_MISMATCH = "KIND_MISMATCH"
    STATUS_MISMATCH = "STATUS_MISMATCH"  # one side says it succeeded, the other does not
    BALANCE_MISMATCH = "BALANCE_MISMATCH"  # a balance no known cause explains


class BreakState(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"  # corrected by an approved adjustment
    ACCEPTED = "ACCEPTED"  # explained, nothing to correct (approved by a second person)


class AdjustmentStatus(StrEnum):
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class ReconciliationRun(Model):
    """One daily batch: the provider's statement of `day` and its balances against the
    ledger. `triggered_by` is null when the daily job ran it."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField(db_index=True)
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.RUNNING)
    triggered_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reconciliation_runs", on_delete=fields.RESTRICT, null=True
    )
    triggered_by_id: int | None
    statement_lines = fields.IntField(default=0)
    matched = fields.IntField(default=0)
    in_flight = fields.IntField(default=0)
    accounts_checked = fields.IntField(default=0)
    breaks_found = fields.IntField(default=0)  # new breaks recorded by this run
    breaks_known = fields.IntField(default=0)  # differences already recorded earlier
    error = fields.CharField(max_length=255, default="")
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "reconciliation_runs"


class ReconciliationBreak(Model):
    """A difference between the platform and the provider. `key` makes recording it
    idempotent (kind and request id, or kind, account and day for balances).

    Amounts are fen. `details` describes the movement behind a transaction break (kind,
    provider accounts, signed effect) so later balance checks can tell it apart from a
    new difference.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=160, unique=True)
    run: fields.ForeignKeyNullableRelation[ReconciliationRun] = fields.ForeignKeyField(
        "models.ReconciliationRun", related_name="breaks", on_delete=fields.RESTRICT, null=True
    )
    run_id: int | None
    day = fields.DateField(db_index=True)
    kind = fields.CharEnumField(BreakKind, max_length=24)
    request_id = fields.CharField(max_length=64, default="", db_index=True)
    account = fields.CharField(max_length=64, default="")
    platform_amount = fields.BigIntField(null=True)
    provider_amount = fields.BigIntField(null=True)
    note = fields.CharField(max_length=255, default="")
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    state = fields.CharEnumField(BreakState, max_length=16, default=BreakState.OPEN)
    resolved_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="resolved_breaks", on_delete=fields.RESTRICT, null=True
    )
    resolved_by_id: int | None
    resolution = fields.CharField(max_length=500, default="")
    resolved_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reconciliation_breaks"
        indexes = (("state", "id"),)


class InstructionOutcome(Model):
    """The first final outcome of a money movement as the platform received it (by call,
    callback or query): the business day it arrived and what the provider said moved."""

    id = fields.BigIntField(primary_key=True)
    request_id = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16)
    business_day = fields.DateField(db_index=True)
    platform_amount = fields.BigIntField()
    provider_amount = fields.BigIntField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "instruction_outcomes"


class Adjustment(Model):
    """A manual correction (M10.3): proposed by one staff member, approved or rejected by
    another. `entries` are signed ledger postings in fen that sum to zero, as
    [{"account": code, "amount": fen}]. With no entries it proposes to accept a break
    as it is. `moves_money` says whether approval also moves the money at the provider.
    """

    id = fields.BigIntField(primary_key=True)
    reconciliation_break: fields.ForeignKeyNullableRelation[ReconciliationBreak] = (
        fields.ForeignKeyField(
            "models.ReconciliationBreak",
            related_name="adjustments",
            on_delete=fields.RESTRICT,
            null=True,
        )
    )
    reconciliation_break_id: int | None
    reason = fields.CharField(max_length=500)
    entries: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    moves_money = fields.BooleanField(default=False)
    member_consent_operation_id = fields.UUIDField(null=True)
    status = fields.CharEnumField(
        AdjustmentStatus, max_length=16, default=AdjustmentStatus.PROPOSED
    )
    proposed_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="proposed_adjustments", on_delete=fields.RESTRICT
    )
    proposed_by_id: int
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="decided_adjustments", on_delete=fields.RESTRICT, null=True
    )
    decided_by_id: int | None
    decision_note = fields.CharField(max_length=500, default="")
    journal: fields.ForeignKeyNullableRelation[Journal] = fields.ForeignKeyField(
        "models.Journal", related_name="adjustments", on_delete=fields.RESTRICT, null=True
    )
    journal_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "adjustments"
