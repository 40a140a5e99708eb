"""Jobs: the housekeeping job deletes only rows whose time has passed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models.access import RefreshToken, RevokedAccessToken
from services import jobs
from services.platform.clock import system_now
from tests.factories import create_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_purge_removes_expired_credentials_and_keeps_live_ones():
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

    ran = await jobs.run_due(now=10**9)

    assert "purge_expired_credentials" in ran
    assert await RevokedAccessToken.all().values_list("jti", flat=True) == ["live"]
    assert await RefreshToken.all().values_list("token_hash", flat=True) == ["b" * 64]
    # Not due again until its period has passed.
    assert "purge_expired_credentials" not in await jobs.run_due(now=10**9 + 1)
