"""A published monthly disclosure for tests that need one to exist (the permission
matrix): November 2026 of an empty book, the platform's first member registered in
October."""

from __future__ import annotations

from datetime import UTC, date, datetime

from models.disclosures import MonthlyDisclosure
from models.members import User
from services.analytics import disclosure
from tests.factories import create_member


async def published_month() -> MonthlyDisclosure:
    member, _phone = await create_member()
    await User.filter(id=member.id).update(created_at=datetime(2026, 10, 1, 9, tzinfo=UTC))
    row, _built = await disclosure.build(date(2026, 11, 1))
    return row
