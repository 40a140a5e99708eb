"""Whom a case's news goes to, and how (M5.4, M5.5): the member by an in-app notice (the
`notifications` subscription), an SMS and an e-mail (when they have an approved
address); staff by an in-app notice: the case's assignee, or every active staff member
holding `cases:manage` while the case is unassigned. All queued in the caller's
transaction and sent after it commits (the outbox)."""

from __future__ import annotations

from typing import cast

from models.access import RolePermission, UserRole
from models.cases import ServiceCase
from models.members import User, UserKind, UserStatus
from services.identity.permissions import Permission
from services.kit.security import decrypt_pii
from services.platform import notifier


async def tell_member(case: ServiceCase, *, kind: str, title: str, body: str) -> None:
    """Notice, SMS and e-mail to the case's member."""
    member = await User.get(id=case.member_id)
    await notifier.notify(user=member, kind=kind, title=title, body=body)
    await notifier.send_sms(phone=decrypt_pii(member.phone_cipher), text=f"[LendBridge] {body}")
    await notifier.send_email(user_id=member.id, subject=f"LendBridge: {title}", text=body)


async def case_staff() -> list[int]:
    """Active staff whose roles grant `cases:manage`, by id."""
    roles = await RolePermission.filter(permission=str(Permission.CASES_MANAGE)).values_list(
        "role_id", flat=True
    )
    users = await UserRole.filter(role_id__in=list(roles)).values_list("user_id", flat=True)
    found = await User.filter(
        id__in=list(users), kind=UserKind.STAFF, status=UserStatus.ACTIVE
    ).values_list("id", flat=True)
    return sorted(cast(list[int], found))


async def tell_staff(case: ServiceCase, *, kind: str, title: str, body: str) -> list[int]:
    """A notice to the assignee, or to every case staff member when unassigned; whom."""
    to = [case.assignee_id] if case.assignee_id is not None else await case_staff()
    await notifier.notify_many([(user_id, kind, title, body) for user_id in to])
    return to
