"""What a lender is shown about a borrower (R8): income and debts, the credit report's
overdue items of the last 6 months, and loans on other platforms.

Income is the `monthlyIncome` of the borrower's newest approved bank statement (None
until one is approved). Debts and overdue items come from the newest credit-bureau
check, other platforms from the newest industry-sharing check (M2.7); nothing is fetched
here, so what is shown is what was last checked, with when (`checked_at`). The 6-month
window runs on the business clock like every window of services.credit.external: an
item dated exactly 6 months before today is outside it. The project's own terms are the
project's and are shown with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from models.credit import VerificationStatus, VerificationSubmission
from services.credit.external import Source, latest_report
from services.credit.report_shapes import CreditBureauReport, IndustrySharingReport, within_months
from services.money.money import parse_money
from services.platform import clock

#: Window of the credit-report overdue items a lender sees.
DISCLOSED_OVERDUE_MONTHS = 6


@dataclass(frozen=True)
class OverdueItem:
    date: date
    amount_fen: int
    days: int  # days overdue


@dataclass(frozen=True)
class OtherPlatformLoan:
    platform: str
    outstanding_fen: int
    overdue: bool


@dataclass(frozen=True)
class BorrowerDisclosure:
    monthly_income_fen: int | None  # newest approved bank statement; None if not verified
    outstanding_debt_fen: int | None  # credit bureau; None if never checked
    monthly_debt_payment_fen: int | None
    overdue_items_6m: list[OverdueItem]  # newest first
    other_platform_loans: list[OtherPlatformLoan]
    other_platforms_outstanding_fen: int  # 0 if never checked
    # When each source drawn on was last fetched ("credit_bureau", "industry_sharing").
    checked_at: dict[str, datetime | None]


async def verified_monthly_income(user_id: int) -> int | None:
    """`monthlyIncome` of the newest approved bank statement that has one, in fen."""
    statements = await VerificationSubmission.filter(
        user_id=user_id, kind="BANK_STATEMENT", status=VerificationStatus.APPROVED
    ).order_by("-id")
    for statement in statements:
        stored = statement.field_values.get("monthlyIncome")
        if stored and "value" in stored:
            return parse_money(stored["value"], field="monthlyIncome")
    return None


async def borrower_disclosure(user_id: int) -> BorrowerDisclosure:
    today = await clock.today()
    bureau = await latest_report(user_id, Source.CREDIT_BUREAU, CreditBureauReport)
    sharing = await latest_report(user_id, Source.INDUSTRY_SHARING, IndustrySharingReport)

    debt = payment = None
    overdue: list[OverdueItem] = []
    if bureau is not None:
        report = bureau[1]
        debt, payment = report.outstanding_debt_fen, report.monthly_debt_payment_fen
        overdue = sorted(
            (
                OverdueItem(date=item.date, amount_fen=item.amount_fen, days=item.days)
                for item in report.overdue_items
                if within_months(item.date, today, DISCLOSED_OVERDUE_MONTHS)
            ),
            key=lambda item: item.date,
            reverse=True,
        )

    loans: list[OtherPlatformLoan] = []
    other_total = 0
    if sharing is not None:
        loans = [
            OtherPlatformLoan(
                platform=loan.platform, outstanding_fen=loan.outstanding_fen, overdue=loan.overdue
            )
            for loan in sharing[1].platforms
        ]
        other_total = sharing[1].total_outstanding_fen

    return BorrowerDisclosure(
        monthly_income_fen=await verified_monthly_income(user_id),
        outstanding_debt_fen=debt,
        monthly_debt_payment_fen=payment,
        overdue_items_6m=overdue,
        other_platform_loans=loans,
        other_platforms_outstanding_fen=other_total,
        checked_at={
            Source.CREDIT_BUREAU.value: bureau[0].fetched_at if bureau else None,
            Source.INDUSTRY_SHARING.value: sharing[0].fetched_at if sharing else None,
        },
    )
