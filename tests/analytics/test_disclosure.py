"""The monthly disclosure (R7): the job builds last month's report in the first five
working days, as of the month's end, stores it once, signed, with its PDF; anyone reads
it through `disclosures` / `disclosure` and /disclosures/<YYYY-MM>.pdf.

The book is the figures tests' (tests/analytics/test_figures.py, business today
2026-12-03, a Thursday: the third working day of December) plus ten borrowers who each
borrowed 1,000.00 on 2026-11-16 from one more lender, L4 (so the top ten are not
everyone). As of 2026-11-30, by hand:

- disbursed: A 12,000 + B 6,000 + C 3,000 + 10 x 1,000 = 31,000.00 in 13 loans (D,
  disbursed 12-02, and E, never, are not counted);
- outstanding: B 4,000 + C 1,500 + 10,000 = 15,500.00 in 12 loans (A is settled);
  interest B 100.00 + C 12.50 + 10 x 20.00 = 312.50;
- overdue: B 37 days (10-24), 2,000 + 70 = 2,070.00; C 121 days (08-01), 1,500 + 12.50
  = 1,512.50, over 90 days; rates 2 / 12 and 3,500 / 15,500;
- top ten: (4,000 + 1,500 + 8 x 1,000) / 15,500; the largest 4,000 / 15,500;
- lenders L1 L2 L3 L4 (L3's loan A is settled: not current); borrowers B1, B2 and ten;
- compensation: the reserve's one advance of 512.50 (09-05).

Every stored item is also compared with a recomputation here, in plain Python over the
rows (not the analytics SQL).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from models.bids import Claim
from models.disclosures import ImmutableRecordError, MonthlyDisclosure
from models.loans import Loan
from models.repayments import LoanInstallment, Repayment, RepaymentStatus, ReserveAdvance
from models.system import ParameterChange, PlatformParameter
from services import jobs
from services.analytics import disclosure
from services.identity.permissions import Actor
from services.kit.storage import LocalStorage, set_storage
from services.platform import clock, parameters
from tests.analytics.test_figures import _book, _claim, _installments, _loan, _member
from tests.contracts.test_pdf_rendering import run, squeezed
from tests.factories import create_staff, error_codes, gql

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOVEMBER = date(2026, 11, 1)
MONTH_END = date(2026, 11, 30)
ROOT = Path(__file__).resolve().parents[2]
OPERATION = (ROOT / "persisted" / "disclosure" / "MonthlyDisclosure.graphql").read_text()

FIELDS = """month asOf cumulativeAmount cumulativeLoanCount outstandingPrincipal
  outstandingLoanCount outstandingInterest cumulativeLenders currentLenders
  cumulativeBorrowers currentBorrowers top10BorrowersShare largestBorrowerShare
  relatedPartyLoanCount relatedPartyOutstanding overdueAmount overdueLoanCount
  overdueOver90Amount overdueOver90LoanCount compensationAmount compensationCount
  overdueRateByProject overdueRateByAmount
  fees { code payer nameZh nameEn basisZh basisEn rate amount }
  reportJson sha256 pdfSha256 signature platformPublicKey pdfPath createdAt"""
LIST = f"query ($first: Int) {{ disclosures(first: $first) {{ {FIELDS} }} }}"
ONE = f"query ($month: Date) {{ disclosure(month: $month) {{ {FIELDS} }} }}"

# The report's keys and the query's fields, for comparing one with the other.
MONEY = {
    "cumulative_amount_fen": "cumulativeAmount",
    "outstanding_principal_fen": "outstandingPrincipal",
    "outstanding_interest_fen": "outstandingInterest",
    "related_party_outstanding_fen": "relatedPartyOutstanding",
    "overdue_amount_fen": "overdueAmount",
    "overdue_90_amount_fen": "overdueOver90Amount",
    "compensation_amount_fen": "compensationAmount",
}
PLAIN = {
    "cumulative_count": "cumulativeLoanCount",
    "outstanding_count": "outstandingLoanCount",
    "cumulative_lenders": "cumulativeLenders",
    "current_lenders": "currentLenders",
    "cumulative_borrowers": "cumulativeBorrowers",
    "current_borrowers": "currentBorrowers",
    "top10_borrowers_share": "top10BorrowersShare",
    "largest_borrower_share": "largestBorrowerShare",
    "related_party_count": "relatedPartyLoanCount",
    "overdue_count": "overdueLoanCount",
    "overdue_90_count": "overdueOver90LoanCount",
    "compensation_count": "compensationCount",
    "overdue_rate_by_count": "overdueRateByProject",
    "overdue_rate_by_amount": "overdueRateByAmount",
}


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


def _stored_files(store: LocalStorage) -> list[Path]:
    return sorted(path for path in store.root.rglob("*") if path.is_file())


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _november_book() -> None:
    """The figures book, ten more borrowers, and fee parameters changed in November
    (in force at the month's end) and again in December (not)."""
    await _book()
    lender = await _member(date(2026, 5, 1))  # L4
    for _ in range(10):
        borrower = await _member(date(2026, 10, 1))
        loan = await _loan(borrower, 100_000, "0.12", 3, date(2026, 11, 16))
        await _installments(
            loan,
            [date(2026, 12, 16), date(2027, 1, 16), date(2027, 2, 16)],
            33_333,
            [1_000, 667, 333],
            {},
        )
        await LoanInstallment.filter(loan_id=loan.id, number=3).update(principal_fen=33_334)
        await _claim(loan, lender, 100_000)
    # repayments.earlyFee: 0.0100 -> 0.0200 on 11-10 (in force on 11-30) ...
    await PlatformParameter.create(
        name="repayments.earlyFee", value={"share": "0.0200"}, updated_at=_at(date(2026, 11, 10))
    )
    await ParameterChange.create(
        name="repayments.earlyFee",
        old_value={"share": "0.0100"},
        new_value={"share": "0.0200"},
        reason="November change",
        created_at=_at(date(2026, 11, 10)),
    )
    parameters.reset_cache()
    # ... and, like loans.fees, changed again today: after the month's end.
    admin, _phone = await create_staff("admin")
    admin_actor = Actor(user_id=admin.id, kind="staff", roles=frozenset({"admin"}))
    await parameters.set_value(admin_actor, "repayments.earlyFee", {"share": "0.0300"}, "December")
    await parameters.set_value(
        admin_actor, "loans.fees", {"monthly_service_fee_rate": "0.0050"}, "December"
    )


def _rate(numerator: int, denominator: int) -> str:
    if denominator == 0:
        return "0.0000"
    exact = Decimal(numerator) / Decimal(denominator)
    return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


async def _recomputed(as_of: date) -> dict[str, Any]:
    """Every R7 item but the fees at the end of `as_of`, from the rows, in plain Python."""
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    loans = [loan for loan in await Loan.all() if loan.disbursed_at and loan.disbursed_at < end]
    paid_principal: dict[int, int] = defaultdict(int)
    paid_interest: dict[int, int] = defaultdict(int)
    for repayment in await Repayment.filter(status=RepaymentStatus.DONE):
        if repayment.done_at is not None and repayment.done_at < end:
            paid_principal[repayment.loan_id] += repayment.principal_fen
            paid_interest[repayment.loan_id] += repayment.interest_fen
    schedule: dict[int, list[LoanInstallment]] = defaultdict(list)
    for row in await LoanInstallment.all():
        schedule[row.loan_id].append(row)

    principal_left = {loan.id: loan.amount_fen - paid_principal[loan.id] for loan in loans}
    interest_left = {
        loan.id: sum(row.interest_fen for row in schedule[loan.id]) - paid_interest[loan.id]
        for loan in loans
    }
    outstanding = [
        loan for loan in loans if principal_left[loan.id] > 0 or interest_left[loan.id] > 0
    ]
    owed = sum(max(principal_left[loan.id], 0) for loan in loans)
    by_borrower: dict[int, int] = defaultdict(int)
    for loan in loans:
        if principal_left[loan.id] > 0:
            by_borrower[loan.borrower_id] += principal_left[loan.id]
    largest_first = sorted(by_borrower.values(), reverse=True)

    claims = [claim for claim in await Claim.all() if claim.created_at < end]
    open_ids = {loan.id for loan in outstanding}

    late = []  # (days overdue, overdue principal, overdue interest)
    for loan in outstanding:
        due = [row for row in schedule[loan.id] if row.due_date < as_of]
        unpaid = [row.due_date for row in due if row.paid_on is None or row.paid_on > as_of]
        if unpaid:
            late.append(
                (
                    (as_of - min(unpaid)).days,
                    max(sum(row.principal_fen for row in due) - paid_principal[loan.id], 0),
                    max(sum(row.interest_fen for row in due) - paid_interest[loan.id], 0),
                )
            )
    over_90 = [entry for entry in late if entry[0] > 90]
    advances = [row for row in await ReserveAdvance.all() if row.created_at < end]
    return {
        "version": 2,
        "month": f"{as_of:%Y-%m}",
        "as_of": as_of.isoformat(),
        "cumulative_amount_fen": sum(loan.amount_fen for loan in loans),
        "cumulative_count": len(loans),
        "outstanding_principal_fen": owed,
        "outstanding_count": len(outstanding),
        "outstanding_interest_fen": sum(max(interest_left[loan.id], 0) for loan in loans),
        "cumulative_lenders": len({claim.holder_id for claim in claims}),
        "current_lenders": len({c.holder_id for c in claims if c.loan_id in open_ids}),
        "cumulative_borrowers": len({loan.borrower_id for loan in loans}),
        "current_borrowers": len({loan.borrower_id for loan in outstanding}),
        "top10_borrowers_share": _rate(sum(largest_first[:10]), owed),
        "largest_borrower_share": _rate(largest_first[0] if largest_first else 0, owed),
        "related_party_count": 0,
        "related_party_outstanding_fen": 0,
        "overdue_amount_fen": sum(principal + interest for _d, principal, interest in late),
        "overdue_count": len(late),
        "overdue_90_amount_fen": sum(principal + interest for _d, principal, interest in over_90),
        "overdue_90_count": len(over_90),
        "compensation_amount_fen": sum(row.principal_fen + row.interest_fen for row in advances),
        "compensation_count": len(advances),
        "overdue_rate_by_count": _rate(len(late), len(outstanding)),
        "overdue_rate_by_amount": _rate(sum(p for _d, p, _i in late), owed),
    }


def _fee(code: str, payer: str, rate: str | None, amount: int | None) -> dict[str, Any]:
    return {"code": code, "payer": payer, "rate": rate, "amount_fen": amount}


# In force at the end of November: the service fee's default (changed only in December),
# the early-repayment fee of 11-10, the default penalty; withdrawal fees as configured.
EXPECTED_FEES_SHORT = [
    _fee("SERVICE_FEE", "BORROWER", "0.0030", None),
    _fee("EARLY_REPAYMENT_FEE", "BORROWER", "0.0200", None),
    _fee("PENALTY_INTEREST", "BORROWER", "0.0005", None),
    _fee("LENDER_FEE", "LENDER", "0.0000", None),
    _fee("TRANSFER_FEE", "LENDER", "0.0050", None),
    _fee("WITHDRAWAL_T1", "MEMBER", None, 0),
    _fee("WITHDRAWAL_T0", "MEMBER", None, 100),
    _fee("WITHDRAWAL_REALTIME", "MEMBER", None, 200),
]


def _short(fees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: fee[key] for key in ("code", "payer", "rate", "amount_fen")} for fee in fees]


