"""The staff's CSV exports (M12.4, issue 19) through signed download links, over HTTP: the
platform figures, the risk figures, every lender's returns, the overdue list and the
fund transactions, each with a byte-order mark, a Chinese and English header and the
same figures as the GraphQL fields for the same day, to the fen; streamed a page at a
time (the page size made 2 here); refused to members and to staff without the field's
permission, at the link and again at the download; expiring as every link does.

The book is test_figures.py's (business today 2026-12-03). The links' clock is injected
(services.downloads.set_clock): nothing here reads the wall clock.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from strawberry import relay

from models.access import UserRole
from models.bids import Claim
from models.members import User
from services import downloads, downloads_csv
from services.analytics import exports
from services.identity import permissions
from services.kit import links
from services.money import ledger
from services.repayments import collection
from tests.analytics.test_figures import (
    _book,
    _installments,
    _loan,
    _member,
    _month,
    _platform,
    _risk,
)
from tests.factories import create_member, create_staff, gql, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """mutation ($input: CreateDownloadLinkInput!) { createDownloadLink(input: $input) {
  __typename
  ... on DownloadLinkCreated { url path expiresAt }
  ... on CreateDownloadLinkError { code field message } } }"""
RETURNS = """query ($lender: ID, $asOf: Date) { lenderReturns(lenderId: $lender, asOf: $asOf) {
  invested received outstandingPrincipal realisedXirr expectedXirr } }"""
PLATFORM_RETURNS = """query ($asOf: Date) { platformReturns(asOf: $asOf) {
  invested received outstandingPrincipal realisedXirr expectedXirr } }"""
OVERDUE = """{ overdueLoans(first: 50) { totalCount edges { node { loanId status amount
  daysOverdue bucket overdueAmount penalty overdueInstallments } } } }"""
FUND = """query ($filter: FundTransactionFilter) { fundTransactions(filter: $filter, first: 50) {
  edges { node { id kind memo businessDate postings { accountCode amount balanceAfter } } } } }"""
START = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"
STAFF_KINDS = [
    "PLATFORM_FIGURES_CSV",
    "RISK_FIGURES_CSV",
    "PLATFORM_RETURNS_CSV",
    "OVERDUE_LOANS_CSV",
    "FUND_TRANSACTIONS_CSV",
]


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    previous = downloads.set_clock(fake)
    yield fake
    downloads.set_clock(previous)


async def _staff(role: str = "auditor") -> tuple[User, str]:
    user, phone = await create_staff(role)
    return user, await token_for(phone)


async def _link(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    body = await gql(client, CREATE, {"input": variables}, token=token)
    assert "errors" not in body, body
    return dict(body["data"]["createDownloadLink"])


async def _path(client: httpx.AsyncClient, token: str, **variables: Any) -> str:
    link = await _link(client, token, **variables)
    assert link["__typename"] == "DownloadLinkCreated", link
    return str(link["path"])


@dataclass
class Csv:
    header: list[str]
    rows: list[list[str]]
    response: httpx.Response


def _parse(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))


async def _download(client: httpx.AsyncClient, path: str) -> Csv:
    """GET the link with no token; the body parsed."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    table = _parse(response.content)
    return Csv(table[0], table[1:], response)


async def _body_messages(app: Any, path: str) -> list[dict[str, Any]]:
    """GET the link straight through the ASGI app: the `http.response.body` messages as
    the app sends them (httpx's test transport joins them into one body)."""
    parts = urlsplit(path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    asked = []

    async def receive() -> dict[str, Any]:
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never leaves; cancelled at the end
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    return [message for message in sent if message["type"] == "http.response.body"]


def _chunks(messages: list[dict[str, Any]]) -> list[bytes]:
    """The non-empty body chunks (Starlette ends a stream with an empty message)."""
    return [message["body"] for message in messages if message["body"]]


def _global(user_id: int) -> str:
    return str(relay.GlobalID("User", str(user_id)))


async def test_platform_figures_csv_matches_the_graphql_figures_for_its_day(client):
    await _book()
    _user, token = await _staff()
    path = await _path(
        client, token, kind="PLATFORM_FIGURES_CSV", asOf="2026-08-31", since="2026-07-01"
    )
    assert "asOf=2026-08-31" in path
    assert "since=2026-07-01" in path

    found = await _download(client, path)

    assert found.header == ["指标 figure", "名称 label", "数值 value", "单位 unit"]
    assert found.response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''platform-figures-2026-08-31.csv"
    )
    values = {row[0]: row[2] for row in found.rows}
    units = {row[0]: row[3] for row in found.rows}
    shown = await _platform(client, token, asOf="2026-08-31", since="2026-07-01")
    assert values == {name: str(value) for name, value in shown.items()}
    assert values["cumulativeVolume"] == "21000.00"  # A + B + C, as test_figures has it
    assert units["cumulativeVolume"] == "yuan"
    assert units["averageAnnualRate"] == "rate"
    assert {row[0]: row[1] for row in found.rows}["cumulativeVolume"] == "累计成交额"

    # No asOf: business today, fixed in the link; since the first of its month.
    default = await _download(client, await _path(client, token, kind="PLATFORM_FIGURES_CSV"))
    today = {row[0]: row[2] for row in default.rows}
    assert today == {name: str(value) for name, value in (await _platform(client, token)).items()}
    assert today["asOf"] == "2026-12-03"
    assert today["outstandingPrincipal"] == "7900.00"


