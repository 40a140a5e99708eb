"""Personal-data key rotation (D4): re-encrypt every stored value under the current key.

Every encrypted column is listed once in ENCRYPTED_COLUMNS; a new one is one more line
(tests/kit/test_pii_keys.py fails for a model column named `*_cipher`, or a
service writing `encrypt_pii` into a column, that the list leaves out).

`rotate_all` walks each column's table in primary-key order, in batches; each batch is
one transaction that locks its rows (FOR UPDATE on PostgreSQL), re-encrypts the values
whose key id is not PII_KEY_ID (legacy values without a key id included) and writes
them back. Every stored value is always either under its old key or under the new one,
and both decrypt while the old key is in PII_RETIRED_KEYS, so a run that stops half-way
loses nothing and the next run finishes the work; a run with nothing left to do
changes nothing. Lookup hashes are left alone: they use PII_LOOKUP_KEY, which is not
rotated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.contracts import ContractEmail
from models.credit import VerificationSubmission
from models.members import User
from models.messaging import OutgoingMessage
from models.payments import BankCard, PaymentInstruction, ProviderAccount
from services.kit.security import decrypt_pii, lookup_hash, reencrypt_pii

DEFAULT_BATCH_SIZE = 500
# Users whose phone lookup is checked against PII_LOOKUP_KEY before anything changes.
_LOOKUP_SAMPLE = 20


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding `encrypt_pii` values: the value itself, or (`nested`) a JSON
    object {name: {"cipher": value, ...}} in which only the "cipher" entries are."""

    model: type[Model]
    column: str
    nested: bool = False

    @property
    def table(self) -> str:
        return self.model._meta.db_table


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(User, "phone_cipher"),
    EncryptedColumn(ProviderAccount, "real_name_cipher"),
    EncryptedColumn(ProviderAccount, "id_number_cipher"),
    EncryptedColumn(BankCard, "card_cipher"),
    EncryptedColumn(VerificationSubmission, "field_values", nested=True),
    # Personal parameters of payment instructions (services/payments/instructions.py).
    EncryptedColumn(PaymentInstruction, "params", nested=True),
    # E-mail addresses contracts are sent to (services/contracts/emails.py).
    EncryptedColumn(ContractEmail, "recipient_cipher"),
    # Phone numbers SMS are sent to (services/platform/notifier.py); empty for e-mail.
    EncryptedColumn(OutgoingMessage, "recipient_cipher"),
)


@dataclass
class ColumnRotation:
    """What one run did to one column."""

    table: str
    column: str
    rows: int = 0  # rows read
    values: int = 0  # encrypted values found
    rotated: int = 0  # of those, re-encrypted under the current key


class LookupKeyMismatchError(RuntimeError):
    """PII_LOOKUP_KEY does not reproduce the stored lookups: nothing was rotated."""


async def check_lookup_key() -> None:
    """Refuse to run with a lookup key the stored lookups were not made with (typically
    PII_LOOKUP_KEY left unset while PII_KEY changed): logins by phone would all fail."""
    users = await User.all().order_by("id").limit(_LOOKUP_SAMPLE)
    for user in users:
        if lookup_hash(decrypt_pii(user.phone_cipher)) != user.phone_lookup:
            raise LookupKeyMismatchError(
                f"PII_LOOKUP_KEY does not reproduce users.phone_lookup (user {user.id}): "
                "set it to the key the lookups were made with (the first PII_KEY, if "
                "PII_LOOKUP_KEY was never set); nothing was changed"
            )


async def rotate_all(*, batch_size: int = DEFAULT_BATCH_SIZE) -> list[ColumnRotation]:
    """Re-encrypt every value of ENCRYPTED_COLUMNS not under the current key.

    Raises LookupKeyMismatchError before changing anything when the lookup key is wrong,
    and PiiCipherError (UnknownPiiKeyError) for a value no configured key decrypts: the
    batches before it stay committed, its own is rolled back.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    await check_lookup_key()
    return [await rotate_column(entry, batch_size=batch_size) for entry in ENCRYPTED_COLUMNS]


async def rotate_column(
    entry: EncryptedColumn, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> ColumnRotation:
    """One column of ENCRYPTED_COLUMNS, in batches of `batch_size` rows, one
    transaction each."""
    counts = ColumnRotation(table=entry.table, column=entry.column)
    pk = entry.model._meta.pk_attr
    last: Any = None
    while True:
        async with in_transaction():
            query = entry.model.all()
            if last is not None:
                query = query.filter(**{f"{pk}__gt": last})
            rows = await query.order_by(pk).limit(batch_size).select_for_update()
            for row in rows:
                stored = getattr(row, entry.column)
                if entry.nested:
                    new_value, found, rotated = _rotate_nested(stored)
                else:
                    new_value, found, rotated = _rotate_value(stored)
                counts.values += found
                if rotated:
                    counts.rotated += rotated
                    # A query update: no model hooks, `auto_now` columns stay as they are.
                    await entry.model.filter(**{pk: row.pk}).update(**{entry.column: new_value})
        counts.rows += len(rows)
        if len(rows) < batch_size:
            return counts
        last = rows[-1].pk


def _rotate_value(stored: str | None) -> tuple[str | None, int, int]:
    """(value to store, values found, values re-encrypted). Empty means nothing stored."""
    if not stored:
        return stored, 0, 0
    fresh = reencrypt_pii(stored)
    return (stored, 1, 0) if fresh is None else (fresh, 1, 1)


def _rotate_nested(stored: Any) -> tuple[Any, int, int]:
    if not isinstance(stored, dict):
        return stored, 0, 0
    result: dict[str, Any] = {}
    found = rotated = 0
    for name, entry in stored.items():
        if isinstance(entry, dict) and isinstance(entry.get("cipher"), str):
            cipher, one, changed = _rotate_value(entry["cipher"])
            found += one
            rotated += changed
            entry = {**entry, "cipher": cipher}
        result[name] = entry
    return result, found, rotated
