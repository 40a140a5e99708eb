"""Repayments and post-loan (M1.6, M9.2-M9.4): the installments of a disbursed loan, the
borrower's repayments, what each claim holder received of them, and collection records.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.bids import Claim
    from models.loans import Loan
    from models.members import User


class InstallmentStatus(StrEnum):
    PENDING = "PENDING"  # not yet due, or due today and not paid
    OVERDUE = "OVERDUE"  # past its due date, not fully paid (maybe partly: paid_*)
    PAID = "PAID"  # fully paid (on time or late: see paid_late)


class LoanInstallment(Model):
    """One installment of a disbursed loan, as the loan contract's schedule has it.

    What is due: principal, interest and the service fee, plus penalty interest accrued
    day by day while overdue (`penalty_accrued_fen`, accrued through
    `penalty_accrued_through`). What was paid is kept per part. An early repayment in
    full changes the interest of the installments it settles (`interest_fen` then holds
    the interest actually charged).
    """

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="installments", on_delete=fields.RESTRICT
    )
    loan_id: int
    number = fields.IntField()
    due_date = fields.DateField(db_index=True)
    principal_fen = fields.BigIntField()
    interest_fen = fields.BigIntField()
    fee_fen = fields.BigIntField()
    # Of `fee_fen`, the guarantee company's fee (the rest is the platform's service fee);
    # the company's ledger code is the loan's fee_terms["guarantee_fee_to"].
    guarantee_fee_fen = fields.BigIntField(default=0, db_default=0)
    status = fields.CharEnumField(
        InstallmentStatus, max_length=8, default=InstallmentStatus.PENDING, db_index=True
    )
    paid_principal_fen = fields.BigIntField(default=0)
    paid_interest_fen = fields.BigIntField(default=0)
    paid_fee_fen = fields.BigIntField(default=0)
    penalty_accrued_fen = fields.BigIntField(default=0)
    # The exact penalty accrued, in millionths of a fen (rates have at most 6 places):
    # penalty_accrued_fen is this rounded half-up, so it never depends on how often the
    # daily job ran (services.repayments.overdue).
    penalty_accrued_micro_fen = fields.BigIntField(default=0)
    penalty_paid_fen = fields.BigIntField(default=0)
    penalty_accrued_through = fields.DateField(null=True)
    overdue_since = fields.DateField(null=True)
    paid_on = fields.DateField(null=True)
    paid_late = fields.BooleanField(default=False)
    warned_on = fields.DateField(null=True)  # the pre-due warning went out (once)

    class Meta:
        table = "loan_installments"
        unique_together = (("loan", "number"),)
        constraints = (
            CheckConstraint(
                check="paid_principal_fen >= 0 AND paid_principal_fen <= principal_fen"
                " AND paid_interest_fen >= 0 AND paid_interest_fen <= interest_fen"
                " AND paid_fee_fen >= 0 AND paid_fee_fen <= fee_fen"
                " AND penalty_paid_fen >= 0 AND penalty_paid_fen <= penalty_accrued_fen",
                name="installment_paid_within_due",
            ),
        )


class RepaymentKind(StrEnum):
    INSTALLMENTS = "INSTALLMENTS"  # the next installment(s) due, by the borrower
    EARLY_FULL = "EARLY_FULL"  # everything left, interest to the repayment date
    AUTO_DEBIT = "AUTO_DEBIT"  # the due installment by signed auto-debit of the card
    AMOUNT = "AMOUNT"  # an amount towards what has fallen due: may leave one partly paid
    # A collateral's sale proceeds towards everything owed, the rest accelerated
    # (`services.collateral.disposal`): paid by the item's owner, may leave some unpaid.
    COLLATERAL = "COLLATERAL"


class RepaymentStatus(StrEnum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    DONE = "DONE"
    REFUSED = "REFUSED"  # refused at confirmation (e.g. not enough balance); nothing moved
    CANCELLED = "CANCELLED"  # never confirmed


class Repayment(Model):
    """One repayment by the borrower: how much, of which installments, in which parts."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="repayments", on_delete=fields.RESTRICT
    )
    loan_id: int
    borrower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="repayments", on_delete=fields.RESTRICT
    )
    borrower_id: int
    kind = fields.CharEnumField(RepaymentKind, max_length=16)
    status = fields.CharEnumField(RepaymentStatus, max_length=24, db_index=True)
    installments: fields.JSONField[list[int]] = fields.JSONField(default=list)
    amount_fen = fields.BigIntField(default=0)
    principal_fen = fields.BigIntField(default=0)
    interest_fen = fields.BigIntField(default=0)
    fee_fen = fields.BigIntField(default=0)
    penalty_fen = fields.BigIntField(default=0)
    early_fee_fen = fields.BigIntField(default=0)
    operation_id = fields.UUIDField(null=True)
    refusal = fields.CharField(max_length=64, default="")
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "repayments"


