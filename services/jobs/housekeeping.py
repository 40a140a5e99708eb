"""Housekeeping: drop security rows whose purpose has passed, and outbox events published
long enough ago (the outbox is a queue, not a record: what happened is in the ledger,
the receipts and the operation log)."""

from __future__ import annotations

from datetime import timedelta

from models.access import RefreshToken, RevokedAccessToken
from models.messaging import OutboxEvent, SmsCode
from services.jobs.registry import register
from services.kit.settings import get_settings
from services.platform.clock import system_now


@register("purge_expired_credentials", every_seconds=3600)
async def purge_expired_credentials() -> dict[str, int]:
    """Revoked access tokens past their expiry (they fail the JWT check anyway), refresh
    tokens expired over a day ago, and SMS codes over a day old."""
    now = system_now()
    day_ago = now - timedelta(days=1)
    return {
        "revoked_access_tokens": await RevokedAccessToken.filter(expires_at__lt=now).delete(),
        "refresh_tokens": await RefreshToken.filter(expires_at__lt=day_ago).delete(),
        "sms_codes": await SmsCode.filter(created_at__lt=day_ago).delete(),
    }


# Rows deleted by one statement: a backlog of a million goes in short transactions.
PURGE_BATCH = 10_000


@register("purge_published_outbox", every_seconds=3600)
async def purge_published_outbox() -> int:
    """Outbox events published more than OUTBOX_KEEP_DAYS ago (wall clock, as the
    dispatcher stamps them), a batch at a time; events never published (waiting, or
    given up after their attempts) stay for whoever looks into them. Returns how many
    went."""
    before = system_now() - timedelta(days=get_settings().outbox_keep_days)
    gone = 0
    while True:
        ids = (
            await OutboxEvent.filter(published_at__lt=before)
            .limit(PURGE_BATCH)
            .values_list("id", flat=True)
        )
        if not ids:
            return gone
        gone += await OutboxEvent.filter(id__in=list(ids)).delete()
