"""The monthly disclosure, for anyone: bad arguments become BAD_USER_INPUT, a stored
report that fails its checks INTEGRITY (queries have no result union)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from strawberry.exceptions import StrawberryGraphQLError

from schema.errors import BadUserInputError
from schema.scalars import Money, Rate
from schema.types.platform import disclosures as t
from services.analytics import disclosure
from services.errors import InvalidInputError
from services.kit import signing

if TYPE_CHECKING:
    from models.disclosures import MonthlyDisclosure

DEFAULT_LISTED = 12


def _integrity(error: disclosure.DisclosureIntegrityError) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(error.message, extensions={"code": error.code})


def _fee(fee: dict[str, Any]) -> t.DisclosedFee:
    amount = fee["amount_fen"]
    return t.DisclosedFee(
        code=fee["code"],
        payer=t.FeePayer(fee["payer"]),
        name_zh=fee["name_zh"],
        name_en=fee["name_en"],
        basis_zh=fee["basis_zh"],
        basis_en=fee["basis_en"],
        rate=fee["rate"],
        amount=None if amount is None else Money(int(amount)),
    )


def _disclosure(row: MonthlyDisclosure) -> t.MonthlyDisclosure:
    report = row.report
    return t.MonthlyDisclosure(
        month=row.month,
        as_of=row.as_of,
        cumulative_amount=Money(report["cumulative_amount_fen"]),
        cumulative_loan_count=report["cumulative_count"],
        outstanding_principal=Money(report["outstanding_principal_fen"]),
        outstanding_loan_count=report["outstanding_count"],
        outstanding_interest=Money(report["outstanding_interest_fen"]),
        cumulative_lenders=report["cumulative_lenders"],
        current_lenders=report["current_lenders"],
        cumulative_borrowers=report["cumulative_borrowers"],
        current_borrowers=report["current_borrowers"],
        top10_borrowers_share=Rate(Decimal(report["top10_borrowers_share"])),
        largest_borrower_share=Rate(Decimal(report["largest_borrower_share"])),
        related_party_loan_count=report["related_party_count"],
        related_party_outstanding=Money(report["related_party_outstanding_fen"]),
        overdue_amount=Money(report["overdue_amount_fen"]),
        overdue_loan_count=report["overdue_count"],
        overdue_over90_amount=Money(report["overdue_90_amount_fen"]),
        overdue_over90_loan_count=report["overdue_90_count"],
        compensation_amount=Money(report["compensation_amount_fen"]),
        compensation_count=report["compensation_count"],
        overdue_rate_by_project=Rate(Decimal(report["overdue_rate_by_count"])),
        overdue_rate_by_amount=Rate(Decimal(report["overdue_rate_by_amount"])),
        fees=[_fee(fee) for fee in report["fees"]],
        report_json=disclosure.report_json(row),
        sha256=row.report_sha256,
        pdf_sha256=row.pdf_sha256,
        signature=row.signature,
        platform_public_key=signing.public_key_b64(),
        pdf_path=disclosure.pdf_path(row.month),
        created_at=row.created_at,
    )


async def disclosures(first: int | None = DEFAULT_LISTED) -> list[t.MonthlyDisclosure]:
    try:
        rows = await disclosure.list_disclosures(first=DEFAULT_LISTED if first is None else first)
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    except disclosure.DisclosureIntegrityError as error:
        raise _integrity(error) from error
    return [_disclosure(row) for row in rows]


async def disclosure_of(month: date | None = None) -> t.MonthlyDisclosure | None:
    try:
        row = await disclosure.get_disclosure(month=month)
    except InvalidInputError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    except disclosure.DisclosureIntegrityError as error:
        raise _integrity(error) from error
    return None if row is None else _disclosure(row)
