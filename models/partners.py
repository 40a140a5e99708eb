"""Partners: other systems that reach the platform through persisted queries only
(issue 18, docs/partners.md). Each has API keys (stored as hashes), the operation sets
it may run, a rate limit and a daily quota; its requests are counted per operation."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Partner(Model):
    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)  # a slug: "acme-credit"
    name = fields.CharField(max_length=128)
    # Names of persisted/<set>/ folders whose operations this partner may run.
    operation_sets: fields.JSONField[list[str]] = fields.JSONField()
    rate_per_minute = fields.IntField()
    daily_quota = fields.IntField()
    status = fields.CharField(max_length=16, default="active")  # active / revoked
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    keys: fields.ReverseRelation[PartnerKey]

    class Meta:
        table = "partners"


class PartnerKey(Model):
    """One API key: `lbp_<key_id>_<secret>`. Only the SHA-256 of the whole key is kept
    (the secret has 256 bits, so a fast hash is enough). `expires_at` is set when a
    newer key replaces it (the end of the overlap)."""

    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="keys", on_delete=fields.RESTRICT
    )
    partner_id: int
    key_id = fields.CharField(max_length=16, unique=True)
    key_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_keys"


class PartnerUsage(Model):
    """Requests of one partner on one business day, per operation and outcome (`ok` or
    the refusal's or first error's code)."""

    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="usage", on_delete=fields.RESTRICT
    )
    partner_id: int
    day = fields.DateField()
    operation = fields.CharField(max_length=64)
    outcome = fields.CharField(max_length=48)
    count = fields.BigIntField(default=0)

    class Meta:
        table = "partner_usage"
        unique_together = (("partner_id", "day", "operation", "outcome"),)
