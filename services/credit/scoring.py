"""Score, grade and credit limit (M2.4-M2.6, R1).

`evaluate` is the scorecard, a pure function of what is known about the member:
approved verification kinds (each counted once), repayment history (on-time and overdue
installments) and adverse outside records (M2.7 signals), under the policy in force
(`services.credit.policy`, platform parameters). The score picks a grade band and the
band its limit; a member lacking any item required for borrowing gets no limit.

The permanent limit is the band's limit moved by repayment history (M2.5): each on-time
installment raises it by a share of the band's limit (in all at most `max_raise`), each
overdue installment lowers it, never below zero, never above the R1 cap. The limit in
force is zero while frozen (M2.6), at least a running temporary limit, and never above
the cap. What a member can still borrow is also bounded by the all-platform cap less
what other platforms report they owe (R1, industry sharing).

Every change of score, grade or limit is a `credit_limit_changes` row with a reason and
the actor (null: the platform's rules); automatic events carry a unique key, so an
event delivered twice changes the limit once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.credit import (
    CreditChangeKind,
    CreditLimitChange,
    CreditProfile,
    VerificationStatus,
    VerificationSubmission,
)
from services.credit import external
from services.credit.scorecard import (
    Policy,
    ScoreInputs,
    all_platforms_cap,
    current_policy,
    evaluate,
    platform_cap,
    policy_fingerprint,
)
from services.errors import DomainError, InvalidInputError
from services.money.money import format_money
from services.platform import clock

# --- the profile -----------------------------------------------------------------------


async def approved_kinds(user_id: int) -> frozenset[str]:
    kinds = await VerificationSubmission.filter(
        user_id=user_id, status=VerificationStatus.APPROVED
    ).values_list("kind", flat=True)
    return frozenset(str(kind) for kind in kinds)


async def _locked_profile(user_id: int) -> CreditProfile:
    """The member's profile, locked for this transaction (created when missing)."""
    profile = await CreditProfile.filter(user_id=user_id).select_for_update().first()
    if profile is None:
        try:
            async with in_transaction():  # a savepoint: a concurrent creator may win
                await CreditProfile.create(user_id=user_id)
        except IntegrityError:
            pass
        profile = await CreditProfile.filter(user_id=user_id).select_for_update().get()
    return profile


def _rescore(
    profile: CreditProfile, policy: Policy, kinds: frozenset[str], signals: external.Signals
) -> tuple[int, str, int]:
    """The scorecard applied to `profile` in place (not saved); its score, grade and
    limit before."""
    inputs = ScoreInputs(
        approved_kinds=kinds,
        on_time_count=profile.on_time_count,
        overdue_count=profile.overdue_count,
        signals=signals,
    )
    result = evaluate(inputs, policy, profile.subject_type)
    old = (profile.score, profile.grade, profile.limit_fen)
    profile.score = result.score
    profile.grade = result.grade
    profile.grade_limit_fen = result.grade_limit_fen
    profile.limit_fen = result.limit_fen
    profile.explanation = result.as_json(policy_fingerprint(policy))
    return old


async def _apply(
    profile: CreditProfile,
    *,
    kind: CreditChangeKind,
    reason: str,
    actor_id: int | None,
    event_key: str | None = None,
    policy: Policy | None = None,
    always_record: bool = False,
) -> CreditLimitChange | None:
    """Re-evaluate a locked profile, save it, and record a history row when anything a
    member would notice changed (or `always_record`). Call inside a transaction."""
    policy = policy or await current_policy()
    old = _rescore(
        profile,
        policy,
        await approved_kinds(profile.user_id),
        await external.signals(profile.user_id),
    )
    await profile.save()
    changed = old != (profile.score, profile.grade, profile.limit_fen)
    if not (changed or always_record):
        return None
    return await _record(
        profile,
        kind=kind,
        old_limit=old[2],
        new_limit=profile.limit_fen,
        reason=reason,
        actor_id=actor_id,
        event_key=event_key,
        old_grade=old[1],
    )


async def reevaluate(
    user_id: int, *, reason: str, actor_id: int | None, kind: CreditChangeKind
) -> CreditProfile:
    """Re-score a member (after a review, or a policy change). Joins an open transaction."""
    async with in_transaction():
        profile = await _locked_profile(user_id)
        await _apply(profile, kind=kind, reason=reason, actor_id=actor_id)
    return profile


async def reevaluate_stale(batch: int = 200) -> int:
    """Re-score every profile evaluated under another policy than the one in force (a
    history row for each whose score, grade or limit moved). Returns how many."""
    policy = await current_policy()
    current = policy_fingerprint(policy)
    done = 0
    last_id = 0
    while True:
        rows = await CreditProfile.filter(id__gt=last_id).order_by("id").limit(batch)
        if not rows:
            return done
        last_id = rows[-1].id
        for row in rows:
            if row.explanation.get("policy") == current:
                continue
            async with in_transaction():
                profile = await CreditProfile.filter(id=row.id).select_for_update().get()
                if profile.explanation.get("policy") == current:
                    continue
                await _apply(
                    profile,
                    kind=CreditChangeKind.PARAMETERS,
                    reason="Re-scored under the changed credit policy",
                    actor_id=None,
                    policy=policy,
                )
                done += 1


