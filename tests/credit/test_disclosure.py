"""R8: what a lender sees about a borrower: verified income, debts and the credit
report's overdue items of the last 6 months (business clock), loans on other platforms;
always from the newest check, with when it was fetched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from models.credit import VerificationSubmission
from services.credit import external
from services.credit.disclosure import (
    BorrowerDisclosure,
    OtherPlatformLoan,
    OverdueItem,
    borrower_disclosure,
)
from services.credit.external import LocalExternalSources, Source
from services.credit.report_shapes import months_before
from services.errors import InvalidInputError
from services.platform import clock
from tests.credit.verification_helpers import bank_statement, id_card
from tests.factories import create_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def default_adapter() -> Iterator[None]:
    external.set_adapter(None)
    yield
    external.set_adapter(None)


def _bureau(*items: tuple[date, int, int], debt: int, payment: int) -> dict[str, Any]:
    return {
        "overdue_items": [
            {"date": day.isoformat(), "amount_fen": amount, "days": days, "lender": "Bank A"}
            for day, amount, days in items
        ],
        "outstanding_debt_fen": debt,
        "monthly_debt_payment_fen": payment,
    }


async def _borrower_with(**reports: dict[str, Any]) -> int:
    """A member with an approved ID card and these sources fetched (scripted)."""
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id)
    external.set_adapter(LocalExternalSources(overrides={id_number: reports}))
    for source in reports:
        await external.fetch(user.id, Source(source))
    return user.id


async def test_nothing_verified_or_checked_discloses_nothing():
    user, _phone = await create_member()
    assert await borrower_disclosure(user.id) == BorrowerDisclosure(
        monthly_income_fen=None,
        outstanding_debt_fen=None,
        monthly_debt_payment_fen=None,
        overdue_items_6m=[],
        other_platform_loans=[],
        other_platforms_outstanding_fen=0,
        checked_at={"credit_bureau": None, "industry_sharing": None},
    )


async def test_income_comes_from_the_newest_approved_bank_statement_only():
    user, _phone = await create_member()
    await bank_statement(user.id, "9000", approved=False)
    assert (await borrower_disclosure(user.id)).monthly_income_fen is None

    await bank_statement(user.id, "12000.50")
    assert (await borrower_disclosure(user.id)).monthly_income_fen == 1_200_050

    # A newer statement not yet approved changes nothing...
    await bank_statement(user.id, "30000.00", approved=False)
    assert (await borrower_disclosure(user.id)).monthly_income_fen == 1_200_050
    # ... a newer approved one replaces it.
    await bank_statement(user.id, "15000")
    assert (await borrower_disclosure(user.id)).monthly_income_fen == 1_500_000

    other, _phone = await create_member()
    assert (await borrower_disclosure(other.id)).monthly_income_fen is None


async def test_monthly_income_is_a_required_money_amount_stored_canonically():
    user, _phone = await create_member()
    submission = await bank_statement(user.id, " 12000 ", approved=False)
    assert submission.field_values["monthlyIncome"] == {"value": "12000.00"}

    for bad in ("", "12,000", "12000.001", "-5", "1e4", "twelve"):
        with pytest.raises(InvalidInputError) as raised:
            await bank_statement(user.id, bad, approved=False)
        assert raised.value.field == "monthlyIncome", bad
    assert await VerificationSubmission.filter(user_id=user.id).count() == 1


async def test_debts_and_overdue_items_of_the_last_6_months():
    today = await clock.today()
    cutoff = months_before(today, 6)
    user_id = await _borrower_with(
        credit_bureau=_bureau(
            (cutoff, 30_000, 60),  # exactly 6 months old: out
            (cutoff + timedelta(days=1), 20_000, 35),  # the window's first day: in
            (today, 10_000, 5),  # today: in
            (months_before(today, 12), 50_000, 90),  # older: out
            debt=8_000_000,
            payment=250_000,
        )
    )

    disclosure = await borrower_disclosure(user_id)

    assert disclosure.outstanding_debt_fen == 8_000_000
    assert disclosure.monthly_debt_payment_fen == 250_000
    assert disclosure.overdue_items_6m == [  # newest first
        OverdueItem(date=today, amount_fen=10_000, days=5),
        OverdueItem(date=cutoff + timedelta(days=1), amount_fen=20_000, days=35),
    ]
    bureau = await external.latest(user_id, Source.CREDIT_BUREAU)
    assert bureau is not None
    assert disclosure.checked_at == {"credit_bureau": bureau.fetched_at, "industry_sharing": None}
    assert disclosure.other_platform_loans == []
    assert disclosure.other_platforms_outstanding_fen == 0

    # The window moves with the business clock, not with the fetch.
    await clock.advance(days=1)
    later = await borrower_disclosure(user_id)
    assert [item.amount_fen for item in later.overdue_items_6m] == [10_000]


async def test_loans_on_other_platforms():
    sharing = {
        "platforms": [
            {"platform": "Yingtong P2P", "outstanding_fen": 3_000_000, "overdue": True},
            {"platform": "Anyi Loans", "outstanding_fen": 1_500_000, "overdue": False},
        ],
        "total_outstanding_fen": 4_500_000,
    }
    user_id = await _borrower_with(industry_sharing=sharing)

    disclosure = await borrower_disclosure(user_id)

    assert disclosure.other_platform_loans == [
        OtherPlatformLoan(platform="Yingtong P2P", outstanding_fen=3_000_000, overdue=True),
        OtherPlatformLoan(platform="Anyi Loans", outstanding_fen=1_500_000, overdue=False),
    ]
    assert disclosure.other_platforms_outstanding_fen == 4_500_000
    assert disclosure.outstanding_debt_fen is None  # no bureau check yet
    assert disclosure.monthly_debt_payment_fen is None
    checked = await external.latest(user_id, Source.INDUSTRY_SHARING)
    assert checked is not None
    assert disclosure.checked_at == {"credit_bureau": None, "industry_sharing": checked.fetched_at}


async def test_the_newest_check_wins():
    today = await clock.today()
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id)
    old = _bureau((today, 10_000, 5), debt=1_000_000, payment=50_000)
    external.set_adapter(LocalExternalSources(overrides={id_number: {"credit_bureau": old}}))
    await external.fetch(user.id, Source.CREDIT_BUREAU)
    new = _bureau(debt=2_000_000, payment=90_000)
    external.set_adapter(LocalExternalSources(overrides={id_number: {"credit_bureau": new}}))
    await external.fetch(user.id, Source.CREDIT_BUREAU)

    disclosure = await borrower_disclosure(user.id)

    assert disclosure.outstanding_debt_fen == 2_000_000
    assert disclosure.monthly_debt_payment_fen == 90_000
    assert disclosure.overdue_items_6m == []
