"""Issue 21, M8.1-M8.2: collateral documents and valuation reports, through the API.

A reviewer records a flat with its title deed (PDF) and a photo (PNG) in one multipart
`addCollateralItem`: both are stored as sent, hashed and signed over
"<sha256>:<size>:collateral:<item id>:<uploader id>", and `collateralItems` shows them
verified; one byte changed in storage (or a record rewritten) shows as not verified and
the download is refused (409). A valuation takes its report as a file. Files of the
wrong type, too large or too many are refused with their codes and leave nothing behind:
no item, valuation or document row, no stored file. The borrower, the holders of the
loan's claims and loan reviewers see the documents and download them with a signed link;
another member (or staff without loan:review) neither sees nor downloads them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from models.collateral import CollateralDocument, CollateralItem, CollateralStatus
from models.collateral import CollateralValuation as Valuation
from services import downloads
from services.kit import links, signing
from services.kit.storage import LocalStorage, set_storage
from services.kit.uploads import MB
from tests.factories import create_member, create_staff, gql, token_for
from tests.lending import listed_loan, repaying_loan, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

DEED = b"%PDF-1.7\n" + b"title deed, flat 801, Chaoyang " * 300
PHOTO = b"\x89PNG\r\n\x1a\n" + b"the flat from the street " * 200
REPORT = b"%PDF-1.4\n" + b"valuation report: 12,500.00 " * 400
NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

DOCUMENT = "id filename contentType size sha256 uploadedAt verified"
ADD_ITEM = f"""mutation ($input: AddCollateralItemInput!) {{ addCollateralItem(input: $input) {{
  __typename ... on CollateralItemAdded {{ item {{ id documents {{ {DOCUMENT} }} }} }}
  ... on AddCollateralItemError {{ code field message }} }} }}"""
ADD_VALUATION = f"""mutation ($input: AddCollateralValuationInput!) {{
  addCollateralValuation(input: $input) {{ __typename
  ... on CollateralValued {{ loanToValue valuation {{ id report {{ {DOCUMENT} }} }} }}
  ... on AddCollateralValuationError {{ code field message }} }} }}"""
COLLATERAL = f"""query ($loan: ID!) {{ collateralItems(loanId: $loan) {{ items {{ id
  documents {{ {DOCUMENT} }} valuations {{ value report {{ filename verified }} }} }} }} }}"""
LINK = """mutation ($id: ID!) { createDownloadLink(input: {kind: COLLATERAL_DOCUMENT, id: $id}) {
  __typename ... on DownloadLinkCreated { path } ... on CreateDownloadLinkError { code } } }"""


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


@pytest.fixture(autouse=True)
def link_clock() -> Iterator[None]:
    previous = downloads.set_clock(lambda: NOW)
    yield
    downloads.set_clock(previous)


def _stored_files(store: LocalStorage) -> list[Path]:
    return [path for path in store.root.rglob("*") if path.is_file()]


def _item_input(loan_id: int) -> dict[str, Any]:
    return {
        "loanId": str(loan_id),
        "kind": "PROPERTY",
        "description": "A flat, 80 m2, Chaoyang district",
        "registrationNumber": "JING-2026-000123",
        "registrationAuthority": "Beijing Real Estate Registration Centre",
        "lienRank": 1,
    }


def _valuation_input(item_id: str, value: str = "12500.00") -> dict[str, Any]:
    return {
        "itemId": item_id,
        "appraiser": "Appraiser Co",
        "method": "MARKET",
        "value": value,
        "valuedOn": "2026-12-01",
        "reportRef": "VAL-2026-77",
    }


async def _multipart(
    client: httpx.AsyncClient,
    token: str,
    query: str,
    variables: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
) -> dict[str, Any]:
    """The GraphQL multipart request spec: each file mapped to its variable's path."""
    paths = list(files)
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({str(i): [f"variables.{path}"] for i, path in enumerate(paths)}),
        },
        files={str(i): files[path] for i, path in enumerate(paths)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


async def _add_item(
    client: httpx.AsyncClient, token: str, loan_id: int, files: list[tuple[str, bytes, str]]
) -> dict[str, Any]:
    variables = {"input": {**_item_input(loan_id), "documents": [None] * len(files)}}
    mapped = {f"input.documents.{i}": file for i, file in enumerate(files)}
    return (await _multipart(client, token, ADD_ITEM, variables, mapped))["addCollateralItem"]


async def _add_valuation(
    client: httpx.AsyncClient, token: str, item_id: str, report: tuple[str, bytes, str]
) -> dict[str, Any]:
    variables = {"input": {**_valuation_input(item_id), "report": None}}
    answer = await _multipart(client, token, ADD_VALUATION, variables, {"input.report": report})
    return dict(answer["addCollateralValuation"])


async def _reviewer() -> tuple[int, str]:
    staff, phone = await create_staff("risk_l1")
    return staff.id, await token_for(phone)


async def _documents(client: httpx.AsyncClient, token: str, loan_id: int) -> list[Any]:
    body = await gql(client, COLLATERAL, {"loan": str(loan_id)}, token=token)
    assert "errors" not in body, body
    return [item["documents"] for item in body["data"]["collateralItems"]["items"]]


async def _download(client: httpx.AsyncClient, token: str, document_id: str) -> httpx.Response:
    link = (await gql(client, LINK, {"id": document_id}, token=token))["data"]
    assert link["createDownloadLink"]["__typename"] == "DownloadLinkCreated", link
    return await client.get(link["createDownloadLink"]["path"])  # no token: the link alone


async def test_documents_are_hashed_and_signed_and_a_changed_byte_is_detected(
    app, client, scripted, storage
):
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    staff_id, staff = await _reviewer()

    added = await _add_item(
        client,
        staff,
        loan.id,
        [("deed.pdf", DEED, "application/pdf"), ("C:\\scans\\flat.png", PHOTO, "image/png")],
    )

    assert added["__typename"] == "CollateralItemAdded", added
    deed, photo = added["item"]["documents"]
    shown = [(d["filename"], d["contentType"], d["size"], d["sha256"]) for d in (deed, photo)]
    assert shown == [
        ("deed.pdf", "application/pdf", len(DEED), hashlib.sha256(DEED).hexdigest()),
        ("flat.png", "image/png", len(PHOTO), hashlib.sha256(PHOTO).hexdigest()),
    ]
    assert (deed["verified"], photo["verified"]) == (True, True)
    assert deed["uploadedAt"].startswith("2026-12-03T")  # the business day
    # What is stored is exactly what was sent, and the platform signed each record.
    item_id = int(added["item"]["id"])
    for sent, answered in ((DEED, deed), (PHOTO, photo)):
        row = await CollateralDocument.get(id=int(answered["id"]))
        assert storage.path_for(row.storage_key).read_bytes() == sent
        assert (row.item_id, row.valuation_id, row.uploaded_by) == (item_id, None, staff_id)
        payload = f"{row.sha256}:{row.size}:collateral:{item_id}:{staff_id}".encode()
        assert signing.verify(payload, row.signature)

    token = await token_for(borrower_phone)
    assert await _documents(client, token, loan.id) == [[deed, photo]]

    # One byte changed in storage: that document no longer verifies, nor downloads.
    row = await CollateralDocument.get(id=int(deed["id"]))
    path = storage.path_for(row.storage_key)
    path.write_bytes(DEED[:-1] + b"!")
    (listed,) = await _documents(client, token, loan.id)
    assert [d["verified"] for d in listed] == [False, True]
    refused = await _download(client, token, deed["id"])
    assert (refused.status_code, refused.json()["reason"]) == (409, "integrity")
    path.write_bytes(DEED)
    assert [d["verified"] for d in (await _documents(client, token, loan.id))[0]] == [True, True]
    served = await _download(client, token, deed["id"])
    assert (served.status_code, served.content) == (200, DEED)
    assert served.headers["x-content-sha256"] == deed["sha256"]

    # The record rewritten to match other bytes: its signature no longer holds.
    await CollateralDocument.filter(id=row.id).update(sha256=hashlib.sha256(b"x").hexdigest())
    assert [d["verified"] for d in (await _documents(client, token, loan.id))[0]] == [False, True]


async def test_a_valuation_with_its_report(app, client, scripted, storage):
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    staff_id, staff = await _reviewer()
    plain = await gql(client, ADD_ITEM, {"input": _item_input(loan.id)}, token=staff)
    item = plain["data"]["addCollateralItem"]["item"]
    assert item["documents"] == []  # documents are optional

    valued = await _add_valuation(
        client, staff, item["id"], ("valuation.pdf", REPORT, "application/pdf")
    )

    assert valued["__typename"] == "CollateralValued", valued
    assert valued["loanToValue"] == "0.8000"
    report = valued["valuation"]["report"]
    assert (report["filename"], report["size"], report["sha256"], report["verified"]) == (
        "valuation.pdf",
        len(REPORT),
        hashlib.sha256(REPORT).hexdigest(),
        True,
    )
    row = await CollateralDocument.get(id=int(report["id"]))
    assert (row.item_id, row.valuation_id) == (int(item["id"]), int(valued["valuation"]["id"]))
    payload = f"{row.sha256}:{row.size}:collateral:{item['id']}:{staff_id}".encode()
    assert signing.verify(payload, row.signature)
    # A second valuation without a report; the borrower sees both, the report on its own.
    second = await gql(
        client,
        ADD_VALUATION,
        {"input": _valuation_input(item["id"], "10000.00")},
        token=staff,
    )
    assert second["data"]["addCollateralValuation"]["valuation"]["report"] is None
    body = await gql(
        client, COLLATERAL, {"loan": str(loan.id)}, token=await token_for(borrower_phone)
    )
    (seen,) = body["data"]["collateralItems"]["items"]
    assert seen["documents"] == []  # the report is the valuation's, not the item's
    assert seen["valuations"] == [
        {"value": "10000.00", "report": None},
        {"value": "12500.00", "report": {"filename": "valuation.pdf", "verified": True}},
    ]
    served = await _download(client, staff, report["id"])
    assert (served.status_code, served.content) == (200, REPORT)
    assert served.headers["content-type"] == "application/pdf"


async def test_refused_files_write_nothing_and_store_nothing(app, client, scripted, storage):
    borrower, _phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 1_000_000)
    _staff_id, staff = await _reviewer()
    plain = await gql(client, ADD_ITEM, {"input": _item_input(loan.id)}, token=staff)
    item = plain["data"]["addCollateralItem"]["item"]
    counts = (await CollateralItem.all().count(), await Valuation.all().count())
    too_large = b"%PDF-1.7\n" + b"\0" * (10 * MB)  # 10 MB and 9 bytes
    item_cases = [
        ([("deed.gif", b"GIF89a a scan", "image/gif")], "FILE_TYPE_NOT_ACCEPTED"),
        ([("deed.pdf", b"<html>not a pdf</html>", "application/pdf")], "FILE_TYPE_NOT_ACCEPTED"),
        (
            [("deed.pdf", DEED, "application/pdf"), ("big.pdf", too_large, "application/pdf")],
            "FILE_TOO_LARGE",
        ),
        ([(f"{n}.pdf", DEED, "application/pdf") for n in range(7)], "TOO_MANY_FILES"),
        ([("empty.pdf", b"", "application/pdf")], "FILE_TYPE_NOT_ACCEPTED"),
    ]
    for files, code in item_cases:
        refused = await _add_item(client, staff, loan.id, files)
        assert refused["__typename"] == "AddCollateralItemError", refused
        assert (refused["code"], refused["field"]) == (code, "documents"), refused
    assert (
        "big.pdf is larger than 10 MB"
        in (await _add_item(client, staff, loan.id, [("big.pdf", too_large, "application/pdf")]))[
            "message"
        ]
    )

    report_cases = [
        (("report.txt", b"plain text", "text/plain"), "FILE_TYPE_NOT_ACCEPTED"),
        (("report.pdf", too_large, "application/pdf"), "FILE_TOO_LARGE"),
    ]
    for report, code in report_cases:
        refused = await _add_valuation(client, staff, item["id"], report)
        assert refused["__typename"] == "AddCollateralValuationError", refused
        assert (refused["code"], refused["field"]) == (code, "report"), refused
    # A good report for an item released since: refused, and the file stored for it removed.
    await CollateralItem.filter(id=int(item["id"])).update(status=CollateralStatus.RELEASED)
    released = await _add_valuation(
        client, staff, item["id"], ("valuation.pdf", REPORT, "application/pdf")
    )
    assert (released["code"], released["field"]) == ("ITEM_NOT_PLEDGED", "itemId")

    assert (await CollateralItem.all().count(), await Valuation.all().count()) == counts
    assert await CollateralDocument.all().count() == 0
    assert _stored_files(storage) == []


