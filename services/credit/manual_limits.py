"""Manual adjustment of credit by officers (M2.6): freeze, unfreeze, a temporary limit and
its end. Each change is a `credit_limit_changes` row with the officer and a reason
(`services.credit.scoring` keeps the profile and the automatic rules).
"""

from __future__ import annotations

from datetime import date

from tortoise.transactions import in_transaction

from models.credit import (
    CreditChangeKind,
    CreditProfile,
    VerificationStatus,
    VerificationSubmission,
)
from services.credit.scorecard import current_policy, platform_cap
from services.credit.scoring import Standing, _freeze, _locked_profile, _record, _standing
from services.errors import DomainError, InvalidInputError
from services.money.money import format_money
from services.platform import clock


def _clean_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not 5 <= len(text) <= 255:
        raise InvalidInputError("Give a reason of 5 to 255 characters", field="reason")
    return text


def _not_self(officer_id: int, user_id: int) -> None:
    if officer_id == user_id:
        raise DomainError("You cannot change your own credit", code="SAME_PERSON", field="userId")


async def freeze(*, officer_id: int, user_id: int, reason: str) -> Standing:
    reason = _clean_reason(reason)
    _not_self(officer_id, user_id)
    async with in_transaction():
        profile = await _locked_profile(user_id)
        if profile.frozen:
            raise DomainError("The limit is already frozen", code="ALREADY_FROZEN")
        await _freeze(profile, reason=reason, actor_id=officer_id)
    return await _standing(profile)


async def unfreeze(*, officer_id: int, user_id: int, reason: str) -> Standing:
    reason = _clean_reason(reason)
    _not_self(officer_id, user_id)
    async with in_transaction():
        profile = await _locked_profile(user_id)
        if not profile.frozen:
            raise DomainError("The limit is not frozen", code="NOT_FROZEN")
        profile.frozen = False
        profile.frozen_reason = ""
        await profile.save(update_fields=["frozen", "frozen_reason", "updated_at"])
        after = (await _standing(profile)).limit_fen
        await _record(
            profile,
            kind=CreditChangeKind.UNFROZEN,
            old_limit=0,
            new_limit=after,
            reason=reason,
            actor_id=officer_id,
        )
    return await _standing(profile)


MAX_TEMPORARY_DAYS = 366


async def set_temporary_limit(
    *,
    officer_id: int,
    user_id: int,
    amount_fen: int,
    expires_on: date,
    evidence_id: int,
    reason: str,
) -> Standing:
    """A temporary limit on extra proof of repayment ability: the proof is one of the
    member's approved verifications; the limit runs to `expires_on` inclusive."""
    reason = _clean_reason(reason)
    _not_self(officer_id, user_id)
    today = await clock.today()
    if not today < expires_on <= date.fromordinal(today.toordinal() + MAX_TEMPORARY_DAYS):
        raise InvalidInputError(
            f"The expiry must be after today and within {MAX_TEMPORARY_DAYS} days",
            field="expiresOn",
        )
    evidence = await VerificationSubmission.get_or_none(id=evidence_id, user_id=user_id)
    if evidence is None or evidence.status != VerificationStatus.APPROVED:
        raise DomainError(
            "The proof must be one of the member's approved verifications",
            code="EVIDENCE_REQUIRED",
            field="evidenceId",
        )
    policy = await current_policy()
    async with in_transaction():
        profile = await _locked_profile(user_id)
        cap = platform_cap(policy, profile.subject_type)
        if not 0 < amount_fen <= cap:
            raise InvalidInputError(
                f"The temporary limit must be above zero and at most {format_money(cap)} (R1)",
                field="amount",
            )
        if profile.frozen:
            raise DomainError("The limit is frozen", code="FROZEN")
        before = (await _standing(profile, as_of=today)).limit_fen
        profile.temp_limit_fen = amount_fen
        profile.temp_limit_expires_on = expires_on
        profile.temp_limit_reason = f"{reason} (proof: verification {evidence_id})"[:255]
        await profile.save()
        after = (await _standing(profile, as_of=today)).limit_fen
        await _record(
            profile,
            kind=CreditChangeKind.TEMPORARY_SET,
            old_limit=before,
            new_limit=after,
            reason=f"{reason} (proof: verification {evidence_id}, until {expires_on.isoformat()})",
            actor_id=officer_id,
        )
    return await _standing(profile)


async def end_expired_temporary_limits() -> int:
    """Daily: clear temporary limits past their expiry, with a history row each."""
    today = await clock.today()
    ended = 0
    ids = await CreditProfile.filter(temp_limit_expires_on__lt=today).values_list("id", flat=True)
    for profile_id in ids:
        async with in_transaction():
            profile = await CreditProfile.filter(id=profile_id).select_for_update().get()
            if profile.temp_limit_expires_on is None or profile.temp_limit_expires_on >= today:
                continue
            expired_on = profile.temp_limit_expires_on
            old = (await _standing(profile, as_of=expired_on)).limit_fen
            profile.temp_limit_fen = None
            profile.temp_limit_expires_on = None
            profile.temp_limit_reason = ""
            await profile.save()
            after = (await _standing(profile, as_of=today)).limit_fen
            await _record(
                profile,
                kind=CreditChangeKind.TEMPORARY_ENDED,
                old_limit=old,
                new_limit=after,
                reason=f"Temporary limit expired on {expired_on.isoformat()}",
                actor_id=None,
                event_key=f"temporary-ended:{profile.user_id}:{expired_on.isoformat()}",
            )
            ended += 1
    return ended
