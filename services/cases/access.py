"""Who may see and handle which service cases: the one point where cases are scoped to
an actor (members their own, staff with `cases:manage` every one), and the bounds on
what people write."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.cases import ServiceCase
from services.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from services.identity.permissions import Actor, Permission

SUBJECT_MOST = 200
TEXT_MOST = 4000
RESOLUTION_MOST = 2000
REASON_MOST = 500


def is_staff(actor: Actor) -> bool:
    """Staff who handle cases (`cases:manage`)."""
    return actor.can(Permission.CASES_MANAGE)


def is_member(actor: Actor) -> bool:
    return actor.kind == "member" and actor.user_id is not None


def require_reader(actor: Actor) -> None:
    """Members (their own cases) and case staff; anyone else PermissionDeniedError."""
    if not (is_member(actor) or is_staff(actor)):
        raise PermissionDeniedError("Only members and case staff (cases:manage) see cases")


def require_member(actor: Actor) -> None:
    if not is_member(actor):
        raise PermissionDeniedError("Only members open, reopen and rate their cases")


def visible(actor: Actor) -> QuerySet[ServiceCase]:
    """The cases the actor may see: all for case staff, a member's own otherwise."""
    require_reader(actor)
    if is_staff(actor):
        return ServiceCase.all()
    return ServiceCase.filter(member_id=actor.user_id)


async def get_visible(actor: Actor, case_id: int, *, lock: bool = False) -> ServiceCase:
    """The case if the actor may see it; NotFoundError otherwise, never telling whether
    another member's case exists. `lock`: row-locked (inside the caller's transaction)."""
    query = visible(actor).filter(id=case_id)
    if lock:
        query = query.select_for_update()
    found = await query.first()
    if found is None:
        raise NotFoundError("No such case", field="caseId")
    return found


async def get_own(actor: Actor, case_id: int, *, lock: bool = False) -> ServiceCase:
    """The member's own case (row-locked with `lock`); NotFoundError for any other."""
    require_member(actor)
    query = ServiceCase.filter(id=case_id, member_id=actor.user_id)
    if lock:
        query = query.select_for_update()
    found = await query.first()
    if found is None:
        raise NotFoundError("No such case", field="caseId")
    return found


def text(value: str | None, field: str, most: int) -> str:
    """`value` stripped, 1 to `most` characters; InvalidInputError on `field` otherwise."""
    cleaned = (value or "").strip()
    if not cleaned or len(cleaned) > most:
        raise InvalidInputError(f"1 to {most} characters", field=field)
    return cleaned