class Receipt(Model):
    """What one claim holder received of one repayment (largest-remainder shares).

    `to_reserve` rows are a recovery: the parts of installments someone advanced to the
    holders (`ReserveAdvance`: the risk reserve, or a guarantee company compensating),
    which the borrower paid to that payer, `recoverer` (its ledger code, e.g.
    `p:risk_reserve` or `g:<company id>`), not to the holder, who had them already. The
    column keeps its first name: a recovery was the reserve's before guarantors existed.
    `recoverer` is NULL exactly on the holder's own receipts (one writer,
    `settlement._write_receipts`, and the simulation's `claims.*` checks hold that). A
    claim can have one own row and one row per recoverer per repayment.
    """

    id = fields.BigIntField(primary_key=True)
    repayment: fields.ForeignKeyRelation[Repayment] = fields.ForeignKeyField(
        "models.Repayment", related_name="receipts", on_delete=fields.RESTRICT
    )
    repayment_id: int
    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="receipts", on_delete=fields.RESTRICT
    )
    claim_id: int
    holder_id = fields.BigIntField(db_index=True)
    loan_id = fields.BigIntField(db_index=True)
    principal_fen = fields.BigIntField()
    interest_fen = fields.BigIntField()
    penalty_fen = fields.BigIntField()
    to_reserve = fields.BooleanField(default=False, db_default=False)
    recoverer = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "repayment_receipts"


class CollectionKind(StrEnum):
    CALL = "CALL"
    VISIT = "VISIT"
    MESSAGE = "MESSAGE"
    PROMISE = "PROMISE"  # a promise to pay, with date and amount


class CollectionRecord(Model):
    """A collector's contact with the borrower of an overdue loan (M9.4)."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="collection_records", on_delete=fields.RESTRICT
    )
    loan_id: int
    collector_id = fields.BigIntField()
    kind = fields.CharEnumField(CollectionKind, max_length=8)
    note = fields.CharField(max_length=1000, default="")
    promised_amount_fen = fields.BigIntField(null=True)
    promised_date = fields.DateField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "collection_records"


class InstallmentAdvance(Model):
    """Someone paid the holders an overdue installment's unpaid parts and is owed them
    from then on (`services.repayments.advances`): the risk reserve's advance
    (`repayments.reserveAdvance`, off by default: R5) or a guarantee company's
    compensation (代偿). One row per installment (an installment is advanced once, by one
    payer): what was advanced of each part in all, and what the borrower had paid of each
    before, from which the borrower's later payments are routed (`advances.py`). The
    per-holder parts are the `ReserveAdvance` rows of the installment."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="installment_advances", on_delete=fields.RESTRICT
    )
    loan_id: int
    installment: fields.OneToOneRelation[LoanInstallment] = fields.OneToOneField(
        "models.LoanInstallment", related_name="advance", on_delete=fields.RESTRICT
    )
    installment_id: int
    recoverer = fields.CharField(max_length=32)
    principal_fen = fields.BigIntField()
    interest_fen = fields.BigIntField()
    penalty_fen = fields.BigIntField(default=0)
    paid_principal_before_fen = fields.BigIntField()
    paid_interest_before_fen = fields.BigIntField()
    penalty_paid_before_fen = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "installment_advances"


class ReserveAdvance(Model):
    """One claim holder's part of an advanced installment (`InstallmentAdvance`): paid to
    them by `recoverer` (the risk reserve, or a guarantee company), which holds that part
    of the claim from then on. The borrower's later payment of it is the recoverer's, not
    the holder's. (The table keeps its first name: the reserve was the only payer.)"""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="reserve_advances", on_delete=fields.RESTRICT
    )
    loan_id: int
    installment: fields.ForeignKeyRelation[LoanInstallment] = fields.ForeignKeyField(
        "models.LoanInstallment", related_name="reserve_advances", on_delete=fields.RESTRICT
    )
    installment_id: int
    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="reserve_advances", on_delete=fields.RESTRICT
    )
    claim_id: int
    holder_id = fields.BigIntField(db_index=True)
    recoverer = fields.CharField(
        max_length=32, default="p:risk_reserve", db_default="p:risk_reserve"
    )
    principal_fen = fields.BigIntField()
    interest_fen = fields.BigIntField()
    penalty_fen = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "reserve_advances"
        unique_together = (("installment", "claim"),)