async def profile_for(user_id: int) -> CreditProfile:
    """The member's profile; a member never evaluated is evaluated now."""
    profile = await CreditProfile.get_or_none(user_id=user_id)
    if profile is None:
        profile = await reevaluate(
            user_id, reason="First evaluation", actor_id=None, kind=CreditChangeKind.EVALUATED
        )
    return profile


# --- what is in force --------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A member's credit as it stands on `as_of` (business date)."""

    profile: CreditProfile
    limit_fen: int  # in force: permanent, temporary, frozen and R1 cap applied
    permanent_limit_fen: int
    temporary_limit_fen: int | None  # while it runs
    used_fen: int
    available_fen: int
    other_platforms_outstanding_fen: int
    reasons: tuple[str, ...]


async def standing(user_id: int, *, as_of: date | None = None) -> Standing:
    profile = await profile_for(user_id)
    return await _standing(profile, as_of=as_of)


async def _standing(profile: CreditProfile, *, as_of: date | None = None) -> Standing:
    as_of = as_of or await clock.today()
    policy = await current_policy()
    reasons = list(profile.explanation.get("reasons", []))
    temporary = (
        profile.temp_limit_fen
        if profile.temp_limit_fen is not None
        and profile.temp_limit_expires_on is not None
        and as_of <= profile.temp_limit_expires_on
        else None
    )
    cap = platform_cap(policy, profile.subject_type)
    if profile.frozen:
        limit = 0
        reasons.append(f"Frozen: {profile.frozen_reason}")
    else:
        limit = min(max(profile.limit_fen, temporary or 0), cap)
        if temporary is not None and temporary > profile.limit_fen:
            reasons.append(
                f"Temporary limit {format_money(min(temporary, cap))} until "
                f"{profile.temp_limit_expires_on.isoformat()}"  # type: ignore[union-attr]
            )
    signals = await external.signals(profile.user_id)
    others = signals.other_platforms_outstanding_fen
    room_here = limit - profile.used_fen
    room_everywhere = all_platforms_cap(policy, profile.subject_type) - profile.used_fen - others
    if others and room_everywhere < room_here:
        reasons.append(
            f"Other platforms report {format_money(others)} owed: at most "
            f"{format_money(max(0, room_everywhere))} more across platforms (R1)"
        )
    return Standing(
        profile=profile,
        limit_fen=limit,
        permanent_limit_fen=profile.limit_fen,
        temporary_limit_fen=temporary,
        used_fen=profile.used_fen,
        available_fen=max(0, min(room_here, room_everywhere)),
        other_platforms_outstanding_fen=others,
        reasons=tuple(reasons),
    )


# --- using the limit (the loans and repayments services call these) -----------------------


async def use_limit(user_id: int, amount_fen: int) -> Standing:
    """Take `amount_fen` of the member's available limit (a loan request). Joins the
    caller's transaction; raises DomainError CREDIT_LIMIT_EXCEEDED and changes nothing
    when it is not available."""
    if amount_fen <= 0:
        raise InvalidInputError("The amount must be positive", field="amount")
    async with in_transaction():
        profile = await _locked_profile(user_id)
        if not profile.explanation:
            await _apply(
                profile, kind=CreditChangeKind.EVALUATED, reason="First evaluation", actor_id=None
            )
        before = await _standing(profile)
        if amount_fen > before.available_fen:
            raise DomainError(
                f"Only {format_money(before.available_fen)} of credit is available",
                code="CREDIT_LIMIT_EXCEEDED",
                field="amount",
            )
        profile.used_fen += amount_fen
        await profile.save(update_fields=["used_fen", "updated_at"])
    return await _standing(profile)


async def restore_limit(user_id: int, amount_fen: int) -> None:
    """Give back principal repaid, or a request that failed. Joins the caller's transaction."""
    if amount_fen <= 0:
        raise InvalidInputError("The amount must be positive", field="amount")
    async with in_transaction():
        profile = await _locked_profile(user_id)
        if amount_fen > profile.used_fen:
            raise DomainError("More restored than used", code="INVALID", field="amount")
        profile.used_fen -= amount_fen
        await profile.save(update_fields=["used_fen", "updated_at"])


# --- automatic adjustment (M2.5) and serious overdue (M2.6) ------------------------------


async def _already(event_key: str) -> bool:
    return await CreditLimitChange.filter(event_key=event_key).exists()


async def on_installment_paid(user_id: int, *, installment_key: str, on_time: bool) -> bool:
    """An installment was repaid. On time, it raises the limit. Applied once per
    installment (False when it was already counted). Joins the caller's transaction."""
    event_key = f"paid:{installment_key}"
    async with in_transaction():
        profile = await _locked_profile(user_id)
        if await _already(event_key) or not on_time:
            return False
        profile.on_time_count += 1
        await _apply(
            profile,
            kind=CreditChangeKind.ON_TIME,
            reason=f"Installment {installment_key} repaid on time",
            actor_id=None,
            event_key=event_key,
            always_record=True,
        )
    return True