async def _run_job() -> str:
    result = await jobs.registered()["publish_disclosure"].run()
    assert isinstance(result, str)
    return result


async def _published() -> MonthlyDisclosure:
    await _november_book()
    assert await clock.today() == date(2026, 12, 3)  # Thursday, third working day
    assert await _run_job() == "2026-11 published"
    return await MonthlyDisclosure.get(month=NOVEMBER)


async def test_the_job_stores_what_an_independent_recomputation_gives(storage):
    row = await _published()
    report = row.report

    assert (row.month, row.as_of) == (NOVEMBER, MONTH_END)
    assert {key: value for key, value in report.items() if key != "fees"} == await _recomputed(
        MONTH_END
    )
    assert _short(report["fees"]) == EXPECTED_FEES_SHORT
    assert [(fee["name_zh"], fee["name_en"]) for fee in report["fees"][:3]] == [
        ("借款服务费", "Service fee"),
        ("提前还款费", "Early-repayment fee"),
        ("逾期罚息", "Penalty interest"),
    ]
    # The hand-made figures of the module docstring, so the recomputation is anchored.
    assert (report["cumulative_amount_fen"], report["cumulative_count"]) == (3_100_000, 13)
    assert (report["outstanding_principal_fen"], report["outstanding_count"]) == (1_550_000, 12)
    assert report["outstanding_interest_fen"] == 31_250
    assert (report["overdue_amount_fen"], report["overdue_count"]) == (358_250, 2)
    assert (report["overdue_90_amount_fen"], report["overdue_90_count"]) == (151_250, 1)
    assert (report["overdue_rate_by_count"], report["overdue_rate_by_amount"]) == (
        "0.1667",
        "0.2258",
    )
    assert (report["top10_borrowers_share"], report["largest_borrower_share"]) == (
        "0.8710",
        "0.2581",
    )
    assert (report["cumulative_lenders"], report["current_lenders"]) == (4, 3)
    assert (report["cumulative_borrowers"], report["current_borrowers"]) == (12, 12)
    assert (report["compensation_amount_fen"], report["compensation_count"]) == (51_250, 1)

    # The hash is over the canonical JSON; the PDF is stored once, under its hash.
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.report_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    [stored] = _stored_files(storage)
    assert stored.name == row.pdf_storage_key
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == row.pdf_sha256
    assert row.pdf_size == stored.stat().st_size
    assert row.created_at.date() == date(2026, 12, 3)


