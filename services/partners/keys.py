"""Partners and their API keys: add, rotate with an overlap, revoke, and who a key is.

A key is `lbp_<key id>_<secret>`, shown once. Only the SHA-256 of the whole key is
stored: the secret has 256 bits, so a fast hash cannot be reversed by guessing, and
checking a key costs one indexed read (by key id) and one constant-time comparison.
Rotation issues a new key and lets the old one work until the end of the overlap;
revocation ends a key (or the partner) at once. Each process keeps what it learned of a
key for `PARTNER_KEY_CACHE_SECONDS`, so a revocation reaches every process within that
time, without the broker (the CLI may run beside an embedded server).

Key times are security timers: real time (`system_now`), never the business clock, so
moving the dev clock does not expire keys.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models.partners import Partner, PartnerKey
from services.errors import InvalidInputError, NotFoundError
from services.identity.permissions import Actor, role_grants
from services.kit.security import sha256_hex
from services.platform.clock import system_now

PREFIX = "lbp_"
_KEY = re.compile(r"lbp_([a-z2-7]{12})_([A-Za-z0-9_-]{43})")
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
_SET = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
MAX_OVERLAP = timedelta(days=30)


def _now() -> datetime:
    return system_now()


@dataclass(frozen=True)
class PartnerIdentity:
    """Who a valid key belongs to, as a request needs it."""

    partner_id: int
    code: str
    sets: frozenset[str]
    rate_per_minute: int
    daily_quota: int
    key_id: str
    expires_at: datetime | None
    actor: Actor
    # Names the partner's shared counters: its id and when it was made, so a database
    # whose ids start again (a test run) never meets an older partner's counts.
    counter_name: str


@dataclass(frozen=True)
class IssuedKey:
    partner: Partner
    key: str  # shown once
    key_id: str
    old_key_expires_at: datetime | None = None


def looks_like_key(token: str | None) -> bool:
    return bool(token) and str(token).startswith(PREFIX)


def _new_key() -> tuple[str, str]:
    key_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def _check(code: str, sets: list[str], rate_per_minute: int, daily_quota: int) -> None:
    if not _CODE.fullmatch(code):
        raise InvalidInputError("The code is 2-32 lowercase letters, digits or '-'", field="code")
    if not sets or not all(_SET.fullmatch(name) for name in sets):
        raise InvalidInputError("Name at least one operation set (persisted/<set>/)", field="sets")
    if not 1 <= rate_per_minute <= 100_000:
        raise InvalidInputError("The rate limit is 1 to 100,000 a minute", field="ratePerMinute")
    if not 1 <= daily_quota <= 100_000_000:
        raise InvalidInputError("The daily quota is 1 to 100,000,000", field="dailyQuota")


async def add_partner(
    *, code: str, name: str, sets: list[str], rate_per_minute: int, daily_quota: int
) -> IssuedKey:
    _check(code, sets, rate_per_minute, daily_quota)
    if not 1 <= len(name.strip()) <= 128:
        raise InvalidInputError("The name has 1 to 128 characters", field="name")
    async with in_transaction():
        if await Partner.exists(code=code):
            raise InvalidInputError(f"A partner {code} exists already", field="code")
        partner = await Partner.create(
            code=code,
            name=name.strip(),
            operation_sets=sorted(set(sets)),
            rate_per_minute=rate_per_minute,
            daily_quota=daily_quota,
            created_at=_now(),
        )
        key_id, key = _new_key()
        await PartnerKey.create(
            partner=partner, key_id=key_id, key_hash=sha256_hex(key), created_at=_now()
        )
    return IssuedKey(partner=partner, key=key, key_id=key_id)


async def _active_partner(code: str) -> Partner:
    partner = await Partner.get_or_none(code=code)
    if partner is None or partner.status != "active":
        raise NotFoundError(f"No active partner {code}")
    return partner


async def rotate(code: str, *, overlap: timedelta) -> IssuedKey:
    """A new key; every key still valid now stops working `overlap` from now (or at its
    own earlier end)."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInputError("The overlap is 0 to 30 days", field="overlap")
    async with in_transaction():
        partner = await _active_partner(code)
        now = _now()
        ends = now + overlap
        for old in await PartnerKey.filter(partner=partner, revoked_at=None).select_for_update():
            if old.expires_at is None or old.expires_at > ends:
                old.expires_at = ends
                await old.save(update_fields=["expires_at"])
        key_id, key = _new_key()
        await PartnerKey.create(
            partner=partner, key_id=key_id, key_hash=sha256_hex(key), created_at=now
        )
    return IssuedKey(partner=partner, key=key, key_id=key_id, old_key_expires_at=ends)


async def revoke(code: str, key_id: str | None = None) -> list[str]:
    """Revoke one key, or (no key id) the partner and all its keys. Returns the key ids
    revoked now."""
    async with in_transaction():
        partner = await _active_partner(code)
        keys = PartnerKey.filter(partner=partner, revoked_at=None)
        if key_id is not None:
            keys = keys.filter(key_id=key_id)
        found = await keys.select_for_update()
        if key_id is not None and not found:
            raise NotFoundError(f"No live key {key_id} of {code}")
        now = _now()
        for key in found:
            key.revoked_at = now
            await key.save(update_fields=["revoked_at"])
        if key_id is None:
            partner.status, partner.revoked_at = "revoked", now
            await partner.save(update_fields=["status", "revoked_at"])
    return [key.key_id for key in found]


# --- who a key is ----------------------------------------------------------------------

_cache: dict[str, tuple[float, PartnerIdentity | None]] = {}
_CACHE_LIMIT = 10_000


async def _lookup(key: str) -> PartnerIdentity | None:
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    row = await PartnerKey.get_or_none(key_id=match.group(1)).select_related("partner")
    if row is None or row.revoked_at is not None or row.partner.status != "active":
        return None
    if not hmac.compare_digest(row.key_hash, sha256_hex(key)):
        return None
    partner = row.partner
    permissions = (await role_grants()).get("partner", frozenset())
    actor = Actor(
        kind="partner",
        roles=frozenset({"partner"}),
        permissions=permissions,
        label=f"partner:{partner.code}",
        token_id=row.key_id,
        partner_id=partner.id,
    )
    return PartnerIdentity(
        partner_id=partner.id,
        code=partner.code,
        sets=frozenset(partner.operation_sets),
        rate_per_minute=partner.rate_per_minute,
        daily_quota=partner.daily_quota,
        key_id=row.key_id,
        expires_at=row.expires_at,
        actor=actor,
        counter_name=f"{partner.id}-{partner.created_at:%Y%m%d%H%M%S%f}",
    )


async def identify(key: str, *, cache_seconds: float) -> PartnerIdentity | None:
    """The partner of a key that works now; None for a wrong, revoked or expired one.
    What was read of a key is trusted for `cache_seconds`."""
    digest = sha256_hex(key)
    seen = _cache.get(digest)
    if seen is None or time.monotonic() - seen[0] >= cache_seconds:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        seen = (time.monotonic(), await _lookup(key))
        _cache[digest] = seen
    identity = seen[1]
    if identity is None or (identity.expires_at is not None and _now() >= identity.expires_at):
        return None
    return identity


def forget_cached_keys() -> None:
    _cache.clear()