async def test_risk_figures_csv_has_buckets_totals_and_vintage_curves(client):
    await _book()
    _user, token = await _staff()
    found = await _download(
        client, await _path(client, token, kind="RISK_FIGURES_CSV", asOf="2026-12-03")
    )
    shown = await _risk(client, token, asOf="2026-12-03")

    assert found.header[:3] == ["类别 section", "项目 item", "账龄月 month_on_book"]
    assert found.rows[0] == ["asOf", "2026-12-03", "", "", "", "", ""]
    buckets = [row for row in found.rows if row[0] == "bucket"]
    assert buckets == [
        ["bucket", b["bucket"], "", str(b["loanCount"]), b["amount"], b["principal"], ""]
        for b in shown["buckets"]
    ]
    totals = {row[1]: row[3:] for row in found.rows if row[0] == "total"}
    assert totals["overdue"] == [
        str(shown["overdueLoanCount"]),
        shown["overdueAmount"],
        shown["overduePrincipal"],
        "",
    ]
    assert totals["badDebt"] == ["", "", shown["badDebtPrincipal"], shown["badDebtRate"]]
    assert totals["overdueRateByAmount"][-1] == shown["overdueRateByAmount"]
    assert totals["reserveAdvanced"][:2] == [
        str(shown["reserveAdvanceCount"]),
        shown["reserveAdvanced"],
    ]
    assert totals["reserveAdvanced"][1] == "512.50"  # C's advance of 09-05
    vintages = [row for row in found.rows if row[0] == "vintage"]
    assert vintages == [
        ["vintage", curve["cohort"], str(month), str(curve["loanCount"]), "", curve["principal"], p]
        for curve in shown["vintages"]
        for month, p in enumerate(curve["points"], 1)
    ]
    assert vintages  # the book's cohorts from 2026-06 have months on book


async def test_returns_csv_pages_through_the_lenders(client, monkeypatch):
    await _book()
    _user, token = await _staff()
    monkeypatch.setattr(exports, "PAGE_SIZE", 2)
    pages: list[list[int]] = []
    lender_page = exports.lender_page

    async def counted(as_of: date, after: int, size: int) -> list[int]:
        found = await lender_page(as_of, after, size)
        pages.append(found)
        return found

    monkeypatch.setattr(exports, "lender_page", counted)

    found = await _download(
        client, await _path(client, token, kind="PLATFORM_RETURNS_CSV", asOf="2026-11-30")
    )

    lenders = sorted(set(await Claim.all().values_list("holder_id", flat=True)))
    assert len(lenders) == 3  # L1, L2, L3
    assert pages == [lenders[:2], lenders[2:]]  # two lenders a query
    assert found.header[0] == "出借人 lender_id"
    assert found.header[1] == "投资本金 invested"
    expected = []
    for lender in lenders:
        body = await gql(
            client, RETURNS, {"lender": _global(lender), "asOf": "2026-11-30"}, token=token
        )
        expected.append([str(lender), *[v or "" for v in body["data"]["lenderReturns"].values()]])
    pooled = await gql(client, PLATFORM_RETURNS, {"asOf": "2026-11-30"}, token=token)
    expected.append(["platform", *[v or "" for v in pooled["data"]["platformReturns"].values()]])
    assert found.rows == expected
    assert found.rows[-1][1] == "21000.00"  # A, B, C lent by then (D on 12-02)


