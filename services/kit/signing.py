"""The platform's Ed25519 signature over what it receives and issues (M3.6, R6).

`PLATFORM_SIGNING_KEY` is base64 of the 32-byte private key; anyone holding the public
key (`public_key_b64`) can check a signature.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.kit.settings import get_settings


@lru_cache
def _private_key(encoded: str) -> Ed25519PrivateKey:
    raw = base64.b64decode(encoded)
    if len(raw) != 32:
        raise ValueError("PLATFORM_SIGNING_KEY must be 32 bytes, base64-encoded")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _key() -> Ed25519PrivateKey:
    return _private_key(get_settings().platform_signing_key)


def public_key() -> Ed25519PublicKey:
    return _key().public_key()


def public_key_b64() -> str:
    """The raw 32-byte public key, base64: what a verifier outside the platform needs."""
    raw = public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(data: bytes) -> str:
    """Base64 of the 64-byte Ed25519 signature."""
    return base64.b64encode(_key().sign(data)).decode()


def verify(data: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key().verify(raw, data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
