"""The platform's double-entry ledger, mirroring the money the provider holds."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.members import User


class AccountKind(StrEnum):
    MEMBER_AVAILABLE = "member_available"
    MEMBER_FROZEN = "member_frozen"
    MEMBER_WITHDRAWING = "member_withdrawing"
    PLATFORM_FEE = "platform_fee"
    RISK_RESERVE = "risk_reserve"
    GUARANTEE_FUND = "guarantee_fund"
    MARGIN = "margin"
    GUARANTOR_AVAILABLE = "guarantor_available"  # g:<company>
    GUARANTOR_MARGIN = "guarantor_margin"  # g:<company>:margin
    BANK = "bank"
    SUSPENSE = "suspense"


class LedgerAccount(Model):
    """One account. `balance` is the sum of its postings, kept under a row lock.

    Only the outside-world accounts (bank, suspense) may go below zero: the database
    refuses a negative balance anywhere else.
    """

    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    kind = fields.CharEnumField(AccountKind, max_length=32)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ledger_accounts", null=True
    )
    user_id: int | None
    balance = fields.BigIntField(default=0)
    allow_negative = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_accounts"
        constraints = (
            CheckConstraint(
                check="allow_negative OR balance >= 0", name="ledger_balance_not_negative"
            ),
        )


class Journal(Model):
    """One business event. Its postings sum to zero. Never updated or deleted."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=160, unique=True)
    kind = fields.CharField(max_length=48)
    memo = fields.CharField(max_length=255, default="")
    business_date = fields.DateField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_journals"


class Posting(Model):
    """A signed amount on one account, and `balance_after` is that account's running balance."""

    id = fields.BigIntField(primary_key=True)
    journal: fields.ForeignKeyRelation[Journal] = fields.ForeignKeyField(
        "models.Journal", related_name="postings"
    )
    journal_id: int
    account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="postings"
    )
    account_id: int
    amount = fields.BigIntField()
    balance_after = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_postings"
        indexes = (("account_id", "id"),)