async def on_installments_paid(user_id: int, installment_keys: Sequence[str]) -> int:
    """`on_installment_paid(..., on_time=True)` for each key in its order, as one step (a
    day's repayment batch): the profile locked and saved once, the member's verified
    kinds and outside signals read once (nothing here changes them), the history rows
    written together; each row as `on_installment_paid` writes it. A key counted before
    is skipped. Joins the caller's transaction; returns how many counted."""
    rows: list[CreditLimitChange] = []
    async with in_transaction():
        profile = await _locked_profile(user_id)
        keys = [f"paid:{key}" for key in installment_keys]
        seen = {
            str(key)
            for key in await CreditLimitChange.filter(event_key__in=keys).values_list(
                "event_key", flat=True
            )
        }
        policy = await current_policy()
        kinds = await approved_kinds(user_id)
        signals = await external.signals(user_id)
        now = await clock.now()
        for key, event_key in zip(installment_keys, keys, strict=True):
            if event_key in seen:
                continue
            seen.add(event_key)
            profile.on_time_count += 1
            old = _rescore(profile, policy, kinds, signals)
            rows.append(
                _history_row(
                    profile,
                    kind=CreditChangeKind.ON_TIME,
                    old_limit=old[2],
                    new_limit=profile.limit_fen,
                    reason=f"Installment {key} repaid on time",
                    actor_id=None,
                    event_key=event_key,
                    old_grade=old[1],
                    at=now,
                )
            )
        if rows:
            await profile.save()
            await CreditLimitChange.bulk_create(rows)
    return len(rows)


async def on_installment_overdue(user_id: int, *, installment_key: str, days_overdue: int) -> bool:
    """An installment is overdue: the first call for it lowers the limit; a call at or
    past the serious-overdue threshold also freezes the limit. Each step happens once.
    Joins the caller's transaction. True when anything changed."""
    if days_overdue < 1:
        raise InvalidInputError("days_overdue must be at least 1", field="days_overdue")
    changed = False
    async with in_transaction():
        profile = await _locked_profile(user_id)
        policy = await current_policy()
        lowered_key = f"overdue:{installment_key}"
        if not await _already(lowered_key):
            profile.overdue_count += 1
            await _apply(
                profile,
                kind=CreditChangeKind.OVERDUE,
                reason=f"Installment {installment_key} overdue",
                actor_id=None,
                event_key=lowered_key,
                policy=policy,
                always_record=True,
            )
            changed = True
        freeze_key = f"freeze:{installment_key}"
        if days_overdue >= policy.adjustment.freeze_after_days and not await _already(freeze_key):
            await _freeze(
                profile,
                reason=f"Installment {installment_key} overdue {days_overdue} days",
                actor_id=None,
                event_key=freeze_key,
            )
            changed = True
    return changed


# --- manual adjustment by officers (M2.6) -------------------------------------------------


async def _record(
    profile: CreditProfile,
    *,
    kind: CreditChangeKind,
    old_limit: int,
    new_limit: int,
    reason: str,
    actor_id: int | None,
    event_key: str | None = None,
    old_grade: str | None = None,
) -> CreditLimitChange:
    """A history row; the grade after is the profile's, before it `old_grade` (or the same)."""
    row = _history_row(
        profile,
        kind=kind,
        old_limit=old_limit,
        new_limit=new_limit,
        reason=reason,
        actor_id=actor_id,
        event_key=event_key,
        old_grade=old_grade,
        at=await clock.now(),
    )
    await row.save()
    return row


def _history_row(
    profile: CreditProfile,
    *,
    kind: CreditChangeKind,
    old_limit: int,
    new_limit: int,
    reason: str,
    actor_id: int | None,
    event_key: str | None,
    old_grade: str | None,
    at: datetime,
) -> CreditLimitChange:
    """`_record`'s row, not saved yet."""
    return CreditLimitChange(
        user_id=profile.user_id,
        kind=kind,
        old_limit_fen=old_limit,
        new_limit_fen=new_limit,
        old_grade=old_grade or profile.grade,
        new_grade=profile.grade,
        score=profile.score,
        reason=reason[:500],
        actor_id=actor_id,
        event_key=event_key,
        created_at=at,
    )


async def _freeze(
    profile: CreditProfile, *, reason: str, actor_id: int | None, event_key: str | None = None
) -> None:
    before = (await _standing(profile)).limit_fen
    profile.frozen = True
    profile.frozen_reason = reason[:255]
    await profile.save(update_fields=["frozen", "frozen_reason", "updated_at"])
    await _record(
        profile,
        kind=CreditChangeKind.FROZEN,
        old_limit=before,
        new_limit=0,
        reason=reason,
        actor_id=actor_id,
        event_key=event_key,
    )


async def history(user_id: int, *, limit: int = 50) -> list[CreditLimitChange]:
    return await CreditLimitChange.filter(user_id=user_id).order_by("-id").limit(limit)
