"""Operation log (hash-chained) and the business clock."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class OperationLogEntry(Model):
    """One mutation: who, what, when, from where, result. Sealed into a SHA-256 chain.

    Appended with no lock (seq, prev_hash and entry_hash null, content_hash set), then
    sealed into the chain in order by `services/platform/oplog.seal`."""

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True, null=True)
    actor_id = fields.BigIntField(null=True)
    actor_label = fields.CharField(max_length=64)
    operation = fields.CharField(max_length=128)
    arguments: fields.JSONField[dict[str, Any]] = fields.JSONField()
    client_ip = fields.CharField(max_length=64)
    user_agent = fields.CharField(max_length=255, default="")
    result = fields.CharField(max_length=128)
    trace_id = fields.CharField(max_length=32)
    created_at = fields.DatetimeField()
    content_hash = fields.CharField(max_length=64, null=True)
    prev_hash = fields.CharField(max_length=64, null=True)
    entry_hash = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "operation_log"


class OperationLogHead(Model):
    """The chain's tip: locked to seal, and it catches deletion of the last entries.

    `pruned_seq` and `pruned_hash` are its foot: the retention purge removes the chain's
    oldest entries up to `pruned_seq`, whose entry hash it keeps, so the entries left
    still verify from there (0 and the genesis hash while nothing was pruned)."""

    id = fields.IntField(primary_key=True)
    last_seq = fields.BigIntField(default=0)
    last_hash = fields.CharField(max_length=64)
    pruned_seq = fields.BigIntField(default=0, db_default=0)
    pruned_hash = fields.CharField(max_length=64, default="0" * 64, db_default="0" * 64)

    class Meta:
        table = "operation_log_head"


class ScheduledJob(Model):
    """A periodic job's schedule and lease, shared by every process that runs jobs: one
    of them runs it at a time, and another takes it over if that one dies."""

    name = fields.CharField(max_length=64, primary_key=True)
    next_due_at = fields.DatetimeField()
    holder = fields.CharField(max_length=128, null=True)
    lease_until = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    runs = fields.IntField(default=0)
    failures = fields.IntField(default=0)
    taken_over = fields.IntField(default=0)
    last_error = fields.CharField(max_length=255, default="")

    class Meta:
        table = "scheduled_jobs"


class ClockState(Model):
    """Offset of the business clock from real time (moved only in dev/test)."""

    id = fields.IntField(primary_key=True)
    offset_seconds = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "clock_state"


class PersonalDataReveal(Model):
    """A staff member saw a full personal value (D4): who, whose, which, why, when."""

    id = fields.BigIntField(primary_key=True)
    actor_id = fields.BigIntField()
    subject_user_id = fields.BigIntField(db_index=True)
    field_name = fields.CharField(max_length=32)
    reason = fields.CharField(max_length=255)
    client_ip = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "personal_data_reveals"


class PlatformParameter(Model):
    """The stored value of a platform parameter (M11.3), as JSON."""

    name = fields.CharField(max_length=64, primary_key=True)
    value: fields.JSONField[Any] = fields.JSONField()
    updated_at = fields.DatetimeField()
    updated_by = fields.BigIntField(null=True)

    class Meta:
        table = "platform_parameters"


class ParameterChange(Model):
    """One change of a platform parameter: old and new value, who, why, when."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64, db_index=True)
    old_value: fields.JSONField[Any] = fields.JSONField()
    new_value: fields.JSONField[Any] = fields.JSONField()
    actor_id = fields.BigIntField(null=True)
    reason = fields.CharField(max_length=255)
    created_at = fields.DatetimeField()

    class Meta:
        table = "parameter_changes"


class PersistedManifest(Model):
    """One loaded version of the persisted-query manifest (trusted documents). The newest
    version is live: every API process looks for it and switches without a restart."""

    version = fields.IntField(primary_key=True)
    sha256 = fields.CharField(max_length=64)
    operations: fields.JSONField[list[dict[str, str]]] = fields.JSONField()
    # {set name: [operation names]}: the persisted/<set>/ folders, for partners' allow-lists.
    sets: fields.JSONField[dict[str, list[str]]] = fields.JSONField(default=dict, db_default="{}")
    loaded_at = fields.DatetimeField()

    class Meta:
        table = "persisted_manifests"
