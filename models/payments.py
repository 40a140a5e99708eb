"""Provider-side records: virtual accounts, bank cards, instructions, deposits,
withdrawals, member confirmations, idempotency keys and processed callbacks."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class ProviderAccount(Model):
    """A virtual account at the provider: one per member, one per platform account."""

    id = fields.BigIntField(primary_key=True)
    owner_code = fields.CharField(max_length=64, unique=True)  # "m:<user id>" or "p:fee"
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="provider_accounts", null=True
    )
    user_id: int | None
    provider_account_id = fields.CharField(max_length=64, null=True, unique=True)
    real_name_masked = fields.CharField(max_length=64, default="")
    real_name_cipher = fields.TextField(default="", db_default="")
    id_number_cipher = fields.TextField(default="")
    id_number_masked = fields.CharField(max_length=32, default="")
    # services.kit.security.lookup_hash of the ID number, written with the cipher: finds
    # the person by their number (an industry credit query, R1) without decrypting rows.
    id_number_lookup = fields.CharField(max_length=64, null=True, db_index=True)
    status = fields.CharField(max_length=16, default="opening")  # opening / open / failed
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "provider_accounts"


class BankCard(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="bank_cards"
    )
    user_id: int
    provider_card_id = fields.CharField(max_length=64, null=True)
    card_cipher = fields.TextField()
    card_lookup = fields.CharField(max_length=64, db_index=True)
    card_masked = fields.CharField(max_length=32)
    bank_name = fields.CharField(max_length=64, default="")
    status = fields.CharField(max_length=16, default="binding")  # binding / bound / failed
    failure_reason = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "bank_cards"


class InstructionStatus(StrEnum):
    PENDING = "PENDING"  # committed, not yet sent
    SENT = "SENT"  # the provider accepted it and will report the outcome
    UNKNOWN = "UNKNOWN"  # sent, no answer: resolved by retry with the same id or by query
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class PaymentInstruction(Model):
    """One movement at the provider, written with its journal, sent after commit."""

    id = fields.BigIntField(primary_key=True)
    request_id = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=16)
    status = fields.CharEnumField(
        InstructionStatus, max_length=16, default=InstructionStatus.PENDING
    )
    amount = fields.BigIntField(default=0)
    params: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    business_ref = fields.CharField(max_length=64, db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=255, default="")
    next_attempt_at = fields.DatetimeField(db_index=True)
    provider_ref = fields.CharField(max_length=64, default="")
    result: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_instructions"


class Deposit(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="deposits"
    )
    user_id: int
    amount = fields.BigIntField()
    channel = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, default="PENDING")  # PENDING / PAID / FAILED
    request_id = fields.CharField(max_length=64, unique=True)
    pay_url = fields.CharField(max_length=255, default="")
    # Whose account it goes to when not the member's own: a guarantee company's
    # (`g:<id>`), deposited by one of its staff (`user`).
    owner_code = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "deposits"


class Withdrawal(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="withdrawals"
    )
    user_id: int
    card: fields.ForeignKeyRelation[BankCard] = fields.ForeignKeyField(
        "models.BankCard", related_name="withdrawals"
    )
    card_id: int
    amount = fields.BigIntField()
    fee = fields.BigIntField()
    speed = fields.CharField(max_length=16)
    # AWAITING_CONFIRMATION / PROCESSING / SUCCEEDED / FAILED / CANCELLED
    status = fields.CharField(max_length=24, default="AWAITING_CONFIRMATION")
    request_id = fields.CharField(max_length=64, unique=True)
    failure_reason = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "withdrawals"


class PendingOperation(Model):
    """An outgoing movement a member started, waiting for its SMS confirmation (M4.8)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="pending_operations"
    )
    user_id: int
    kind = fields.CharField(max_length=32)
    target_id = fields.BigIntField()  # the withdrawal (bid, purchase, ...) it confirms
    amount = fields.BigIntField()
    counterparty = fields.CharField(max_length=64)
    # AWAITING_CODE / CONFIRMED / CANCELLED / EXPIRED
    status = fields.CharField(max_length=16, default="AWAITING_CODE")
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pending_operations"


class IdempotencyRecord(Model):
    """The first answer to (user, key): replays get it back, other input is refused."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="idempotency_records"
    )
    user_id: int
    key = fields.CharField(max_length=128)
    operation = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="IN_PROGRESS")  # IN_PROGRESS / DONE
    response: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_records"
        unique_together = (("user", "key"),)


class ProcessedCallback(Model):
    """Provider callback ids already handled: a replay is refused."""

    event_id = fields.CharField(max_length=64, primary_key=True)
    request_id = fields.CharField(max_length=64)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "processed_callbacks"
