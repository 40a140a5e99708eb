"""The demo data `scripts/start` seeds: idempotent, with a verified borrower and a review
queue for the demo credit officer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.credit import VerificationStatus, VerificationSubmission
from models.members import User
from services.credit import scoring
from services.demo import seed_demo_data
from services.security import lookup_hash
from services.storage import LocalStorage, set_storage

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[None]:
    set_storage(LocalStorage(tmp_path / "storage"))
    yield
    set_storage(None)


async def test_demo_data_has_a_verified_borrower_and_a_queue_and_seeds_once():
    await seed_demo_data()
    users, submissions = await User.all().count(), await VerificationSubmission.all().count()
    await seed_demo_data()
    assert (await User.all().count(), await VerificationSubmission.all().count()) == (
        users,
        submissions,
    )

    borrower = await User.get(phone_lookup=lookup_hash("19900001001"))
    waiting = await User.get(phone_lookup=lookup_hash("19900001002"))
    assert await VerificationSubmission.filter(
        user_id=borrower.id, status=VerificationStatus.APPROVED
    ).count() == len(scoring.REQUIRED_FOR_BORROWING)
    assert await VerificationSubmission.filter(
        user_id=waiting.id, status=VerificationStatus.SUBMITTED
    ).count() == len(scoring.REQUIRED_FOR_BORROWING)
    standing = await scoring.standing(borrower.id)
    assert standing.profile.explanation["missing"] == []
    assert standing.limit_fen > 0, standing.reasons
