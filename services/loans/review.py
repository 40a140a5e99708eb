"""Manual review of loan requests in levels 1, 2 and 3 (M6.2).

A loan needs the levels frozen on it when published (`policy.LEVELS`, at least two).
Each level needs its own permission (FORBIDDEN_LEVEL), checked here whatever the field
gate let through. Levels are decided in order (LEVEL_OUT_OF_ORDER), once each
(ALREADY_DECIDED). One person decides at most one level of a loan, and never a level of
their own loan (SAME_PERSON). A rejection at any level ends the loan (REJECTED) and gives
the credit limit back; approving the last level lists it, the bidding window opening now
and closing after the loan's working days (and queues the `loan.listed` event, on which
the automatic bids run). The borrower is told every decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.loans import Loan, LoanReview, LoanReviewDecision, LoanStatus
from services.credit import scoring
from services.errors import DomainError, InvalidInputError, NotFoundError, PermissionDeniedError
from services.identity.permissions import Actor, Permission
from services.loans import bidding
from services.loans.policy import REVIEW_LEVELS, add_working_days
from services.loans.states import LoanEvent, next_status, transition
from services.platform import clock, notifier, outbox

LEVEL_PERMISSIONS = {
    1: Permission.LOAN_REVIEW_L1,
    2: Permission.LOAN_REVIEW_L2,
    3: Permission.LOAN_REVIEW_L3,
}


def _check_level(actor: Actor, level: int) -> None:
    if level not in REVIEW_LEVELS:
        raise InvalidInputError("The level must be 1, 2 or 3", field="level")
    if not actor.can(LEVEL_PERMISSIONS[level]):
        raise DomainError(
            f"You may not review at level {level}", code="FORBIDDEN_LEVEL", field="level"
        )


@dataclass(frozen=True)
class Reviewed:
    loan: Loan
    review: LoanReview


async def review(
    actor: Actor, loan_id: int, level: int, decision: LoanReviewDecision, reason: str
) -> Reviewed:
    """Decide one level of a loan; see the module docstring. Raises DomainError
    FORBIDDEN_LEVEL, NOT_FOUND, ILLEGAL_TRANSITION, LEVEL_NOT_REQUIRED, ALREADY_DECIDED,
    LEVEL_OUT_OF_ORDER, SAME_PERSON, INVALID."""
    assert actor.user_id is not None
    _check_level(actor, level)
    reason = (reason or "").strip()
    if len(reason) > 500 or (decision == LoanReviewDecision.REJECT and len(reason) < 5):
        raise InvalidInputError(
            "Give a reason of 5 to 500 characters (optional when approving)", field="reason"
        )
    now = await clock.now()
    async with in_transaction():
        loan = await Loan.filter(id=loan_id).select_for_update().first()
        if loan is None:
            raise NotFoundError("No such loan", field="loanId")
        decided = await LoanReview.filter(loan_id=loan.id).order_by("level")
        levels: list[int] = list(loan.required_levels)
        last = level == levels[-1] if levels else False
        if decision == LoanReviewDecision.REJECT:
            event = LoanEvent.REJECT
        else:
            event = LoanEvent.LIST if last else LoanEvent.APPROVE_LEVEL
        # Only a loan in review can be reviewed: ILLEGAL_TRANSITION before anything else.
        reviewing = LoanEvent.REJECT if event is LoanEvent.REJECT else LoanEvent.APPROVE_LEVEL
        next_status(LoanStatus(loan.status), reviewing)
        if level not in levels:
            raise DomainError(
                f"This loan needs levels {', '.join(map(str, levels))} only",
                code="LEVEL_NOT_REQUIRED",
                field="level",
            )
        if any(row.level == level for row in decided):
            raise DomainError(f"Level {level} is already decided", code="ALREADY_DECIDED")
        approved = {row.level for row in decided if row.decision == LoanReviewDecision.APPROVE}
        earlier = [required for required in levels if required < level]
        if not set(earlier) <= approved:
            raise DomainError(
                f"Level {level} comes after level {max(set(earlier) - approved)}",
                code="LEVEL_OUT_OF_ORDER",
                field="level",
            )
        if actor.user_id == loan.borrower_id:
            raise DomainError("You cannot review your own loan", code="SAME_PERSON")
        if any(row.reviewer_id == actor.user_id for row in decided):
            raise DomainError("You already decided another level of this loan", code="SAME_PERSON")
        try:
            entry = await LoanReview.create(
                loan_id=loan.id,
                level=level,
                reviewer_id=actor.user_id,
                decision=decision,
                reason=reason,
                created_at=now,
            )
        except IntegrityError as error:  # pragma: no cover - the row lock prevents it
            raise DomainError(
                f"Level {level} is already decided", code="ALREADY_DECIDED"
            ) from error
        transition(loan, event)
        if event is LoanEvent.REJECT:
            loan.rejection_reason = reason
            loan.next_review_level = None
            loan.closed_at = now
            await scoring.restore_limit(loan.borrower_id, loan.amount_fen)
            title, body = (
                "Loan request rejected",
                f"Your loan request {loan.id} was rejected at review level {level}: {reason}",
            )
        elif event is LoanEvent.LIST:
            loan.next_review_level = None
            loan.listed_at = now
            loan.bidding_opens_at = now
            loan.bidding_closes_at = add_working_days(now, loan.bid_window_days)
            title, body = (
                "Loan listed",
                f"Your loan request {loan.id} is approved and listed; bidding closes "
                f"{loan.bidding_closes_at.isoformat(timespec='minutes')}.",
            )
        else:
            loan.next_review_level = levels[levels.index(level) + 1]
            title, body = (
                "Loan review progress",
                f"Your loan request {loan.id} passed review level {level}.",
            )
        await loan.save()
        if event is LoanEvent.LIST:
            # The automatic bids (services/loans/autobid.py) run from the outbox.
            await outbox.enqueue(bidding.LISTED_TOPIC, {"loan_id": loan.id})
        await notifier.notify(user=loan.borrower_id, kind="loan", title=title, body=body)
    if event is LoanEvent.LIST:
        outbox.wake()
    return Reviewed(loan=loan, review=entry)


@dataclass(frozen=True)
class QueuePage:
    rows: list[Loan]
    total: int


async def reviews_of(loan_ids: Sequence[int]) -> dict[int, list[LoanReview]]:
    """The level decisions of each loan, in level order (an empty list for a loan with
    none): one query however many loans."""
    found: dict[int, list[LoanReview]] = {loan_id: [] for loan_id in loan_ids}
    for entry in await LoanReview.filter(loan_id__in=list(found)).order_by("loan_id", "level"):
        found[entry.loan_id].append(entry)
    return found


async def queue(actor: Actor, level: int, *, first: int, after_id: int | None) -> QueuePage:
    """Loans waiting for `level`, oldest first. PermissionDeniedError without the
    level's permission."""
    if level not in REVIEW_LEVELS or not actor.can(LEVEL_PERMISSIONS[level]):
        raise PermissionDeniedError(f"You may not review at level {level}", field="level")
    query = Loan.filter(
        status__in=[LoanStatus.PENDING_REVIEW, LoanStatus.IN_REVIEW], next_review_level=level
    )
    total = await query.count()
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return QueuePage(rows=await query.order_by("id").limit(first), total=total)
