"""The monthly disclosure as a PDF: the report's items in a table, in Chinese and English.

Made by the contract PDF machinery (`services.contracts.pdf`): Noto Sans SC embedded as a
subset with its ToUnicode map, PDF/A-2b metadata, invariant mode. So the same report
always gives the same bytes, and the text reads (and copies) the same in every viewer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.contracts import pdf
from services.contracts.templates import Element

TITLE = "网络借贷信息披露月报 Monthly Disclosure"

# (key in the report, Chinese label, English label, kind: money, count or rate)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("cumulative_amount_fen", "累计借贷金额", "Cumulative amount lent", "money"),
    ("cumulative_count", "累计借贷笔数", "Cumulative number of loans", "count"),
    ("outstanding_principal_fen", "借贷余额", "Outstanding balance", "money"),
    ("outstanding_count", "借贷余额笔数", "Outstanding loans", "count"),
    ("outstanding_interest_fen", "利息余额", "Outstanding interest", "money"),
    ("cumulative_lenders", "累计出借人数量", "Cumulative lenders", "count"),
    ("current_lenders", "当前出借人数量", "Current lenders", "count"),
    ("cumulative_borrowers", "累计借款人数量", "Cumulative borrowers", "count"),
    ("current_borrowers", "当前借款人数量", "Current borrowers", "count"),
    (
        "top10_borrowers_share",
        "前十大借款人待还金额占比",
        "Top-10 borrowers' share of the outstanding",
        "rate",
    ),
    (
        "largest_borrower_share",
        "最大单一借款人待还金额占比",
        "Largest borrower's share of the outstanding",
        "rate",
    ),
    ("related_party_count", "关联关系借款笔数", "Related-party loans", "count"),
    ("related_party_outstanding_fen", "关联关系借款余额", "Related-party balance", "money"),
    ("overdue_amount_fen", "逾期金额", "Overdue amount", "money"),
    ("overdue_count", "逾期笔数", "Overdue loans", "count"),
    ("overdue_90_amount_fen", "逾期90天以上金额", "Overdue over 90 days: amount", "money"),
    ("overdue_90_count", "逾期90天以上笔数", "Overdue over 90 days: loans", "count"),
    ("compensation_amount_fen", "累计代偿金额", "Cumulative compensation", "money"),
    ("compensation_count", "累计代偿笔数", "Compensations paid", "count"),
    ("overdue_rate_by_count", "项目逾期率", "Overdue rate by project", "rate"),
    ("overdue_rate_by_amount", "金额逾期率", "Overdue rate by amount", "rate"),
)

PAYERS = {
    "BORROWER": "借款人 Borrowers",
    "LENDER": "出借人 Lenders",
    "MEMBER": "全体会员 Every member",
}


def yuan(fen: int) -> str:
    """12345678 -> "123,456.78" (yuan, thousands grouped)."""
    return f"{Decimal(fen).scaleb(-2):,.2f}"


def percent(rate: str) -> str:
    """ "0.4430" -> "44.30%"; a finer rate keeps its places ("0.00045" -> "0.045%")."""
    value = Decimal(rate).scaleb(2)
    places = max(2, -int(value.normalize().as_tuple().exponent))
    return f"{value:.{places}f}%"


def shown(value: Any, kind: str) -> str:
    if kind == "money":
        return yuan(int(value))
    if kind == "rate":
        return percent(str(value))
    return str(int(value))


def number(month_label: str) -> str:
    """The document number in every page's footer: LB-DISCLOSURE-2026-11."""
    return f"LB-DISCLOSURE-{month_label}"


def _fee_charge(fee: dict[str, Any]) -> str:
    if fee["amount_fen"] is not None:
        return f"¥{yuan(int(fee['amount_fen']))}"
    return percent(str(fee["rate"]))


def elements(report: dict[str, Any], sha256: str) -> list[Element]:
    """The document's pieces: title, the month, the items, the fees, the report's hash."""
    year, month = report["month"].split("-")
    rows = [("项目", "Item", "数值 Value")]
    rows += [(zh, en, shown(report[key], kind)) for key, zh, en, kind in ROWS]
    fees = [("费用 Fee", "收取对象 Charged to", "标准 Charge", "说明 Basis")]
    fees += [
        (
            f"{fee['name_zh']} {fee['name_en']}",
            PAYERS[fee["payer"]],
            _fee_charge(fee),
            f"{fee['basis_zh']} {fee['basis_en']}",
        )
        for fee in report["fees"]
    ]
    return [
        Element(kind="heading", text=TITLE),
        Element(
            kind="text",
            text=f"{year}年{int(month)}月 信息披露，数据截至 {report['as_of']} 日终。"  # noqa: RUF001
            f" Disclosure for {report['month']}, figures at the end of {report['as_of']}."
            " 金额单位：人民币元 Amounts in CNY yuan.",  # noqa: RUF001
        ),
        Element(kind="table", rows=tuple(rows)),
        Element(kind="heading", text="收费标准 Fee schedule"),
        Element(kind="table", rows=tuple(fees)),
        Element(
            kind="text",
            text=f"报告 SHA-256 Report SHA-256: {sha256}。平台以 Ed25519 签名本报告与本文件的"
            " SHA-256，签名见 disclosure 查询。 The platform signs this report's and this"  # noqa: RUF001
            " file's SHA-256 with Ed25519: see the disclosure query.",
        ),
    ]


async def render(report: dict[str, Any], sha256: str) -> bytes:
    """The PDF bytes of the report, the same for the same report."""
    await pdf.prepare()  # the font, made once per machine
    return await pdf.render_async(TITLE, number(report["month"]), elements(report, sha256))
