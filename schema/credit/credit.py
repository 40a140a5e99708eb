"""Root fields: verification kinds and materials (M1.2, M2.1-M2.3)."""

from __future__ import annotations

import strawberry

from resolvers.credit import credit as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types.credit import credit as t
from services.identity.permissions import Permission


@strawberry.type
class CreditQuery:
    verification_kinds: list[t.VerificationKindType] = strawberry.field(
        resolver=r.verification_kinds,
        extensions=public(),
        description="Every item a member can be verified on: fields, files, score.",
    )
    my_verifications: list[t.Verification] = strawberry.field(
        resolver=r.my_verifications,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your submitted materials, newest first (personal values masked).",
    )
    verify_material: t.MaterialCheck = strawberry.field(
        resolver=r.verify_material,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="Check a stored file against its hash and the platform's signature.",
    )
    verification_queue: Connection[t.QueuedVerification] = strawberry.field(
        resolver=r.verification_queue,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="Submissions in one review state (default SUBMITTED), oldest first.",
    )
    my_credit: t.CreditSummary = strawberry.field(
        resolver=r.my_credit,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Your score, grade, limit, what is used and available, and why.",
    )
    member_credit: t.CreditSummary = strawberry.field(
        resolver=r.member_credit,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="A member's credit, for credit officers.",
    )


@strawberry.type
class CreditMutation:
    submit_verification: t.SubmitVerificationResult = strawberry.mutation(
        resolver=r.submit_verification,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Submit materials for a verification kind (multipart upload).",
    )
    review_verification: t.ReviewVerificationResult = strawberry.mutation(
        resolver=r.review_verification,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="Approve, reject or ask for more; the member is told and re-scored.",
    )
    freeze_credit_limit: t.FreezeCreditLimitResult = strawberry.mutation(
        resolver=r.freeze_credit_limit,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="Freeze a member's credit limit (e.g. seriously overdue).",
    )
    unfreeze_credit_limit: t.UnfreezeCreditLimitResult = strawberry.mutation(
        resolver=r.unfreeze_credit_limit,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="Lift a freeze.",
    )
    set_temporary_credit_limit: t.SetTemporaryCreditLimitResult = strawberry.mutation(
        resolver=r.set_temporary_credit_limit,
        extensions=auth(Permission.CREDIT_REVIEW),
        description="A temporary limit on extra proof of repayment ability, with an expiry.",
    )
