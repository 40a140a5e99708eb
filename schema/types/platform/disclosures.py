"""The monthly disclosure (R7): the report's items, its hash and signature, its PDF."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from schema.scalars import Money, Rate


@strawberry.enum(description="Who a fee is charged to.")
class FeePayer(Enum):
    BORROWER = "BORROWER"
    LENDER = "LENDER"
    MEMBER = "MEMBER"


@strawberry.type(description="One line of the fee schedule in force at the month's end.")
class DisclosedFee:
    code: str = strawberry.field(
        description="SERVICE_FEE, EARLY_REPAYMENT_FEE, PENALTY_INTEREST, LENDER_FEE, "
        "TRANSFER_FEE (from report version 2), WITHDRAWAL_T1, WITHDRAWAL_T0 or "
        "WITHDRAWAL_REALTIME."
    )
    payer: FeePayer = strawberry.field(description="Who pays it (MEMBER: any member).")
    name_zh: str = strawberry.field(description="The fee's name in Chinese.")
    name_en: str = strawberry.field(description="The fee's name in English.")
    basis_zh: str = strawberry.field(description="How it is charged, in Chinese.")
    basis_en: str = strawberry.field(description="How it is charged, in English.")
    rate: str | None = strawberry.field(
        description='A rate, as a decimal string with at least four places ("0.0030", a '
        "month for SERVICE_FEE, a day for PENALTY_INTEREST, once for "
        "EARLY_REPAYMENT_FEE); null for a fixed amount."
    )
    amount: Money | None = strawberry.field(
        description="A fixed amount (the withdrawal fees); null for a rate."
    )


@strawberry.type(
    description="The platform's monthly disclosure (R7) as published: every item as of the "
    "end of the month's last day, stored once and never changed, signed by the platform."
)
class MonthlyDisclosure:
    month: date = strawberry.field(description="The month reported, by its first day.")
    as_of: date = strawberry.field(description="Its last day: the figures are at its end.")
    cumulative_amount: Money = strawberry.field(
        description="累计借贷金额: principal of every loan disbursed by then."
    )
    cumulative_loan_count: int = strawberry.field(description="累计借贷笔数: loans disbursed.")
    outstanding_principal: Money = strawberry.field(
        description="借贷余额: disbursed principal not yet repaid."
    )
    outstanding_loan_count: int = strawberry.field(
        description="借贷余额笔数: loans with principal or interest left."
    )
    outstanding_interest: Money = strawberry.field(
        description="利息余额: scheduled interest not yet paid (penalty and fees not included)."
    )
    cumulative_lenders: int = strawberry.field(
        description="累计出借人数量: distinct members who ever held a claim."
    )
    current_lenders: int = strawberry.field(
        description="当前出借人数量: distinct holders of claims on outstanding loans."
    )
    cumulative_borrowers: int = strawberry.field(
        description="累计借款人数量: distinct members ever paid out a loan."
    )
    current_borrowers: int = strawberry.field(
        description="当前借款人数量: distinct borrowers of outstanding loans."
    )
    top10_borrowers_share: Rate = strawberry.field(
        description="前十大借款人待还金额占比: outstanding principal of the ten borrowers who "
        "owe most over all outstanding principal (four places, half-up)."
    )
    largest_borrower_share: Rate = strawberry.field(
        description="最大单一借款人待还金额占比: the same for the one who owes most."
    )
    related_party_loan_count: int = strawberry.field(
        description="关联关系借款笔数: always 0, the platform records no related party."
    )
    related_party_outstanding: Money = strawberry.field(
        description="关联关系借款余额: always 0.00 (see above)."
    )
    overdue_amount: Money = strawberry.field(
        description="逾期金额: past-due principal and interest not paid."
    )
    overdue_loan_count: int = strawberry.field(description="逾期笔数: loans overdue.")
    overdue_over90_amount: Money = strawberry.field(
        description="逾期90天以上金额: the overdue amount of loans more than 90 days overdue."
    )
    overdue_over90_loan_count: int = strawberry.field(
        description="逾期90天以上笔数: loans more than 90 days overdue."
    )
    compensation_amount: Money = strawberry.field(
        description="累计代偿金额: principal and interest the risk reserve advanced to lenders."
    )
    compensation_count: int = strawberry.field(description="累计代偿笔数: advances paid.")
    overdue_rate_by_project: Rate = strawberry.field(
        description="项目逾期率: overdue loans / outstanding loans (four places, half-up)."
    )
    overdue_rate_by_amount: Rate = strawberry.field(
        description="金额逾期率: overdue principal / outstanding principal (four places)."
    )
    fees: list[DisclosedFee] = strawberry.field(
        description="收费标准: the fee schedule in force at the month's end."
    )
    report_json: str = strawberry.field(
        description="The report as stored, in its canonical JSON (keys sorted, no spaces, "
        "UTF-8; amounts in fen): what sha256 is taken over."
    )
    sha256: str = strawberry.field(description="SHA-256 (hex) of reportJson's UTF-8 bytes.")
    pdf_sha256: str = strawberry.field(description="SHA-256 (hex) of the PDF's bytes.")
    signature: str = strawberry.field(
        description="The platform's Ed25519 signature (base64) over \"sha256:<sha256>:pdf:"
        '<pdfSha256>:disclosure:<YYYY-MM>".'
    )
    platform_public_key: str = strawberry.field(
        description="The platform's Ed25519 public key, base64 (to check it yourself)."
    )
    pdf_path: str = strawberry.field(
        description="Path of the PDF on this server (/disclosures/YYYY-MM.pdf), for anyone; "
        "served only while it matches pdfSha256."
    )
    created_at: datetime = strawberry.field(description="Published at (business time, UTC).")
