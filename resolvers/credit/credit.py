"""Verification kinds, submitting materials, a member's submissions, checking a file."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.credit import MaterialFile, ReviewDecision, VerificationStatus, VerificationSubmission
from models.members import User
from resolvers.identity.access import decode_user_id
from resolvers.uploads import read_upload
from schema.errors import BadUserInputError
from schema.pagination import Connection, build_connection, clamp_first, cursor_key
from schema.scalars import Money
from schema.types.credit import credit as t
from services.credit import disclosure, manual_limits, materials, review, scoring
from services.credit.catalogue import KINDS
from services.errors import DomainError, InvalidInputError, NotFoundError


def verification_kinds() -> list[t.VerificationKindType]:
    return [
        t.VerificationKindType(
            code=kind.code,
            tier=t.VerificationTier(kind.tier.value),
            title=kind.title,
            fields=[
                t.VerificationFieldSpec(
                    name=spec.name,
                    label=spec.label,
                    required=spec.required,
                    personal=spec.personal,
                    format=spec.format.value,
                )
                for spec in kind.fields
            ],
            file_types=list(kind.file_types),
            min_files=kind.min_files,
            max_files=kind.max_files,
            max_file_bytes=kind.max_file_bytes,
            score=kind.score,
            required_for_borrowing=kind.required_for_borrowing,
            required_for_lending=kind.required_for_lending,
            external_source=kind.external_source,
        )
        for kind in KINDS
    ]


def _file(row: MaterialFile) -> t.MaterialFileType:
    return t.MaterialFileType(
        id=strawberry.ID(str(row.id)),
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        signature=row.signature,
        created_at=row.created_at,
        download_path=f"/materials/{row.id}",
    )


def _verification(row: VerificationSubmission) -> t.Verification:
    return t.Verification(
        id=strawberry.ID(str(row.id)),
        kind=row.kind,
        status=t.VerificationStatus(row.status.value),
        fields=[
            t.VerificationField(name=view.name, value=view.value, personal=view.personal)
            for view in materials.field_views(row)
        ],
        files=[_file(f) for f in sorted(row.files, key=lambda f: f.id)],
        reviews=[
            t.VerificationReviewType(
                decision=t.ReviewDecision(entry.decision.value),
                reason=entry.reason,
                created_at=entry.created_at,
            )
            for entry in sorted(row.reviews, key=lambda e: e.id)
        ],
        created_at=row.created_at,
    )


async def submit_verification(
    info: Info, input: t.SubmitVerificationInput
) -> t.SubmitVerificationResult:
    try:
        fields: dict[str, str] = {}
        for item in input.fields:
            if item.name in fields:
                raise InvalidInputError(f"{item.name} is given twice", field=item.name)
            fields[item.name] = item.value
        row = await materials.submit(
            actor=await info.context.get_actor(),
            kind=input.kind,
            fields=fields,
            files=[await read_upload(upload) for upload in input.files],
        )
    except DomainError as error:
        return t.SubmitVerificationError.from_domain(error)
    return t.VerificationSubmitted(verification=_verification(row))


async def my_verifications(info: Info) -> list[t.Verification]:
    rows = await materials.list_for(await info.context.get_actor())
    return [_verification(row) for row in rows]


async def verify_material(info: Info, file_id: strawberry.ID) -> t.MaterialCheck:
    try:
        report = await materials.verify_material(int(file_id))
    except (ValueError, DomainError) as error:
        raise BadUserInputError("No such file", field="fileId") from error
    return t.MaterialCheck(
        file_id=strawberry.ID(str(report.file_id)),
        valid=report.valid,
        problem=t.MaterialProblem(report.problem.value) if report.problem else None,
    )


# --- review ---------------------------------------------------------------------------------


def _int_id(value: strawberry.ID, field: str) -> int:
    try:
        number = int(value)
    except ValueError as error:
        raise NotFoundError("No such record", field=field) from error
    if number <= 0:
        raise NotFoundError("No such record", field=field)
    return number


async def review_verification(
    info: Info, input: t.ReviewVerificationInput
) -> t.ReviewVerificationResult:
    try:
        done = await review.review(
            await info.context.get_actor(),
            _int_id(input.verification_id, "verificationId"),
            ReviewDecision(input.decision.value),
            input.reason,
        )
    except DomainError as error:
        return t.ReviewVerificationError.from_domain(error)
    await done.submission.fetch_related("files", "reviews")
    return t.VerificationReviewed(
        verification=_verification(done.submission),
        score=done.profile.score,
        grade=done.profile.grade,
    )


async def verification_queue(
    info: Info,
    status: t.VerificationStatus = t.VerificationStatus.SUBMITTED,
    first: int | None = 20,
    after: str | None = None,
) -> Connection[t.QueuedVerification]:
    after_id = cursor_key(after)
    size = clamp_first(first)
    page = await review.queue(
        status=VerificationStatus(status.value), first=size + 1, after_id=after_id
    )
    owners = {
        user.id: user for user in await User.filter(id__in={row.user_id for row in page.rows})
    }

    def node(row: VerificationSubmission) -> t.QueuedVerification:
        owner = owners[row.user_id]
        return t.QueuedVerification(
            verification=_verification(row),
            member=t.MemberRef(
                id=strawberry.ID(str(relay.GlobalID("User", str(owner.id)))),
                display_name=owner.display_name,
                phone=owner.phone_masked,
            ),
        )

    return build_connection(
        page.rows,
        first=size,
        total=page.total,
        has_previous=after is not None,
        key=lambda row: row.id,
        node=node,
    )


# --- credit ---------------------------------------------------------------------------------


async def _summary(standing: scoring.Standing) -> t.CreditSummary:
    profile = standing.profile
    explanation = profile.explanation
    entries = await scoring.history(profile.user_id)
    shown = await disclosure.borrower_disclosure(profile.user_id)
    return t.CreditSummary(
        score=profile.score,
        grade=profile.grade,
        limit=Money(standing.limit_fen),
        permanent_limit=Money(standing.permanent_limit_fen),
        temporary_limit=(
            t.TemporaryCreditLimit(
                amount=Money(standing.temporary_limit_fen),
                expires_on=profile.temp_limit_expires_on,
                reason=profile.temp_limit_reason,
            )
            if standing.temporary_limit_fen is not None
            and profile.temp_limit_expires_on is not None
            else None
        ),
        used=Money(standing.used_fen),
        available=Money(standing.available_fen),
        other_platforms_outstanding=Money(standing.other_platforms_outstanding_fen),
        frozen=profile.frozen,
        frozen_reason=profile.frozen_reason if profile.frozen else None,
        parts=[
            t.CreditScorePart(label=part["label"], points=part["points"])
            for part in explanation.get("parts", [])
        ],
        reasons=list(standing.reasons),
        missing_for_borrowing=list(explanation.get("missing", [])),
        history=[
            t.CreditHistoryEntry(
                kind=t.CreditChangeKind(entry.kind.value),
                old_limit=Money(entry.old_limit_fen),
                new_limit=Money(entry.new_limit_fen),
                old_grade=entry.old_grade,
                new_grade=entry.new_grade,
                score=entry.score,
                reason=entry.reason,
                by_staff=entry.actor_id is not None,
                created_at=entry.created_at,
            )
            for entry in entries
        ],
        disclosure=disclosure_view(shown),
    )


def _money_or_none(fen: int | None) -> Money | None:
    return None if fen is None else Money(fen)


def disclosure_view(shown: disclosure.BorrowerDisclosure) -> t.BorrowerDisclosure:
    return t.BorrowerDisclosure(
        monthly_income=_money_or_none(shown.monthly_income_fen),
        outstanding_debt=_money_or_none(shown.outstanding_debt_fen),
        monthly_debt_payment=_money_or_none(shown.monthly_debt_payment_fen),
        overdue_items_last_6_months=[
            t.DisclosedOverdueItem(date=item.date, amount=Money(item.amount_fen), days=item.days)
            for item in shown.overdue_items_6m
        ],
        other_platform_loans=[
            t.OtherPlatformLoan(
                platform=loan.platform,
                outstanding=Money(loan.outstanding_fen),
                overdue=loan.overdue,
            )
            for loan in shown.other_platform_loans
        ],
        other_platforms_outstanding=Money(shown.other_platforms_outstanding_fen),
        credit_report_checked_at=shown.checked_at.get("credit_bureau"),
        industry_sharing_checked_at=shown.checked_at.get("industry_sharing"),
    )


async def my_credit(info: Info) -> t.CreditSummary:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    return await _summary(await scoring.standing(actor.user_id))


async def _member_id(user_id: strawberry.ID) -> int:
    member_id = decode_user_id(user_id)
    if not await User.filter(id=member_id, kind="member").exists():
        raise NotFoundError("No such member", field="userId")
    return member_id


async def member_credit(info: Info, user_id: strawberry.ID) -> t.CreditSummary:
    try:
        member_id = await _member_id(user_id)
    except DomainError as error:
        raise BadUserInputError(error.message, field="userId") from error
    return await _summary(await scoring.standing(member_id))


async def freeze_credit_limit(
    info: Info, input: t.FreezeCreditLimitInput
) -> t.FreezeCreditLimitResult:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    try:
        standing = await manual_limits.freeze(
            officer_id=actor.user_id, user_id=await _member_id(input.user_id), reason=input.reason
        )
    except DomainError as error:
        return t.FreezeCreditLimitError.from_domain(error)
    return t.CreditLimitChanged(credit=await _summary(standing))


async def unfreeze_credit_limit(
    info: Info, input: t.FreezeCreditLimitInput
) -> t.UnfreezeCreditLimitResult:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    try:
        standing = await manual_limits.unfreeze(
            officer_id=actor.user_id, user_id=await _member_id(input.user_id), reason=input.reason
        )
    except DomainError as error:
        return t.UnfreezeCreditLimitError.from_domain(error)
    return t.CreditLimitChanged(credit=await _summary(standing))


async def set_temporary_credit_limit(
    info: Info, input: t.SetTemporaryCreditLimitInput
) -> t.SetTemporaryCreditLimitResult:
    actor = await info.context.get_actor()
    assert actor.user_id is not None
    try:
        standing = await manual_limits.set_temporary_limit(
            officer_id=actor.user_id,
            user_id=await _member_id(input.user_id),
            amount_fen=input.amount,
            expires_on=input.expires_on,
            evidence_id=_int_id(input.evidence_id, "evidenceId"),
            reason=input.reason,
        )
    except DomainError as error:
        return t.SetTemporaryCreditLimitError.from_domain(error)
    return t.CreditLimitChanged(credit=await _summary(standing))