async def test_a_second_run_and_a_racing_build_change_nothing(storage):
    first = await _published()
    files = _stored_files(storage)

    assert await _run_job() == "2026-11 already published"
    again, built = await disclosure.build(NOVEMBER)
    racing = await asyncio.gather(disclosure.build(NOVEMBER), disclosure.build(NOVEMBER))

    assert built is False
    assert [made for _row, made in racing] == [False, False]
    [only] = await MonthlyDisclosure.all()
    for row in (again, only, *(row for row, _made in racing)):
        assert (row.id, row.report, row.report_sha256, row.signature, row.pdf_storage_key) == (
            first.id,
            first.report,
            first.report_sha256,
            first.signature,
            first.pdf_storage_key,
        )
    assert _stored_files(storage) == files
    # A published row is never saved back.
    only.report_sha256 = "0" * 64
    with pytest.raises(ImmutableRecordError):
        await only.save()
    assert (await MonthlyDisclosure.get(id=first.id)).report_sha256 == first.report_sha256


async def test_two_first_builds_at_once_store_one_report_and_one_pdf(storage):
    await _november_book()
    results = await asyncio.gather(disclosure.build(NOVEMBER), disclosure.build(NOVEMBER))

    assert sorted(made for _row, made in results) == [False, True]
    [row] = await MonthlyDisclosure.all()
    assert {found.id for found, _made in results} == {row.id}
    assert [path.name for path in _stored_files(storage)] == [row.pdf_storage_key]


