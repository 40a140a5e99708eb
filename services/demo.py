"""Generated demo data: roles, one staff user per role, a few members. Idempotent."""

from __future__ import annotations

from models.credit import ReviewDecision, VerificationSubmission
from models.members import User
from services import auth
from services.credit import materials, review
from services.credit.catalogue import KINDS, FieldFormat, VerificationKind, get_kind
from services.permissions import ANONYMOUS, DEFAULT_ROLES, Actor, Permission, seed_roles
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
    members = []
    for index in range(1, 4):
        phone = str(_MEMBER_BASE + index)
        member = await User.get_or_none(phone_lookup=lookup_hash(phone))
        if member is None:
            member = await auth.create_member_without_code(
                phone=phone, password=DEMO_PASSWORD, display_name=f"Demo member {index}"
            )
        members.append(member)
        lines.append(f"{'member':<10} {phone}  {DEMO_PASSWORD}")
    officer = await User.get(phone_lookup=lookup_hash(str(_STAFF_BASE + 6)))
    await _seed_credit(members, officer)
    lines.append("member 1 is verified (grade C); member 2 has materials waiting for review")
    return lines


def _demo_id_number(index: int) -> str:
    """A generated resident ID number with a valid check character (not a real person's)."""
    body = f"11010119900101{900 + index:03d}"[:17]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def _demo_fields(kind: VerificationKind, index: int) -> dict[str, str]:
    samples = {
        FieldFormat.NAME: f"Demo Member {index}",
        FieldFormat.ID_NUMBER: _demo_id_number(index),
        FieldFormat.PHONE: str(_MEMBER_BASE + 100 + index),
        FieldFormat.EMAIL: f"member{index}@demo.invalid",
        FieldFormat.NUMBER: f"DEMO{index:06d}",
        FieldFormat.DATE: "2030-12-31",
        FieldFormat.CONSENT: "yes",
    }
    return {
        spec.name: samples.get(spec.format, "12000.00" if spec.format == "MONEY" else "demo")
        for spec in kind.fields
    }


def _demo_files(kind: VerificationKind) -> list[tuple[str, str, bytes]]:
    if "image/png" in kind.file_types:
        made = ("page.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"demo" * 64)
    else:
        made = ("clip.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"demo" * 64)
    return [made] * kind.min_files


async def _seed_credit(members: list[User], officer: User) -> None:
    """Member 1: every item needed to borrow, approved. Member 2: the same, waiting."""
    officer_actor = Actor(
        user_id=officer.id, kind="staff", permissions=frozenset({Permission.CREDIT_REVIEW})
    )
    borrowing = [
        "ID_CARD",
        *(k.code for k in KINDS if k.required_for_borrowing and k.code != "ID_CARD"),
    ]
    for index, member in enumerate(members[:2], start=1):
        if await VerificationSubmission.exists(user_id=member.id):
            continue
        actor = Actor(user_id=member.id, kind="member")
        for code in borrowing:
            kind = get_kind(code)
            assert kind is not None
            submission = await materials.submit(
                actor, code, _demo_fields(kind, index), _demo_files(kind)
            )
            if index == 1:
                await review.review(officer_actor, submission.id, ReviewDecision.APPROVE, "")
