"""Passwords (argon2id), keyed hashes and encryption of personal data at rest (D4)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import cast

import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from passlib.context import CryptContext

from services.kit.settings import decode_pii_key, get_settings

# argon2id at the OWASP minimum (m = 19 MiB, t = 2, p = 1); the test suite's cheaper cost
# (settings.hash_cost: PASSWORD_HASH_COST, in APP_ENV=test only) differs in m and t alone.
_COSTS = {"owasp": (19 * 1024, 2), "test": (1024, 1)}
_hash_slots: asyncio.Semaphore | None = None


@cache
def _context_for(cost: str) -> CryptContext:
    memory, rounds = _COSTS[cost]
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=memory,
        argon2__time_cost=rounds,
        argon2__parallelism=1,
    )


def _password_context() -> CryptContext:
    return _context_for(get_settings().hash_cost)


@cache
def _dummy_hash(cost: str) -> str:
    """Verified against when the phone is unknown, so a miss costs as much as a hit."""
    return cast(str, _context_for(cost).hash(secrets.token_hex(16)))


def _slots() -> asyncio.Semaphore:
    # Hashing is CPU- and memory-heavy: run it in threads, a few at a time.
    global _hash_slots
    if _hash_slots is None:
        _hash_slots = asyncio.Semaphore(get_settings().password_hash_concurrency)
    return _hash_slots


async def hash_password(password: str) -> str:
    async with _slots():
        return await anyio.to_thread.run_sync(_password_context().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    context = _password_context()
    dummy = _dummy_hash(get_settings().hash_cost)
    async with _slots():
        return (
            await anyio.to_thread.run_sync(context.verify, password, password_hash or dummy)
            and password_hash is not None
        )


def password_needs_rehash(password_hash: str) -> bool:
    return cast(bool, _password_context().needs_update(password_hash))


class PiiCipherError(ValueError):
    """A stored personal-data value cannot be decrypted: it was altered (its key id
    included), or it was written with a key that is no longer configured."""


class UnknownPiiKeyError(PiiCipherError):
    """The value names a key id that is neither PII_KEY_ID nor one of PII_RETIRED_KEYS."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"Personal data encrypted with key id {key_id!r}, which is neither PII_KEY_ID "
            "nor in PII_RETIRED_KEYS: configure that key (as a retired one) to read it"
        )
        self.key_id = key_id


@dataclass(frozen=True)
class PiiKeys:
    """The configured personal-data keys: `current_id` encrypts, every one in `ciphers`
    (the current one included) decrypts what it wrote; `lookup` keys the lookup hashes."""

    current_id: str
    ciphers: Mapping[str, AESGCM]
    lookup: bytes


@lru_cache
def pii_keys() -> PiiKeys:
    settings = get_settings()
    ciphers = {settings.pii_key_id: AESGCM(decode_pii_key("PII_KEY", settings.pii_key))}
    for key_id, key in settings.retired_pii_keys.items():
        if key_id == settings.pii_key_id:
            raise ValueError(f"PII_RETIRED_KEYS names the current key id {key_id!r}")
        ciphers[key_id] = AESGCM(decode_pii_key(f"PII_RETIRED_KEYS ({key_id})", key))
    lookup = decode_pii_key("PII_LOOKUP_KEY", settings.effective_pii_lookup_key)
    return PiiKeys(current_id=settings.pii_key_id, ciphers=ciphers, lookup=lookup)


def reset_pii_keys() -> None:
    """Forget the cached keys, so the next use reads the settings again (tests)."""
    pii_keys.cache_clear()


def lookup_hash(value: str) -> str:
    """Keyed hash used to find a row by a personal value without storing it in clear.

    Keyed by PII_LOOKUP_KEY (PII_KEY when unset), which `rotate-pii` does not change:
    a new lookup key would need every stored lookup re-hashed.
    """
    return hmac.new(pii_keys().lookup, value.encode(), hashlib.sha256).hexdigest()


def encrypt_pii(value: str) -> str:
    """The value encrypted with the current key, as "<kid>:<base64(nonce + AES-GCM
    ciphertext)>"; the key id is bound as associated data, so a value moved under
    another key id does not decrypt."""
    keys = pii_keys()
    nonce = os.urandom(12)
    sealed = keys.ciphers[keys.current_id].encrypt(nonce, value.encode(), keys.current_id.encode())
    return f"{keys.current_id}:{base64.b64encode(nonce + sealed).decode()}"


def pii_key_id(token: str) -> str | None:
    """The key id a stored value names; None for a legacy value (written before key ids,
    plain base64, which never holds a colon)."""
    key_id, sep, _rest = token.partition(":")
    return key_id if sep else None


def decrypt_pii(token: str) -> str:
    """The plaintext of a value written by `encrypt_pii`, with the key its id names.

    A legacy value (no key id, no associated data) was written with the PII_KEY of its
    time: the current key until the first rotation, a retired one after it; they are
    tried in that order. Raises UnknownPiiKeyError for a key id not configured and
    PiiCipherError for a value that does not authenticate.
    """
    keys = pii_keys()
    key_id, sep, body = token.partition(":")
    if not sep:
        raw = _unbase64(token)
        for legacy_id in sorted(keys.ciphers, key=lambda kid: kid != keys.current_id):
            with contextlib.suppress(InvalidTag):
                return keys.ciphers[legacy_id].decrypt(raw[:12], raw[12:], None).decode()
        raise PiiCipherError(
            "A personal-data value without a key id decrypts with neither PII_KEY nor any "
            "of PII_RETIRED_KEYS (altered, or its key is not configured)"
        )
    cipher = keys.ciphers.get(key_id)
    if cipher is None:
        raise UnknownPiiKeyError(key_id)
    raw = _unbase64(body)
    try:
        return cipher.decrypt(raw[:12], raw[12:], key_id.encode()).decode()
    except InvalidTag as error:
        raise PiiCipherError(
            f"A personal-data value under key id {key_id!r} does not authenticate "
            "(the value or its key id was altered)"
        ) from error


def reencrypt_pii(token: str) -> str | None:
    """`token` encrypted again with the current key, or None when it already is."""
    if pii_key_id(token) == pii_keys().current_id:
        return None
    return encrypt_pii(decrypt_pii(token))


def _unbase64(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PiiCipherError("A personal-data value is not valid base64") from error
    if len(raw) < 12 + 16:  # nonce + tag
        raise PiiCipherError("A personal-data value is too short to be a ciphertext")
    return raw


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits."""
    return f"{phone[:3]}****{phone[-4:]}"


def mask_email(address: str) -> str:
    """b***@example.com: the first character of the local part and the domain."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
