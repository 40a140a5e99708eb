"""Root fields: verification kinds and materials (M1.2, M2.1-M2.3)."""

from __future__ import annotations

import strawberry

from resolvers import credit as r
from schema.directives import auth, public
from schema.types import credit as t
from services.permissions import Permission


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


@strawberry.type
class CreditMutation:
    submit_verification: t.SubmitVerificationResult = strawberry.mutation(
        resolver=r.submit_verification,
        extensions=auth(Permission.ACCOUNT_USE),
        description="Submit materials for a verification kind (multipart upload).",
    )
