"""Collateral (issue 21, M8.1-M8.2): items pledged for a loan and their valuations."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.loans import Loan


class CollateralKind(StrEnum):
    PROPERTY = "PROPERTY"
    VEHICLE = "VEHICLE"
    EQUITY = "EQUITY"
    RECEIVABLE = "RECEIVABLE"
    DEPOSIT = "DEPOSIT"


class CollateralStatus(StrEnum):
    PLEDGED = "PLEDGED"
    RELEASED = "RELEASED"  # the lien lifted (the loan repaid, or replaced)
    TRANSFERRED = "TRANSFERRED"  # rights transferred (to a guarantor, the holders)
    IN_DISPOSAL = "IN_DISPOSAL"
    DISPOSED = "DISPOSED"


class CollateralItem(Model):
    """An item pledged or mortgaged for a loan (M8.1): what it is, whose it is, where its
    lien is registered and at which rank."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="collateral_items", on_delete=fields.RESTRICT
    )
    loan_id: int
    owner_id = fields.BigIntField()  # a member: the borrower or a third party
    kind = fields.CharEnumField(CollateralKind, max_length=16)
    description = fields.CharField(max_length=500)
    registration_number = fields.CharField(max_length=64)
    registration_authority = fields.CharField(max_length=128)
    lien_rank = fields.IntField()
    status = fields.CharEnumField(CollateralStatus, max_length=16, default=CollateralStatus.PLEDGED)
    recorded_by = fields.BigIntField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "collateral_items"
        constraints = (CheckConstraint(check="lien_rank >= 1", name="collateral_lien_rank"),)


class CollateralValuation(Model):
    """One valuation of an item (M8.2): by whom, how, what it is worth on which day, and
    the report. The latest (by day, then as recorded) is the item's value."""

    id = fields.BigIntField(primary_key=True)
    item: fields.ForeignKeyRelation[CollateralItem] = fields.ForeignKeyField(
        "models.CollateralItem", related_name="valuations", on_delete=fields.RESTRICT
    )
    item_id: int
    loan_id = fields.BigIntField(db_index=True)
    appraiser = fields.CharField(max_length=128)
    method = fields.CharField(max_length=32)
    value_fen = fields.BigIntField()
    valued_on = fields.DateField()
    report_ref = fields.CharField(max_length=256, default="")
    recorded_by = fields.BigIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "collateral_valuations"
        constraints = (CheckConstraint(check="value_fen > 0", name="collateral_value_positive"),)


class TransferTo(StrEnum):
    HOLDERS = "HOLDERS"  # the claim holders, on default
    TRUSTEE = "TRUSTEE"  # a trustee for the holders, on default
    GUARANTOR = "GUARANTOR"  # the guarantee company that compensated


class TransferStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"


class CollateralTransfer(Model):
    """A transfer of the rights in an item (M8.3): asked by one staff member, approved
    by another who may (`collateral.disposal`)."""

    id = fields.BigIntField(primary_key=True)
    item: fields.ForeignKeyRelation[CollateralItem] = fields.ForeignKeyField(
        "models.CollateralItem", related_name="transfers", on_delete=fields.RESTRICT
    )
    item_id: int
    loan_id = fields.BigIntField(db_index=True)
    to_kind = fields.CharEnumField(TransferTo, max_length=16)
    to_name = fields.CharField(max_length=128, default="")
    reason = fields.CharField(max_length=500)
    status = fields.CharEnumField(TransferStatus, max_length=16, default=TransferStatus.REQUESTED)
    requested_by = fields.BigIntField()
    approved_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    approved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "collateral_transfers"


class DisposalStatus(StrEnum):
    RECORDED = "RECORDED"  # the net proceeds asked of the provider, not arrived yet
    DISTRIBUTED = "DISTRIBUTED"  # arrived, paid towards the loan, any surplus the owner's
    FAILED = "FAILED"  # the proceeds did not arrive: the item is TRANSFERRED again


class CollateralDisposal(Model):
    """The sale of a transferred item (M8.4) and where its net proceeds went: `applied_fen`
    paid towards the loan by a COLLATERAL repayment, `surplus_fen` left to the owner."""

    id = fields.BigIntField(primary_key=True)
    item: fields.ForeignKeyRelation[CollateralItem] = fields.ForeignKeyField(
        "models.CollateralItem", related_name="disposals", on_delete=fields.RESTRICT
    )
    item_id: int
    loan_id = fields.BigIntField(db_index=True)
    owner_id = fields.BigIntField()
    buyer = fields.CharField(max_length=128)
    price_fen = fields.BigIntField()
    costs_fen = fields.BigIntField()
    net_fen = fields.BigIntField()
    sold_on = fields.DateField()
    status = fields.CharEnumField(DisposalStatus, max_length=16, default=DisposalStatus.RECORDED)
    repayment_id = fields.BigIntField(null=True, unique=True)
    applied_fen = fields.BigIntField(default=0)
    surplus_fen = fields.BigIntField(default=0)
    recorded_by = fields.BigIntField()
    created_at = fields.DatetimeField()
    distributed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "collateral_disposals"
        constraints = (
            CheckConstraint(
                check="costs_fen >= 0 AND net_fen > 0 AND net_fen = price_fen - costs_fen",
                name="collateral_disposal_net",
            ),
        )


class CollateralDocument(Model):
    """A document of an item (M8.1: title deed, lien registration, photos) or the report
    of one of its valuations (M8.2), stored, hashed and signed as it arrived.

    The signature covers "<sha256>:<size>:collateral:<item id>:<uploader id>", so a
    changed file (its hash no longer matches) and a changed record (the signature no
    longer holds) are both detectable.
    """

    id = fields.BigIntField(primary_key=True)
    item: fields.ForeignKeyRelation[CollateralItem] = fields.ForeignKeyField(
        "models.CollateralItem", related_name="documents", on_delete=fields.RESTRICT
    )
    item_id: int
    valuation: fields.OneToOneNullableRelation[CollateralValuation] = fields.OneToOneField(
        "models.CollateralValuation", related_name="report", null=True, on_delete=fields.RESTRICT
    )
    valuation_id: int | None
    storage_key = fields.CharField(max_length=64, unique=True)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    signature = fields.CharField(max_length=128)
    uploaded_by = fields.BigIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "collateral_documents"
