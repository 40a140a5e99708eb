"""Passwords (argon2id), keyed hashes and encryption of personal data at rest (D4)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from typing import cast

import anyio.to_thread
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from passlib.context import CryptContext

from services.settings import get_settings

# OWASP minimum for argon2id: m = 19 MiB, t = 2, p = 1.
_password_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)
_hash_slots: asyncio.Semaphore | None = None
# Verified against when the phone is unknown, so a miss costs as much as a hit.
_DUMMY_HASH = _password_context.hash(secrets.token_hex(16))


def _slots() -> asyncio.Semaphore:
    # Hashing is CPU- and memory-heavy: run it in threads, a few at a time.
    global _hash_slots
    if _hash_slots is None:
        _hash_slots = asyncio.Semaphore(get_settings().password_hash_concurrency)
    return _hash_slots


async def hash_password(password: str) -> str:
    async with _slots():
        return await anyio.to_thread.run_sync(_password_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    async with _slots():
        return (
            await anyio.to_thread.run_sync(
                _password_context.verify, password, password_hash or _DUMMY_HASH
            )
            and password_hash is not None
        )


def password_needs_rehash(password_hash: str) -> bool:
    return cast(bool, _password_context.needs_update(password_hash))


@lru_cache
def _pii_key() -> bytes:
    key = base64.b64decode(get_settings().pii_key)
    if len(key) != 32:
        raise ValueError("PII_KEY must be 32 bytes, base64-encoded")
    return key


def lookup_hash(value: str) -> str:
    """Keyed hash used to find a row by a personal value without storing it in clear."""
    return hmac.new(_pii_key(), value.encode(), hashlib.sha256).hexdigest()


def encrypt_pii(value: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_pii_key()).encrypt(nonce, value.encode(), None)
    return base64.b64encode(nonce + sealed).decode()


def decrypt_pii(token: str) -> str:
    raw = base64.b64decode(token)
    return AESGCM(_pii_key()).decrypt(raw[:12], raw[12:], None).decode()


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits."""
    return f"{phone[:3]}****{phone[-4:]}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
