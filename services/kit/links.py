"""Signed, expiring links: an HMAC-SHA256 over what a link names (kind, object id,
subject, expiry and a kind-specific scope), so a URL can stand in for a bearer token
for a few minutes (services/downloads.py).

The key is not a secret of its own: it is derived with HKDF-SHA256 from `JWT_SECRET`
(the key of the access tokens, which prod refuses to run with its development value)
under a label of its own, so a link signature is never a valid token signature and the
other way round. Changing `JWT_SECRET` voids every outstanding link along with every
access token. This module knows no domain: the kinds are the caller's strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.kit.settings import get_settings

_VERSION = "lendbridge-link-v1"
_KEY_LABEL = b"lendbridge/signed-links/v1"


@dataclass(frozen=True)
class LinkClaims:
    """What a link names. Every field is covered by its signature."""

    kind: str
    object_id: int
    subject_id: int  # the user the link was issued to
    expires: int  # Unix seconds (UTC): refused from this second on
    scope: str = ""  # kind-specific, canonical (e.g. a statement's filter)

    def message(self) -> bytes:
        """The bytes signed: one field per line, so no two claims share a message."""
        if "\n" in self.kind or "\n" in self.scope:
            raise ValueError("a link's kind and scope are single lines")
        fields = [_VERSION, self.kind, self.object_id, self.subject_id, self.expires, self.scope]
        return "\n".join(str(field) for field in fields).encode()


@lru_cache(maxsize=4)
def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(
        secret.encode()
    )


def _key() -> bytes:
    return _derive(get_settings().jwt_secret)


def sign(claims: LinkClaims) -> str:
    """The signature of `claims`: base64url of the 32-byte HMAC-SHA256, unpadded."""
    digest = hmac.new(_key(), claims.message(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(claims: LinkClaims, signature: str) -> bool:
    """True when `signature` is the one `sign(claims)` gives (compared in constant time).
    Says nothing about expiry: the caller compares `claims.expires` with its clock."""
    return hmac.compare_digest(sign(claims).encode(), signature.encode("utf-8", "replace"))