async def _more_overdue_loans() -> None:
    """Three more loans with an installment overdue on 2026-12-03 (B and C are two)."""
    for amount in (100_000, 200_000, 300_000):
        borrower = await _member(date(2026, 5, 1))
        loan = await _loan(borrower, amount, "0.12", 1, date(2026, 10, 1))
        await _installments(loan, [_month(1, 11)], amount, [amount // 100], {})


async def test_overdue_list_csv_streams_every_loan_a_page_at_a_time(app, client, monkeypatch):
    await _book()
    await _more_overdue_loans()
    _user, token = await _staff("collector")
    monkeypatch.setattr(downloads_csv, "PAGE_SIZE", 2)
    calls: list[int | None] = []
    overdue_loans = collection.overdue_loans

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["after_id"])
        return await overdue_loans(*args, **kwargs)

    monkeypatch.setattr(collection, "overdue_loans", counted)

    path = await _path(client, token, kind="OVERDUE_LOANS_CSV")
    chunks = _chunks(await _body_messages(app, path))
    assert len(calls) == 3  # 2 + 2 + 1 loans
    # The header with the first page, then a chunk per page, each of whole rows.
    assert [len(_parse(chunks[0])), chunks[1].count(b"\r\n"), chunks[2].count(b"\r\n")] == [
        3,
        2,
        1,
    ]
    calls.clear()
    found = await _download(client, path)
    assert _parse(b"".join(chunks)) == [found.header, *found.rows]
    assert found.response.headers["content-disposition"].endswith("''overdue-loans.csv")
    assert found.header[0] == "借款编号 loan_id"
    shown = (await gql(client, OVERDUE, token=token))["data"]["overdueLoans"]
    assert shown["totalCount"] == 5 == len(found.rows)
    # Keyset: each page after the last loan of the one before (then the GraphQL query's).
    assert calls == [None, int(found.rows[1][0]), int(found.rows[3][0]), None]
    for row, edge in zip(found.rows, shown["edges"], strict=True):
        node = edge["node"]
        assert [row[0], row[1], row[2], row[6], row[7], row[8], row[9], row[10]] == [
            node["loanId"],
            node["status"],
            node["amount"],
            str(node["daysOverdue"]),
            node["bucket"],
            node["overdueAmount"],
            node["penalty"],
            str(node["overdueInstallments"]),
        ]
    # B 2 installments (2,070.00), C the rest of two (1,512.50), the three new ones.
    assert sorted(row[8] for row in found.rows) == [
        "1010.00",
        "1512.50",
        "2020.00",
        "2070.00",
        "3030.00",
    ]


async def _journals() -> int:
    member, _phone = await create_member()
    await ledger.ensure_member_accounts(member.id)
    for number, (kind, memo) in enumerate(
        [
            ("deposit", "充值"),
            ("deposit", '=HYPERLINK("x")'),
            ("withdrawal_fee", "fee"),
            ("deposit", "third"),
            ("deposit", "fourth"),
        ]
    ):
        await ledger.post(
            key=f"export-{number}",
            kind=kind,
            entries=[
                (ledger.BANK, -(number + 1) * 100),
                (ledger.available(member.id), (number + 1) * 100),
            ],
            memo=memo,
        )
    return member.id


async def test_fund_transactions_csv_a_row_per_posting_with_the_statement_filter(
    app, client, monkeypatch
):
    await _journals()
    _user, token = await _staff("finance")
    monkeypatch.setattr(downloads_csv, "PAGE_SIZE", 2)

    path = await _path(client, token, kind="FUND_TRANSACTIONS_CSV")
    found = await _download(client, path)

    # 5 journals of two postings, two journals a page: 4 + 4 + 2 rows.
    chunks = _chunks(await _body_messages(app, path))
    assert [chunk.count(b"\r\n") for chunk in chunks] == [1 + 4, 4, 2]
    shown = (await gql(client, FUND, token=token))["data"]["fundTransactions"]["edges"]
    expected = [
        [
            node["id"],
            node["businessDate"],
            node["kind"],
            "'" + node["memo"] if node["memo"].startswith("=") else node["memo"],
            line["accountCode"],
            line["amount"],
            line["balanceAfter"],
        ]
        for node in (edge["node"] for edge in shown)
        for line in node["postings"]
    ]
    assert [[r[0], r[1], r[3], r[4], r[5], r[6], r[7]] for r in found.rows] == expected
    assert len(found.rows) == 10
    assert "充值" in [row[4] for row in found.rows]  # UTF-8 survives
    assert '\'=HYPERLINK("x")' in [row[4] for row in found.rows]  # never a formula
    assert [row[6] for row in found.rows[-2:]] == ["-1.00", "1.00"]  # the first deposit

    only = await _download(
        client,
        await _path(
            client, token, kind="FUND_TRANSACTIONS_CSV", filter={"kinds": ["withdrawal_fee"]}
        ),
    )
    assert [row[3] for row in only.rows] == ["withdrawal_fee", "withdrawal_fee"]
    assert [row[6] for row in only.rows] == ["-3.00", "3.00"]


# Each staff kind's signed scope for 2026-12-03 and the query parameters that carry it.
FORGED: dict[str, tuple[str, dict[str, str]]] = {
    "PLATFORM_FIGURES_CSV": (
        "asOf=2026-12-03;since=2026-12-01",
        {"asOf": "2026-12-03", "since": "2026-12-01"},
    ),
    "RISK_FIGURES_CSV": ("asOf=2026-12-03;since=", {"asOf": "2026-12-03"}),
    "PLATFORM_RETURNS_CSV": ("asOf=2026-12-03;since=", {"asOf": "2026-12-03"}),
    "OVERDUE_LOANS_CSV": ("asOf=;since=", {}),
    "FUND_TRANSACTIONS_CSV": ("asOf=;since=;kinds=;from=;to=", {}),
}


@pytest.mark.parametrize("kind", STAFF_KINDS)
async def test_members_get_no_staff_export_and_a_forged_one_is_refused(client, kind):
    await _book()
    member, phone = await create_member()
    link = await _link(client, await token_for(phone), kind=kind)
    assert (link["__typename"], link["code"], link["field"]) == (
        "CreateDownloadLinkError",
        "NOT_FOUND",
        "kind",
    )
    # A genuinely signed link naming the member, as the platform would sign it for
    # staff: refused at the download.
    word = downloads.DownloadKind[kind.removesuffix("_CSV")].value
    expires = int((START + timedelta(minutes=5)).timestamp())
    scope, days = FORGED[kind]
    claims = links.LinkClaims(word, member.id, member.id, expires, scope)
    query = days | {"subject": str(member.id), "expires": str(expires)}
    query["signature"] = links.sign(claims)
    response = await client.get(f"/downloads/{word}/{member.id}?{urlencode(query)}")
    assert response.status_code == 403
    assert response.json() == {"error": "download refused", "reason": "access_revoked"}


async def test_each_export_needs_its_fields_permission(client):
    await _book()
    _collector, collector = await _staff("collector")
    _finance, finance = await _staff("finance")
    assert (await _link(client, collector, kind="OVERDUE_LOANS_CSV"))["__typename"] == (
        "DownloadLinkCreated"
    )
    assert (await _link(client, collector, kind="PLATFORM_FIGURES_CSV"))["code"] == "NOT_FOUND"
    assert (await _link(client, finance, kind="OVERDUE_LOANS_CSV"))["code"] == "NOT_FOUND"
    assert (await _link(client, finance, kind="FUND_TRANSACTIONS_CSV"))["__typename"] == (
        "DownloadLinkCreated"
    )


async def test_staff_who_lose_the_permission_lose_the_link(client):
    await _book()
    user, token = await _staff("finance")
    path = await _path(client, token, kind="RISK_FIGURES_CSV")
    assert (await client.get(path)).status_code == 200

    await UserRole.filter(user_id=user.id).delete()
    await permissions.access_changed()
    response = await client.get(path)
    assert response.status_code == 403
    assert response.json()["reason"] == "access_revoked"


async def test_an_export_link_expires_and_cannot_be_altered(client, clock):
    await _book()
    _user, token = await _staff()
    path = await _path(client, token, kind="PLATFORM_FIGURES_CSV", asOf="2026-11-30")

    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    altered = f"{parts.path}?{urlencode(query | {'asOf': '2026-11-29'})}"
    response = await client.get(altered)
    assert (response.status_code, response.json()["reason"]) == (403, "bad_signature")

    clock.now = START + timedelta(minutes=5) - timedelta(seconds=1)
    assert (await client.get(path)).status_code == 200
    clock.now = START + timedelta(minutes=5)
    response = await client.get(path)
    assert (response.status_code, response.json()["reason"]) == (403, "expired")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"kind": "PLATFORM_FIGURES_CSV", "id": "1"}, "id"),
        ({"kind": "PLATFORM_FIGURES_CSV", "asOf": "2026-12-04"}, "asOf"),
        ({"kind": "PLATFORM_FIGURES_CSV", "asOf": "2026-08-31", "since": "2026-09-01"}, "since"),
        ({"kind": "PLATFORM_FIGURES_CSV", "filter": {"kinds": ["deposit"]}}, "filter"),
        ({"kind": "RISK_FIGURES_CSV", "since": "2026-11-01"}, "since"),
        ({"kind": "OVERDUE_LOANS_CSV", "asOf": "2026-11-30"}, "asOf"),
        ({"kind": "FUND_TRANSACTIONS_CSV", "filter": {"kinds": ["no spaces"]}}, "filter"),
        ({"kind": "CONTRACT", "id": "1", "asOf": "2026-11-30"}, "asOf"),
    ],
)
async def test_bad_export_arguments_are_invalid(client, variables, field):
    await _book()
    _user, token = await _staff()
    link = await _link(client, token, **variables)
    assert (link["__typename"], link["code"], link["field"]) == (
        "CreateDownloadLinkError",
        "INVALID",
        field,
    )
