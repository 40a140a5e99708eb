"""Partners' requests (docs/partners.md): a key in `Authorization: Bearer lbp_...` makes
a request a partner's. Before the GraphQL view reads anything else: the key must work
(401), the partner be within its rate and daily quota (429 with Retry-After); then the
request must name a published document of the partner's sets (app/persisted.py). Each
outcome is counted per partner, business day and operation."""

from __future__ import annotations

import uuid
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from strawberry.types import ExecutionResult

from app.persisted import Refused
from schema.context import Context, bearer_token
from services.kit.metrics import PARTNER_REQUESTS
from services.kit.settings import Settings
from services.partners import keys, limits, usage
from services.partners.keys import PartnerIdentity
from services.platform import clock

NO_OPERATION = "-"  # usage of a request refused before its operation was known


def partner_key(request: Request) -> str | None:
    token = bearer_token(request.headers.get("authorization"))
    return token if keys.looks_like_key(token) else None


async def record(partner: PartnerIdentity, operation: str, outcome: str) -> None:
    usage.count(partner.partner_id, await clock.today(), operation, outcome)
    PARTNER_REQUESTS.labels(partner.code, outcome).inc()


async def admit(key: str, context: Context) -> None:
    """Make the request the key's partner's, or refuse it (Refused: 401 or 429)."""
    partner = await keys.identify(key, cache_seconds=context.settings.partner_key_cache_seconds)
    if partner is None:
        PARTNER_REQUESTS.labels("unknown", "PARTNER_KEY_INVALID").inc()
        raise Refused(
            "PARTNER_KEY_INVALID",
            "The partner key is wrong, revoked or expired",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="partners"'},
        )
    context.partner = partner
    context.use_actor(partner.actor)
    try:
        await limits.admit(partner)
    except limits.Limited as limited:  # counted by the caller, as every refusal
        raise Refused(
            limited.code,
            limited.message,
            status=429,
            headers={"Retry-After": str(limited.retry_after)},
        ) from None


def outcome_of(result: ExecutionResult) -> str:
    for error in result.errors or []:
        code = (error.extensions or {}).get("code") if isinstance(error, GraphQLError) else None
        return str(code or "ERROR")
    return "ok"


async def refused(context: Any, refusal: Refused) -> None:
    """Count a refusal for the request's partner, if it is one's (the operation is not
    known yet: refusals come before a document is taken)."""
    partner = getattr(context, "partner", None)
    if partner is not None:
        await record(partner, NO_OPERATION, refusal.code)


def refusal_response(refusal: Refused, context: Any) -> Response:
    return refusal.response(getattr(context, "trace_id", None) or uuid.uuid4().hex)


async def count_too_large(settings: Settings, scope: Scope) -> None:
    """A body over the limit is refused (413) before it is read: counted for the partner
    whose key it carries (a batch of 10,000 ids ends here)."""
    key = partner_key(Request(scope))
    if key is None:
        return
    partner = await keys.identify(key, cache_seconds=settings.partner_key_cache_seconds)
    if partner is not None:
        await record(partner, NO_OPERATION, "REQUEST_TOO_LARGE")
