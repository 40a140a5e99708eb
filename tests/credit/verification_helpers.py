"""Approved verification submissions for service tests, made through the real submit path.

Review is not built yet: the status is set to APPROVED directly on the row.
"""

from __future__ import annotations

from models.credit import VerificationStatus, VerificationSubmission
from services.credit import materials
from services.identity.permissions import Actor
from tests.factories import new_id_number

PNG = b"\x89PNG\r\n\x1a\n"
FRONT = PNG + b"front of the ID card" * 50
BACK = PNG + b"back of the ID card" * 60
STATEMENT = b"%PDF-1.4 bank statement " * 40


async def id_card(
    user_id: int,
    *,
    name: str = "Zhou Xiaoming",
    id_number: str | None = None,
    approved: bool = True,
) -> tuple[VerificationSubmission, str]:
    """An ID card submission (approved unless told otherwise) and its ID number."""
    id_number = id_number or new_id_number()
    submission = await materials.submit(
        Actor(user_id=user_id, kind="member"),
        "ID_CARD",
        {"realName": name, "idNumber": id_number},
        [("front.png", "image/png", FRONT), ("back.png", "image/png", BACK)],
    )
    if approved:
        await approve(submission)
    return submission, id_number


async def bank_statement(
    user_id: int, monthly_income: str, *, approved: bool = True
) -> VerificationSubmission:
    submission = await materials.submit(
        Actor(user_id=user_id, kind="member"),
        "BANK_STATEMENT",
        {"bankName": "ICBC", "accountNumber": "6222020200112233", "monthlyIncome": monthly_income},
        [("statement.pdf", "application/pdf", STATEMENT)],
    )
    if approved:
        await approve(submission)
    return submission


async def approve(submission: VerificationSubmission) -> None:
    await VerificationSubmission.filter(id=submission.id).update(status=VerificationStatus.APPROVED)
    submission.status = VerificationStatus.APPROVED
