"""Electronic contracts (M3): templates, contracts with their parties, consents, e-mails."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class ContractKind(StrEnum):
    LOAN = "LOAN"  # M3.1: borrower and the lenders of a full loan (primary claims)
    GUARANTEE = "GUARANTEE"  # M3.2: borrower, guarantor and the lenders
    CLAIM_TRANSFER = "CLAIM_TRANSFER"  # M3.3: seller and buyer of a claim (secondary)


class ContractStatus(StrEnum):
    DRAFT = "DRAFT"  # issued, nobody has consented yet
    SIGNING = "SIGNING"  # some parties have consented
    SIGNED = "SIGNED"  # every party consented and the platform signed the hash


class PartyRole(StrEnum):
    BORROWER = "BORROWER"
    LENDER = "LENDER"
    GUARANTOR = "GUARANTOR"
    SELLER = "SELLER"
    BUYER = "BUYER"


class ConsentMethod(StrEnum):
    SMS_CODE = "SMS_CODE"  # a one-time code bound to the contract and its hash
    BID_CONFIRMATION = "BID_CONFIRMATION"  # the lender's SMS-confirmed bid
    PURCHASE_CONFIRMATION = "PURCHASE_CONFIRMATION"  # the buyer's SMS-confirmed purchase
    LISTING = "LISTING"  # the seller listed the claim on these terms
    POLICY_ISSUE = "POLICY_ISSUE"  # the guarantor issued the guarantee policy on these terms


class EmailStatus(StrEnum):
    PENDING = "PENDING"  # not tried yet
    SENT = "SENT"  # the SMTP server accepted it
    FAILED = "FAILED"  # the last attempt failed (retried while next_attempt_at is set)


class ContractTemplate(Model):
    """One version of the text of a contract kind. Versions are never edited: a change is
    a new version, and every contract keeps the version it was made from."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ContractKind, max_length=16)
    version = fields.IntField()
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contract_templates"
        unique_together = (("kind", "version"),)


class ContractCounter(Model):
    """The last serial handed out per order-number prefix (kind and day)."""

    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.BigIntField()

    class Meta:
        table = "contract_counters"


class Contract(Model):
    """An order with its number and its contract document (a PDF in the archive).

    `order_key` makes creation idempotent (one loan contract per loan). The document is
    stored once under `storage_key` and never replaced. `sha256` is what parties consent
    to and what the platform signs once all have, over "sha256:<hex>:contract:<number>".
    `terms` keeps the data the document was filled from (amounts in fen).
    """

    id = fields.BigIntField(primary_key=True)
    number = fields.CharField(max_length=40, unique=True)
    kind = fields.CharEnumField(ContractKind, max_length=16)
    order_key = fields.CharField(max_length=128, unique=True)
    data_sha256 = fields.CharField(max_length=64)
    loan_id = fields.BigIntField(null=True, db_index=True)
    loan_ref = fields.CharField(max_length=64, default="")
    template: fields.ForeignKeyRelation[ContractTemplate] = fields.ForeignKeyField(
        "models.ContractTemplate", related_name="contracts", on_delete=fields.RESTRICT
    )
    template_id: int
    template_version = fields.IntField()
    title = fields.CharField(max_length=200)
    amount_fen = fields.BigIntField()
    terms: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(ContractStatus, max_length=16, default=ContractStatus.DRAFT)
    storage_key = fields.CharField(max_length=64, unique=True)
    sha256 = fields.CharField(max_length=64, db_index=True)
    size = fields.BigIntField()
    signature = fields.CharField(max_length=128, null=True)
    signed_at = fields.DatetimeField(null=True)
    retain_until = fields.DateField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    parties: fields.ReverseRelation[ContractParty]
    consents: fields.ReverseRelation[ContractConsent]

    class Meta:
        table = "contracts"


class ContractParty(Model):
    """A party as the document names it (masked name and ID number)."""

    id = fields.BigIntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="parties", on_delete=fields.RESTRICT
    )
    contract_id: int
    position = fields.IntField()
    role = fields.CharEnumField(PartyRole, max_length=16)
    user_id = fields.BigIntField(db_index=True)
    name_masked = fields.CharField(max_length=64)
    id_masked = fields.CharField(max_length=64)
    amount_fen = fields.BigIntField(null=True)

    class Meta:
        table = "contract_parties"
        unique_together = (("contract", "user_id"),)


class ContractConsent(Model):
    """A party agreed to the document with this hash: who, when, from where, how."""

    id = fields.BigIntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="consents", on_delete=fields.RESTRICT
    )
    contract_id: int
    user_id = fields.BigIntField()
    role = fields.CharEnumField(PartyRole, max_length=16)
    method = fields.CharEnumField(ConsentMethod, max_length=24)
    document_sha256 = fields.CharField(max_length=64)
    client_ip = fields.CharField(max_length=64, default="")
    reference = fields.CharField(max_length=128, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "contract_consents"
        unique_together = (("contract", "user_id"),)


class ContractEmail(Model):
    """One e-mail of a contract's PDF to one party, with every attempt counted.

    The address is personal: stored encrypted, shown masked.
    """

    id = fields.BigIntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="emails", on_delete=fields.RESTRICT
    )
    contract_id: int
    user_id = fields.BigIntField()
    recipient_cipher = fields.TextField()
    recipient_masked = fields.CharField(max_length=128)
    status = fields.CharEnumField(EmailStatus, max_length=16, default=EmailStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=500, default="")
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    sent_at = fields.DatetimeField(null=True)
    requested_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contract_emails"