def _signed(document_id: int, subject: int) -> str:
    """A genuinely signed link naming `subject`, as if it had been issued to them."""
    expires = int((NOW + timedelta(minutes=5)).timestamp())
    claims = links.LinkClaims("collateral-document", document_id, subject, expires, "")
    query = {"subject": subject, "expires": expires, "signature": links.sign(claims)}
    return f"/downloads/collateral-document/{document_id}?{urlencode(query)}"


async def test_who_may_see_and_download_the_documents(app, client, scripted, storage):
    made = await repaying_loan(scripted, app.state.sandbox.sandbox)
    _staff_id, staff = await _reviewer()
    added = await _add_item(client, staff, made.loan.id, [("deed.pdf", DEED, "application/pdf")])
    (deed,) = added["item"]["documents"]
    (lender, lender_phone), _second = made.lenders
    _other_reviewer, reviewer = await _reviewer()
    allowed = {
        "borrower": await token_for(made.borrower_phone),
        "holder": await token_for(lender_phone),
        "loan reviewer": reviewer,
    }
    for who, token in allowed.items():
        assert await _documents(client, token, made.loan.id) == [[deed]], who
        served = await _download(client, token, deed["id"])
        assert (served.status_code, served.content) == (200, DEED), who

    stranger, stranger_phone = await create_member()
    _finance, finance_phone = await create_staff("finance")
    for token in (await token_for(stranger_phone), await token_for(finance_phone)):
        hidden = await gql(client, COLLATERAL, {"loan": str(made.loan.id)}, token=token)
        assert hidden["data"] is None
        assert hidden["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        link = await gql(client, LINK, {"id": deed["id"]}, token=token)
        assert link["data"]["createDownloadLink"] == {
            "__typename": "CreateDownloadLinkError",
            "code": "NOT_FOUND",
        }
    # Even a genuinely signed link does not serve it to someone who may not see it.
    forged = await client.get(_signed(int(deed["id"]), stranger.id))
    assert (forged.status_code, forged.json()["reason"]) == (403, "access_revoked")
    assert lender.id != stranger.id