async def test_days_outside_the_first_five_working_days_build_nothing(storage):
    await _november_book()
    await clock.advance(days=2)  # Saturday 12-05: not a working day
    assert await _run_job() == "2026-12-05: not a disclosure day"
    await clock.advance(days=3)  # Tuesday 12-08: the sixth working day
    assert await _run_job() == "2026-12-08: not a disclosure day"

    assert await MonthlyDisclosure.all().count() == 0
    assert _stored_files(storage) == []


async def test_the_fifth_working_day_still_builds(storage):
    await _november_book()
    await clock.advance(days=4)  # Monday 12-07: the fifth working day
    assert await _run_job() == "2026-11 published"
    assert (await MonthlyDisclosure.get(month=NOVEMBER)).as_of == MONTH_END


async def test_a_month_before_the_platform_started_builds_nothing(storage):
    await _member(date(2026, 12, 1))  # the platform's first day is 12-01
    assert await _run_job() == "2026-11: the platform had not started"
    assert await MonthlyDisclosure.all().count() == 0


@pytest.mark.parametrize(
    ("day", "month"),
    [
        (date(2026, 11, 2), date(2026, 10, 1)),  # November 1 is a Sunday: Monday is #1
        (date(2026, 11, 6), date(2026, 10, 1)),  # Friday, #5
        (date(2026, 11, 9), None),  # Monday, #6
        (date(2026, 11, 1), None),  # Sunday
        (date(2027, 1, 1), date(2026, 12, 1)),  # a Friday, #1 (no holiday calendar)
        (date(2027, 1, 7), date(2026, 12, 1)),  # Thursday, #5
        (date(2027, 1, 8), None),  # Friday, #6
    ],
)
async def test_which_days_are_disclosure_days(day, month):
    assert disclosure.due_month(day) == month


