"""Guarantees (issue 21, M1.9, M7): licensed guarantee companies (R5: never the platform),
their staff, the policies they issue on loans and the compensations (代偿) they pay."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.loans import Loan


class CompanyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"  # issues nothing new; policies in force stay


class GuaranteeCompany(Model):
    """A guarantee company. Its money is at the provider in its own custody account
    (owner `g:<id>`): the ledger's `g:<id>` is what is available, `g:<id>:margin` its
    margin (保证金), the account's frozen balance."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True)
    licence_number = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(CompanyStatus, max_length=16, default=CompanyStatus.ACTIVE)
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "guarantee_companies"


class GuarantorStaff(Model):
    """A staff user (role `guarantor`) acting for one company."""

    id = fields.BigIntField(primary_key=True)
    company: fields.ForeignKeyRelation[GuaranteeCompany] = fields.ForeignKeyField(
        "models.GuaranteeCompany", related_name="staff", on_delete=fields.RESTRICT
    )
    company_id: int
    user_id = fields.BigIntField(unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "guarantor_staff"


class PolicyStatus(StrEnum):
    REQUESTED = "REQUESTED"  # the borrower asked; the company has not answered
    DECLINED = "DECLINED"  # the company said no (or the loan was listed first)
    ISSUED = "ISSUED"  # the company guarantees the loan once it is disbursed
    ACTIVE = "ACTIVE"  # the loan is disbursed: the guarantee is in force
    TRIGGERED = "TRIGGERED"  # an installment passed the trigger; compensation pending
    COMPENSATED = "COMPENSATED"  # the company paid every triggered installment
    RECOVERED = "RECOVERED"  # the borrower repaid the company all it compensated
    CLOSED = "CLOSED"  # the loan settled, failed or was cancelled


# Policies the company stands behind: the reserve never advances their loans.
IN_FORCE = (
    PolicyStatus.ISSUED,
    PolicyStatus.ACTIVE,
    PolicyStatus.TRIGGERED,
    PolicyStatus.COMPENSATED,
    PolicyStatus.RECOVERED,
)


class Coverage(StrEnum):
    PRINCIPAL = "PRINCIPAL"
    PRINCIPAL_INTEREST = "PRINCIPAL_INTEREST"


class GuaranteePolicy(Model):
    """A guarantee of one loan by one company (one open request or policy per loan)."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="guarantee_policies", on_delete=fields.RESTRICT
    )
    loan_id: int
    company: fields.ForeignKeyRelation[GuaranteeCompany] = fields.ForeignKeyField(
        "models.GuaranteeCompany", related_name="policies", on_delete=fields.RESTRICT
    )
    company_id: int
    requested_by = fields.BigIntField()
    status = fields.CharEnumField(PolicyStatus, max_length=16, default=PolicyStatus.REQUESTED)
    coverage = fields.CharEnumField(Coverage, max_length=24, null=True)
    covers_penalty = fields.BooleanField(default=False)
    trigger_days = fields.IntField(null=True)
    may_draw_margin = fields.BooleanField(default=True)
    # The guarantee fee: this share of the loan's amount a month, paid by the borrower
    # with each installment (part of its fee) to the company; counts in the R3 cost.
    fee_rate = fields.DecimalField(max_digits=8, decimal_places=6, default=0, db_default=0)
    issued_by = fields.BigIntField(null=True)
    issued_at = fields.DatetimeField(null=True)
    decline_reason = fields.CharField(max_length=500, default="")
    # The company's margin and the margin required (its exposure with this policy) when
    # it issued: the check `margin >= required`, kept.
    margin_at_issue_fen = fields.BigIntField(null=True)
    required_at_issue_fen = fields.BigIntField(null=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField()

    class Meta:
        table = "guarantee_policies"
        constraints = (
            CheckConstraint(
                check="trigger_days IS NULL OR trigger_days >= 1", name="policy_trigger_days"
            ),
        )


class GuaranteeCompensation(Model):
    """What a company paid the holders of one overdue installment (代偿), through the
    one advance engine (`installment_advances` has the parts and the per-holder rows).
    `recovered_fen` is what the borrower has repaid it of that so far."""

    id = fields.BigIntField(primary_key=True)
    policy: fields.ForeignKeyRelation[GuaranteePolicy] = fields.ForeignKeyField(
        "models.GuaranteePolicy", related_name="compensations", on_delete=fields.RESTRICT
    )
    policy_id: int
    company_id = fields.BigIntField(db_index=True)
    loan_id = fields.BigIntField(db_index=True)
    installment_id = fields.BigIntField(unique=True)
    amount_fen = fields.BigIntField()
    from_margin_fen = fields.BigIntField(default=0)
    recovered_fen = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "guarantee_compensations"
        constraints = (
            CheckConstraint(
                check="recovered_fen >= 0 AND recovered_fen <= amount_fen",
                name="compensation_recovered_within",
            ),
        )
