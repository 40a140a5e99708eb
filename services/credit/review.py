"""Credit officers review submitted materials (M2.4).

A submission waiting for review (SUBMITTED) is approved, rejected or sent back for more
("request more"); rejecting and asking for more need a reason, which the member is told
by in-app notice (and the `notifications` subscription) and SMS. A reviewer never
reviews their own materials. Approving a kind checked against an outside source
(M2.7) fetches that source's report first (outside the transaction) and keeps it with
the decision. Every decision re-scores the member; a change of score, grade or limit
is a credit history row.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from models.credit import (
    CreditChangeKind,
    CreditProfile,
    ReviewDecision,
    VerificationReview,
    VerificationStatus,
    VerificationSubmission,
)
from models.members import User
from services.credit import external, scoring
from services.credit.catalogue import get_kind
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor
from services.kit.security import decrypt_pii
from services.pages import Page
from services.platform import clock, notifier

_STATUS_AFTER = {
    ReviewDecision.APPROVE: VerificationStatus.APPROVED,
    ReviewDecision.REJECT: VerificationStatus.REJECTED,
    ReviewDecision.REQUEST_MORE: VerificationStatus.MORE_REQUESTED,
}
_TOLD = {
    ReviewDecision.APPROVE: "was approved",
    ReviewDecision.REJECT: "was rejected",
    ReviewDecision.REQUEST_MORE: "needs more material",
}


@dataclass(frozen=True)
class Reviewed:
    submission: VerificationSubmission
    review: VerificationReview
    profile: CreditProfile


def _clean_reason(decision: ReviewDecision, reason: str) -> str:
    text = (reason or "").strip()
    if len(text) > 500:
        raise InvalidInputError("The reason is at most 500 characters", field="reason")
    if decision != ReviewDecision.APPROVE and len(text) < 5:
        raise InvalidInputError("Tell the member why (at least 5 characters)", field="reason")
    return text


async def review(
    actor: Actor, submission_id: int, decision: ReviewDecision, reason: str
) -> Reviewed:
    """Decide on one submission. Typed failures: INVALID (reason), NOT_FOUND,
    SAME_PERSON (own materials), NOT_REVIEWABLE (already decided), IDENTITY_REQUIRED and
    SOURCE_UNAVAILABLE (an outside source could not be asked); each changes nothing."""
    assert actor.user_id is not None
    reason = _clean_reason(decision, reason)
    row = await VerificationSubmission.get_or_none(id=submission_id)
    if row is None:
        raise NotFoundError("No such submission", field="verificationId")
    if row.user_id == actor.user_id:
        raise DomainError(
            "You cannot review your own materials", code="SAME_PERSON", field="verificationId"
        )
    if row.status != VerificationStatus.SUBMITTED:
        raise DomainError(
            f"This submission was already decided ({row.status})", code="NOT_REVIEWABLE"
        )
    kind = get_kind(row.kind)
    check_id: int | None = None
    if decision == ReviewDecision.APPROVE and kind is not None and kind.external_source:
        # Asked before the transaction: no lock is held while an outside service answers.
        check = await external.fetch(row.user_id, external.Source(kind.external_source))
        check_id = check.id

    async with in_transaction():
        locked = await VerificationSubmission.filter(id=submission_id).select_for_update().get()
        if locked.status != VerificationStatus.SUBMITTED:  # decided meanwhile
            raise DomainError("This submission was already decided", code="NOT_REVIEWABLE")
        locked.status = _STATUS_AFTER[decision]
        await locked.save(update_fields=["status"])
        entry = await VerificationReview.create(
            submission_id=locked.id,
            reviewer_id=actor.user_id,
            decision=decision,
            reason=reason,
            external_check_id=check_id,
            created_at=await clock.now(),
        )
        title = kind.title if kind else locked.kind
        profile = await scoring.reevaluate(
            locked.user_id,
            reason=f"{title} {_TOLD[decision]}",
            actor_id=actor.user_id,
            kind=CreditChangeKind.EVALUATED,
        )
        member = await User.get(id=locked.user_id)
        body = f"Your {title} {_TOLD[decision]}." + (f" Reason: {reason}" if reason else "")
        await notifier.notify(
            user=member, kind="VERIFICATION_REVIEWED", title=f"{title}: {decision}", body=body
        )
        await notifier.send_sms(phone=decrypt_pii(member.phone_cipher), text=f"[LendBridge] {body}")
    return Reviewed(submission=locked, review=entry, profile=profile)


async def queue(
    *, status: VerificationStatus, first: int, after_id: int | None
) -> Page[VerificationSubmission]:
    """Submissions in one state, oldest first (the order officers work in); `first` rows
    after `after_id` (ask for one more than you show to learn if a next page exists)."""
    query = VerificationSubmission.filter(status=status)
    total = await query.count()
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(first).prefetch_related("files", "reviews")
    return Page(rows=list(rows), total=total)


async def reviews_of(submission_ids: list[int]) -> dict[int, list[VerificationReview]]:
    by_submission: dict[int, list[VerificationReview]] = {i: [] for i in submission_ids}
    for entry in await VerificationReview.filter(submission_id__in=submission_ids).order_by("id"):
        by_submission[entry.submission_id].append(entry)
    return by_submission