async def test_the_pdf_is_public_checked_and_holds_the_key_figures(client, tmp_path):
    row = await _published()

    response = await client.get("/disclosures/2026-11.pdf")  # no token
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-sha256"] == row.pdf_sha256
    assert hashlib.sha256(response.content).hexdigest() == row.pdf_sha256
    path = tmp_path / "disclosure.pdf"
    path.write_bytes(response.content)
    text = (await run("pdftotext", "-enc", "UTF-8", path, "-")).decode("utf-8")
    flat = squeezed(text)
    # In layout mode each row of the items table is one line: label first, value last.
    layout = (await run("pdftotext", "-layout", "-enc", "UTF-8", path, "-")).decode("utf-8")
    rows = {words[0]: words for line in layout.splitlines() if (words := line.split())}

    assert "网络借贷信息披露月报 Monthly Disclosure" in text
    assert "2026年11月" in flat
    assert "LB-DISCLOSURE-2026-11" in text
    for label, value in [
        ("累计借贷金额", "31,000.00"),
        ("累计借贷笔数", "13"),
        ("借贷余额", "15,500.00"),
        ("借贷余额笔数", "12"),
        ("利息余额", "312.50"),
        ("累计出借人数量", "4"),
        ("当前出借人数量", "3"),
        ("累计借款人数量", "12"),
        ("当前借款人数量", "12"),
        ("前十大借款人待还金额占比", "87.10%"),
        ("最大单一借款人待还金额占比", "25.81%"),
        ("关联关系借款笔数", "0"),
        ("逾期金额", "3,582.50"),
        ("逾期笔数", "2"),
        ("逾期90天以上金额", "1,512.50"),
        ("逾期90天以上笔数", "1"),
        ("累计代偿金额", "512.50"),
        ("累计代偿笔数", "1"),
        ("项目逾期率", "16.67%"),
        ("金额逾期率", "22.58%"),
    ]:
        assert rows[label][-1] == value, (label, rows.get(label))
    for fee in ("借款服务费", "0.30%", "提前还款费", "2.00%", "逾期罚息", "0.05%", "¥1.00"):
        assert squeezed(fee) in flat, fee
    assert row.report_sha256 in flat

    for missing in ("2026-10", "2026-13", "0000-01", "nonsense"):
        assert (await client.get(f"/disclosures/{missing}.pdf")).status_code == 404


