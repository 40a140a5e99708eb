"""Generated demo data: roles, one staff user per role, a few members. Idempotent."""

from __future__ import annotations

from models.members import User
from services import auth
from services.permissions import ANONYMOUS, DEFAULT_ROLES, seed_roles
from services.security import lookup_hash

DEMO_PASSWORD = "Demo12345"
# Generated numbers in a range used only for demo data: 1990000xxxx.
_STAFF_BASE = 19900000000
_MEMBER_BASE = 19900001000


async def seed_demo_data() -> list[str]:
    """Create missing demo users; return one line per login for the operator."""
    await seed_roles()
    lines = []
    staff_roles = [name for name, (_d, is_staff, _p) in DEFAULT_ROLES.items() if is_staff]
    for index, role in enumerate(staff_roles, start=1):
        phone = str(_STAFF_BASE + index)
        if not await User.exists(phone_lookup=lookup_hash(phone)):
            await auth.create_staff_user(
                actor=ANONYMOUS,
                phone=phone,
                password=DEMO_PASSWORD,
                display_name=f"Demo {role}",
                roles=[role],
            )
        lines.append(f"{role:<10} {phone}  {DEMO_PASSWORD}")
    for index in range(1, 4):
        phone = str(_MEMBER_BASE + index)
        if not await User.exists(phone_lookup=lookup_hash(phone)):
            await auth.create_member_without_code(
                phone=phone, password=DEMO_PASSWORD, display_name=f"Demo member {index}"
            )
        lines.append(f"{'member':<10} {phone}  {DEMO_PASSWORD}")
    return lines
