"""Loans (M1.5, M6): loan requests, their level reviews, and the borrowing blacklist."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.bids import Bid, Claim
    from models.members import User
    from models.repayments import LoanInstallment, Repayment


class LoanStatus(StrEnum):
    """Where a loan is in its life; moved only by `services.loans.states.transition`."""

    DRAFT = "DRAFT"  # being published, before the automatic review (never committed)
    PENDING_REVIEW = "PENDING_REVIEW"  # passed the automatic review, waiting for level 1
    IN_REVIEW = "IN_REVIEW"  # some levels approved, waiting for the next
    REJECTED = "REJECTED"  # by the automatic review or at any level
    LISTED = "LISTED"  # on the marketplace, bidding window open
    FULL = "FULL"  # fully funded
    FAILED = "FAILED"  # the bidding window closed before it was full (R2)
    DISBURSED = "DISBURSED"  # paid out to the borrower
    REPAYING = "REPAYING"  # installments running
    OVERDUE = "OVERDUE"  # an installment is overdue
    SETTLED = "SETTLED"  # repaid in full
    CANCELLED = "CANCELLED"  # withdrawn by the borrower before it was funded


class LoanReviewDecision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


class Loan(Model):
    """A loan request and the loan it becomes, with its terms frozen at publishing.

    `annual_rate` is the nominal interest rate, `all_in_cost` the R3 all-in annual cost
    (monthly IRR x 12 of every payment and fee), `fee_terms` the fees and
    `schedule_rules` the edition of the schedule rules, all frozen when published.
    `required_levels` are the manual review levels the amount needs, and
    `next_review_level` the one awaited (null when none). `auto_review` keeps each
    automatic rule's outcome. The bidding window runs `bid_window_days` working days from
    listing. `funded_fen` and `bidder_count` are kept by bidding, and `auto_bid_done_at`
    is set when the automatic bids of the listing ran (once).
    """

    id = fields.BigIntField(primary_key=True)
    borrower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="loans", on_delete=fields.RESTRICT
    )
    borrower_id: int
    amount_fen = fields.BigIntField()
    annual_rate = fields.DecimalField(max_digits=8, decimal_places=6)
    term_months = fields.IntField()
    method = fields.CharField(max_length=24)
    day_count = fields.CharField(max_length=16)
    # services.loans.schedule.ScheduleRules: 2 (half-up, issue 13) for a loan written
    # now, 1 (the floor of before) for the rows that existed before the column (0021).
    schedule_rules = fields.SmallIntField(default=2, db_default=1)
    purpose = fields.CharField(max_length=500)
    bid_window_days = fields.IntField()
    bidding_opens_at = fields.DatetimeField(null=True)
    bidding_closes_at = fields.DatetimeField(null=True)
    min_bid_fen = fields.BigIntField()
    max_bid_fen = fields.BigIntField()
    collateral_ref = fields.CharField(max_length=128, null=True)
    guarantee_ref = fields.CharField(max_length=128, null=True)
    status = fields.CharEnumField(LoanStatus, max_length=16, db_index=True)
    funded_fen = fields.BigIntField(default=0)
    bidder_count = fields.IntField(default=0)
    required_levels: fields.JSONField[list[int]] = fields.JSONField(default=list)
    next_review_level = fields.IntField(null=True)
    auto_review: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    all_in_cost = fields.DecimalField(max_digits=8, decimal_places=6)
    fee_terms: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    rejection_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()
    listed_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    disbursed_at = fields.DatetimeField(null=True)
    collector_id = fields.BigIntField(null=True, db_index=True)  # assigned while overdue
    auto_bid_done_at = fields.DatetimeField(null=True)  # auto-bids run once per listing

    reviews: fields.ReverseRelation[LoanReview]
    bids: fields.ReverseRelation[Bid]
    claims: fields.ReverseRelation[Claim]
    installments: fields.ReverseRelation[LoanInstallment]
    repayments: fields.ReverseRelation[Repayment]

    class Meta:
        table = "loans"
        constraints = (
            CheckConstraint(
                check="funded_fen >= 0 AND funded_fen <= amount_fen", name="loan_funded_in_amount"
            ),
            CheckConstraint(
                check="min_bid_fen > 0 AND min_bid_fen <= max_bid_fen", name="loan_bid_range"
            ),
        )


class LoanReview(Model):
    """One level's decision on a loan, by one reviewer (one decision per level)."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="reviews", on_delete=fields.RESTRICT
    )
    loan_id: int
    level = fields.IntField()
    reviewer_id = fields.BigIntField()
    decision = fields.CharEnumField(LoanReviewDecision, max_length=8)
    reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "loan_reviews"
        unique_together = (("loan", "level"),)


class BlacklistEntry(Model):
    """A member who may not borrow (the automatic review's NOT_BLACKLISTED rule)."""

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="blacklist_entry", on_delete=fields.RESTRICT
    )
    user_id: int
    reason = fields.CharField(max_length=500)
    actor_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "loan_blacklist"
