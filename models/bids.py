"""Bids on listed loans (M1.7, M1.8), lenders' auto-bid rules, and the claims that
accepted bids become when a loan is disbursed."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from models.loans import Loan
    from models.members import User


class BidStatus(StrEnum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"  # manual, waiting for its SMS code
    ACCEPTED = "ACCEPTED"  # money frozen at the provider, counted in the loan's funding
    REFUSED = "REFUSED"  # confirmed too late (loan full or closed), nothing frozen
    CANCELLED = "CANCELLED"  # never confirmed (wrong codes, expiry)
    RELEASED = "RELEASED"  # the listing failed: the freeze was released
    TRANSFERRED = "TRANSFERRED"  # the loan was disbursed: it is now a claim


class BidSource(StrEnum):
    MANUAL = "MANUAL"
    AUTO = "AUTO"


class Bid(Model):
    """One lender's bid on one loan. `requested_fen` is what was asked, `amount_fen` what
    was accepted (trimmed to what the loan still needed), 0 until accepted."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="bids", on_delete=fields.RESTRICT
    )
    loan_id: int
    lender: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="bids", on_delete=fields.RESTRICT
    )
    lender_id: int
    requested_fen = fields.BigIntField()
    amount_fen = fields.BigIntField(default=0)
    status = fields.CharEnumField(BidStatus, max_length=24, db_index=True)
    source = fields.CharEnumField(BidSource, max_length=8)
    auto_rule_id = fields.BigIntField(null=True)
    operation_id = fields.UUIDField(null=True)
    refusal = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bids"
        indexes = (("loan_id", "status"), ("lender_id", "status"))
        constraints = (
            CheckConstraint(
                check="amount_fen >= 0 AND amount_fen <= requested_fen",
                name="bid_amount_within_request",
            ),
        )


class AutoBidRule(Model):
    """A lender's automatic bidding rule (M1.7). `queue_position` orders the fair queue:
    set when the rule is enabled, moved to the back each time the rule is served."""

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="auto_bid_rule", on_delete=fields.RESTRICT
    )
    user_id: int
    enabled = fields.BooleanField(default=False)
    min_rate = fields.DecimalField(max_digits=8, decimal_places=6)
    max_rate = fields.DecimalField(max_digits=8, decimal_places=6)
    min_term = fields.IntField()
    max_term = fields.IntField()
    grades: fields.JSONField[list[str]] = fields.JSONField(default=list)
    methods: fields.JSONField[list[str]] = fields.JSONField(default=list)
    amount_per_loan_fen = fields.BigIntField()
    keep_balance_fen = fields.BigIntField(default=0)
    queue_position = fields.BigIntField(null=True, db_index=True)
    opted_in_at = fields.DatetimeField(null=True)  # the one-time SMS confirmation
    # The secondary market (issue 20), opt-in: buy listings whose loan fits the rule (its
    # rate, its installments left as the term, method, grade), at most this premium
    # (a discount is negative), at least this XIRR for the buyer at the price, and
    # (when set) never a claim of a loan overdue now.
    market_enabled = fields.BooleanField(default=False, db_default=False)
    market_max_premium = fields.DecimalField(
        max_digits=8, decimal_places=6, default=0, db_default=0
    )
    market_min_xirr = fields.DecimalField(max_digits=8, decimal_places=6, default=0, db_default=0)
    market_skip_overdue = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "auto_bid_rules"


class AutoBidQueue(Model):
    """The fair queue's position counter: one row (id 1), locked FOR UPDATE to hand out the
    next `queue_position`, so positions rise across processes. Locking it also makes the
    auto-bid runs of concurrent listings take turns."""

    id = fields.IntField(primary_key=True)
    last_position = fields.BigIntField(default=0)

    class Meta:
        table = "auto_bid_queue"


class Claim(Model):
    """A lender's holding of a disbursed loan, from a bid or bought on the secondary market.

    `principal_fen` is the principal the holding is to have in all: what was lent (a bid's
    claim) or bought, less what was sold of it. A claim sold in part is a *line*, whose
    original claim and the holdings carved from it share its targets (`line_id`, the
    original claim's id, None on the original itself), each with an interest target
    (`interest_share_fen`, None while nothing of the line was sold). Repayments are split
    among the holdings (services.repayments.split). A holding sold whole keeps its row
    with the principal it had (0 when none was repaid yet) and the buyer gets a new one."""

    id = fields.BigIntField(primary_key=True)
    loan: fields.ForeignKeyRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="claims", on_delete=fields.RESTRICT
    )
    loan_id: int
    holder: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="claims", on_delete=fields.RESTRICT
    )
    holder_id: int
    bid_id = fields.BigIntField(unique=True, null=True)  # None: bought, not bid
    principal_fen = fields.BigIntField()
    line_id = fields.BigIntField(null=True)
    interest_share_fen = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "claims"
        constraints = (
            CheckConstraint(check="principal_fen >= 0", name="claim_principal_not_negative"),
        )
