"""The secondary market (issue 20): listings of claims for sale and the purchases of them."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.bids import Claim


class ListingStatus(StrEnum):
    OPEN = "OPEN"
    SOLD = "SOLD"  # nothing left to sell
    CANCELLED = "CANCELLED"  # by the seller
    ENDED = "ENDED"  # the loan settled, defaulted, or the listing expired (`end_reason`)


class TransferListing(Model):
    """A holding offered for sale, in whole or in part.

    `principal_fen` is what is still for sale. It falls with each purchase and with each
    installment paid while the listing is open (the holding's outstanding falls).
    `version` counts the changes of its terms (repriced, ended), so that a buyer who saw
    older terms is told. A purchase by another buyer is not one: what is left is checked.
    `rate` is the discount (negative) or premium on the principal bought."""

    id = fields.BigIntField(primary_key=True)
    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="listings", on_delete=fields.RESTRICT
    )
    claim_id: int
    loan_id = fields.BigIntField()
    seller_id = fields.BigIntField()
    principal_fen = fields.BigIntField()
    listed_fen = fields.BigIntField()
    sold_fen = fields.BigIntField(default=0)
    rate = fields.DecimalField(max_digits=8, decimal_places=6)
    status = fields.CharEnumField(ListingStatus, max_length=16, default=ListingStatus.OPEN)
    end_reason = fields.CharField(max_length=32, default="")
    version = fields.IntField(default=1)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    auto_buy_done_at = fields.DatetimeField(null=True)  # the rules were served, once

    class Meta:
        table = "transfer_listings"
        constraints = (
            CheckConstraint(check="principal_fen >= 0", name="listing_principal_not_negative"),
        )


class TransferStatus(StrEnum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    DONE = "DONE"
    REFUSED = "REFUSED"  # at confirmation: `refusal` is the code the buyer was told
    CANCELLED = "CANCELLED"


class ClaimTransfer(Model):
    """One purchase of all or part of a listing.

    Who bought how much principal, at what price, the accrued interest paid to the
    seller on top and the fee the seller paid, the seller's holding it was carved from
    and the buyer's new one."""

    id = fields.BigIntField(primary_key=True)
    listing: fields.ForeignKeyRelation[TransferListing] = fields.ForeignKeyField(
        "models.TransferListing", related_name="transfers", on_delete=fields.RESTRICT
    )
    listing_id: int
    loan_id = fields.BigIntField()
    seller_id = fields.BigIntField()
    buyer_id = fields.BigIntField()
    requested_fen = fields.BigIntField()
    listing_version = fields.IntField()  # the version the buyer saw and asked for
    principal_fen = fields.BigIntField(default=0)
    price_fen = fields.BigIntField(default=0)
    accrued_interest_fen = fields.BigIntField(default=0)
    fee_fen = fields.BigIntField(default=0)
    seller_claim_id = fields.BigIntField()
    buyer_claim_id = fields.BigIntField(null=True)
    status = fields.CharEnumField(
        TransferStatus, max_length=24, default=TransferStatus.AWAITING_CONFIRMATION
    )
    refusal = fields.CharField(max_length=64, default="")
    operation_id = fields.UUIDField(null=True)
    auto_rule_id = fields.BigIntField(null=True)  # bought by this auto-bid rule, no code
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "claim_transfers"