async def test_the_public_queries_answer_anonymously(client):
    row = await _published()

    listed = await gql(client, LIST, {"first": 5})
    one = await gql(client, ONE, {"month": "2026-11-01"})
    newest = await gql(client, ONE)
    persisted = await gql(client, OPERATION, {"month": "2026-11-01"})

    [answer] = listed["data"]["disclosures"]
    assert one["data"]["disclosure"] == answer
    assert newest["data"]["disclosure"] == answer
    assert persisted["data"]["disclosure"]["sha256"] == answer["sha256"]
    report = row.report
    assert (answer["month"], answer["asOf"]) == ("2026-11-01", "2026-11-30")
    for key, field in MONEY.items():
        assert answer[field] == f"{Decimal(report[key]).scaleb(-2):.2f}", field
    for key, field in PLAIN.items():
        assert answer[field] == report[key], field
    assert answer["cumulativeAmount"] == "31000.00"
    assert [(fee["code"], fee["payer"], fee["rate"], fee["amount"]) for fee in answer["fees"]] == [
        ("SERVICE_FEE", "BORROWER", "0.0030", None),
        ("EARLY_REPAYMENT_FEE", "BORROWER", "0.0200", None),
        ("PENALTY_INTEREST", "BORROWER", "0.0005", None),
        ("LENDER_FEE", "LENDER", "0.0000", None),
        ("TRANSFER_FEE", "LENDER", "0.0050", None),
        ("WITHDRAWAL_T1", "MEMBER", None, "0.00"),
        ("WITHDRAWAL_T0", "MEMBER", None, "1.00"),
        ("WITHDRAWAL_REALTIME", "MEMBER", None, "2.00"),
    ]
    assert answer["pdfPath"] == "/disclosures/2026-11.pdf"
    assert json.loads(answer["reportJson"]) == report

    assert (await gql(client, ONE, {"month": "2026-10-01"}))["data"]["disclosure"] is None
    for document, variables, field in [
        (ONE, {"month": "2026-11-02"}, "month"),
        (LIST, {"first": 0}, "first"),
        (LIST, {"first": 121}, "first"),
    ]:
        body = await gql(client, document, variables)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == field


def _verifies(public_key: str, payload: bytes, signature: str) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    try:
        key.verify(base64.b64decode(signature), payload)
    except InvalidSignature:
        return False
    return True


async def test_the_signature_verifies_and_tampering_is_detected(client, storage):
    row = await _published()
    answer = (await gql(client, ONE, {"month": "2026-11-01"}))["data"]["disclosure"]

    # A reader checks it with nothing but the answer and the PDF.
    assert hashlib.sha256(answer["reportJson"].encode()).hexdigest() == answer["sha256"]
    pdf = (await client.get(answer["pdfPath"])).content
    assert hashlib.sha256(pdf).hexdigest() == answer["pdfSha256"]
    payload = f"sha256:{answer['sha256']}:pdf:{answer['pdfSha256']}:disclosure:2026-11"
    assert _verifies(answer["platformPublicKey"], payload.encode(), answer["signature"])
    assert not _verifies(
        answer["platformPublicKey"],
        payload.replace("2026-11", "2026-10").encode(),
        answer["signature"],
    )
    assert disclosure.is_intact(row)

    # Someone with database access lowers the overdue amount (the row's hash kept).
    tampered = {**row.report, "overdue_amount_fen": 100}
    await MonthlyDisclosure.filter(id=row.id).update(report=tampered)
    assert not disclosure.is_intact(await MonthlyDisclosure.get(id=row.id))
    one = await gql(client, ONE, {"month": "2026-11-01"})
    listed = await gql(client, LIST)
    assert (error_codes(one), one["data"]) == (["INTEGRITY"], {"disclosure": None})
    assert (error_codes(listed), listed["data"]) == (["INTEGRITY"], None)
    refused = await client.get("/disclosures/2026-11.pdf")
    assert (refused.status_code, refused.json()["error"]) == (409, "integrity check failed")

    # The report put back; now the stored PDF is changed on disk.
    await MonthlyDisclosure.filter(id=row.id).update(report=row.report)
    assert (await client.get("/disclosures/2026-11.pdf")).status_code == 200
    [stored] = _stored_files(storage)
    stored.write_bytes(bytes([pdf[0] ^ 1]) + pdf[1:])  # one bit, the size unchanged
    assert (await client.get("/disclosures/2026-11.pdf")).status_code == 409
    # The figures themselves still check out (they are not the PDF).
    assert (await gql(client, ONE, {"month": "2026-11-01"}))["data"]["disclosure"] is not None
