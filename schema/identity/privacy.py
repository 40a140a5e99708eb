"""Root fields: full personal values for permitted staff, each view logged (D4)."""

from __future__ import annotations

import strawberry

from resolvers.identity import privacy as r
from schema.directives import auth
from schema.types.identity import privacy as t
from services.identity.permissions import Permission


@strawberry.type
class PrivacyMutation:
    reveal_personal_data: t.RevealPersonalDataResult = strawberry.mutation(
        resolver=r.reveal_personal_data,
        extensions=auth(Permission.PII_VIEW),
        description="Show a member's full phone, ID or card numbers; every view is logged.",
    )
