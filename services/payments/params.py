"""Payment instructions' parameters as stored: personal ones encrypted (D4)."""

from __future__ import annotations

from typing import Any

from services.kit.security import decrypt_pii, encrypt_pii

# Parameters that carry personal data: encrypted at rest (services/pii_rotation.py
# re-encrypts them with the rest when the key changes).
PERSONAL_PARAMS = frozenset(
    {"real_name", "card_number", "holder_name", "holder_id_number", "phone"}
)


def seal_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as stored: personal ones encrypted."""
    return {
        name: {"cipher": encrypt_pii(value)}
        if name in PERSONAL_PARAMS and isinstance(value, str)
        else value
        for name, value in params.items()
    }


def open_params(params: dict[str, Any]) -> dict[str, Any]:
    """The stored parameters with the personal ones decrypted (ones stored in clear
    before they were encrypted are returned as they are)."""
    return {
        name: decrypt_pii(value["cipher"])
        if isinstance(value, dict) and isinstance(value.get("cipher"), str)
        else value
        for name, value in params.items()
    }
