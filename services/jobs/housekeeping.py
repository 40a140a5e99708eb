"""Housekeeping: drop security rows whose purpose has passed."""

from __future__ import annotations

from datetime import timedelta

from models.access import RefreshToken, RevokedAccessToken
from models.messaging import SmsCode
from services.jobs.registry import register
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
