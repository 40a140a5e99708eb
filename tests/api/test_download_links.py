"""Signed, expiring download links (issue 17): createDownloadLink gives a member (or staff)
who may read a contract, a verification file or their own statement a URL that serves it
with no token until it expires; an altered, expired or no-longer-allowed link is refused
with 403 and logged, a link to an object that is gone is 404. The expiry's clock is
injected (services.downloads.set_clock): nothing here reads the wall clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from models.access import UserRole
from models.contracts import Contract
from models.members import User, UserStatus
from services import downloads
from services.contracts import create_loan_contract
from services.identity import permissions
from services.kit import links
from services.kit.settings import get_settings
from services.kit.storage import LocalStorage, get_storage, set_storage
from tests.credit.verification_helpers import FRONT, id_card
from tests.factories import (
    create_funded_member,
    create_member,
    create_staff,
    full_loan_data,
    gql,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """mutation ($input: CreateDownloadLinkInput!) { createDownloadLink(input: $input) {
  __typename
  ... on DownloadLinkCreated { url path expiresAt }
  ... on CreateDownloadLinkError { code field message } } }"""
START = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


@pytest.fixture(autouse=True)
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    previous = downloads.set_clock(fake)
    yield fake
    downloads.set_clock(previous)


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The log, from INFO up, where the service records each refusal."""
    caplog.set_level(logging.INFO, logger="services.downloads")
    return caplog


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if hasattr(r, "download_refusal")]


def _reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reasons of the refusals logged so far (the record's `download_refusal`)."""
    return [r.download_refusal for r in _refusals(caplog)]


async def _link(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    body = await gql(client, CREATE, {"input": variables}, token=token)
    assert "errors" not in body, body
    return dict(body["data"]["createDownloadLink"])


@dataclass
class Parties:
    token: str  # the borrower's
    borrower_id: int
    lender_id: int


async def _contract(loan_id: int = 1) -> tuple[Contract, Parties]:
    """A loan contract (its PDF archived), the borrower's token and the parties' ids."""
    borrower, phone = await create_member(name="Borrower")
    data = await full_loan_data(loan_id=loan_id, borrower=borrower)
    contract = await create_loan_contract(data)
    return contract, Parties(await token_for(phone), borrower.id, data.lenders[0].user_id)


def _with(path: str, **changes: str) -> str:
    """The link's path with query parameters replaced (or the id, with `id=`)."""
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    route = parts.path
    if "id" in changes:
        route = route.rsplit("/", 1)[0] + "/" + changes.pop("id")
    if "kind" in changes:
        route = f"/downloads/{changes.pop('kind')}/" + route.rsplit("/", 1)[1]
    query.update(changes)
    return f"{route}?{urlencode(query)}"


def _signed(kind: str, object_id: int, subject: int, expires: datetime, scope: str = "") -> str:
    """A genuinely signed link, as the platform would have issued it."""
    claims = links.LinkClaims(kind, object_id, subject, int(expires.timestamp()), scope)
    query = {"subject": subject, "expires": claims.expires, "signature": links.sign(claims)}
    return f"/downloads/{kind}/{object_id}?{urlencode(query)}"


async def test_a_member_downloads_the_archived_contract_with_the_link_alone(client, refusals):
    contract, parties = await _contract()
    token = parties.token

    link = await _link(client, token, kind="CONTRACT", id=str(contract.id))

    assert link["__typename"] == "DownloadLinkCreated"
    assert link["url"] == get_settings().public_base_url + link["path"]
    assert link["path"].startswith(f"/downloads/contract/{contract.id}?")
    assert link["expiresAt"] == "2026-12-03T09:35:00+00:00"  # DOWNLOAD_LINK_MINUTES = 5
    response = await client.get(link["path"])  # no Authorization header
    assert response.status_code == 200
    assert response.content == await get_storage().get(contract.storage_key)
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["x-content-sha256"] == contract.sha256
    assert response.headers["content-disposition"] == (
        f"attachment; filename*=UTF-8''{contract.number}.pdf"
    )
    # Usable again until it expires (a download manager retries), and the bearer-token
    # path still serves the same bytes.
    assert (await client.get(link["path"])).content == response.content
    bearer = await client.get(
        f"/contracts/{contract.id}.pdf", headers={"Authorization": f"Bearer {token}"}
    )
    assert bearer.content == response.content
    assert _reasons(refusals) == []


async def test_a_link_altered_in_any_part_is_refused_and_logged(client, refusals):
    contract, parties = await _contract()
    # Another contract of the same borrower: theirs to read, but not with this link.
    other = await create_loan_contract(
        await full_loan_data(loan_id=2, borrower=await User.get(id=parties.borrower_id))
    )
    link = (await _link(client, parties.token, kind="CONTRACT", id=str(contract.id)))["path"]
    query = dict(parse_qsl(urlsplit(link).query))
    flipped = ("A" if query["signature"][0] != "A" else "B") + query["signature"][1:]
    changes = {
        "id": {"id": str(other.id)},
        "subject": {"subject": str(parties.lender_id)},  # a party, but not this link's
        "expiry": {"expires": str(int(query["expires"]) + 3600)},
        "signature": {"signature": flipped},
        "kind": {"kind": "material"},
    }

    for part, change in changes.items():
        altered = _with(link, **change)
        assert altered != link, part
        response = await client.get(altered)
        assert response.status_code == 403, part
        assert response.json() == {"error": "download refused", "reason": "bad_signature"}
        assert b"%PDF" not in response.content
        assert response.headers["cache-control"] == "private, no-store"

    assert _reasons(refusals) == ["bad_signature"] * len(changes)
    for record in _refusals(refusals):
        assert record.levelno == logging.WARNING
        assert query["signature"] not in record.getMessage()  # never the signature
    assert (await client.get(link)).status_code == 200  # the genuine link still works


async def test_an_expired_link_is_refused_on_the_injected_clock(client, refusals, clock):
    contract, parties = await _contract()
    token = parties.token
    link = (await _link(client, token, kind="CONTRACT", id=str(contract.id)))["path"]

    clock.now = START + timedelta(minutes=5) - timedelta(seconds=1)
    assert (await client.get(link)).status_code == 200
    clock.now = START + timedelta(minutes=5)
    expired = await client.get(link)

    assert (expired.status_code, expired.json()["reason"]) == (403, "expired")
    assert _reasons(refusals) == ["expired"]
    # A new link works again.
    fresh = (await _link(client, token, kind="CONTRACT", id=str(contract.id)))["path"]
    assert (await client.get(fresh)).status_code == 200


async def test_a_link_for_someone_who_cannot_read_the_object_is_refused(client, refusals):
    contract, _parties = await _contract()
    stranger, stranger_phone = await create_member(name="Stranger")
    stranger_token = await token_for(stranger_phone)

    # Not given to someone who may not read it...
    refused = await _link(client, stranger_token, kind="CONTRACT", id=str(contract.id))
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "CreateDownloadLinkError",
        "NOT_FOUND",
        "id",
    )
    # ...and a correctly signed link naming them is not served either.
    forged = _signed("contract", contract.id, stranger.id, START + timedelta(minutes=5))
    response = await client.get(forged)
    assert (response.status_code, response.json()["reason"]) == (403, "access_revoked")
    assert b"%PDF" not in response.content
    assert _reasons(refusals) == ["access_revoked"]


async def test_staff_lose_their_links_with_their_role_and_members_with_their_account(
    client, refusals
):
    contract, parties = await _contract()
    token = parties.token
    staff, staff_phone = await create_staff("cs")
    staff_link = (
        await _link(client, await token_for(staff_phone), kind="CONTRACT", id=str(contract.id))
    )["path"]
    member_link = (await _link(client, token, kind="CONTRACT", id=str(contract.id)))["path"]
    assert (await client.get(staff_link)).status_code == 200

    await UserRole.filter(user_id=staff.id).delete()
    await permissions.access_changed()
    await User.filter(id=parties.borrower_id).update(status=UserStatus.LOCKED)

    revoked = await client.get(staff_link)
    locked = await client.get(member_link)
    assert (revoked.status_code, revoked.json()["reason"]) == (403, "access_revoked")
    assert (locked.status_code, locked.json()["reason"]) == (403, "subject_inactive")
    assert _reasons(refusals) == ["access_revoked", "subject_inactive"]


async def test_a_genuine_link_to_an_object_that_is_gone_is_404(client, refusals):
    member, _phone = await create_member()
    expires = START + timedelta(minutes=5)

    response = await client.get(_signed("contract", 999_999, member.id, expires))
    missing_file = await client.get(_signed("material", 999_999, member.id, expires))

    assert (response.status_code, response.json()["reason"]) == (404, "not_found")
    assert missing_file.status_code == 404
    assert _reasons(refusals) == ["not_found", "not_found"]


PATH_TRICKS = [
    ("/downloads/contract/%2E%2E", 403, "malformed"),
    ("/downloads/contract/..%2F..%2Fsecret", 403, "malformed"),
    ("/downloads/..%2Fcontracts%2F1.pdf", 403, "malformed"),
    ("/downloads/contract/1%2F..%2F2", 403, "malformed"),
    ("/downloads/storage/1", 404, "unknown_kind"),
    ("/downloads/contract/01", 403, "malformed"),
]


async def test_path_tricks_serve_nothing_and_are_logged(client, refusals):
    member, _phone = await create_member()
    # A well-formed query, so only the path is wrong.
    genuine = _signed("contract", 1, member.id, START + timedelta(minutes=5))
    query = urlsplit(genuine).query

    for raw, status, reason in PATH_TRICKS:
        response = await client.get(httpx.URL(f"{raw}?{query}"))
        assert (response.status_code, response.json()["reason"]) == (status, reason), raw
    bare = await client.get("/downloads/contract/1")  # no subject, expiry or signature

    assert (bare.status_code, bare.json()["reason"]) == (403, "malformed")
    assert _reasons(refusals) == [reason for _raw, _status, reason in PATH_TRICKS] + ["malformed"]


async def test_material_files_for_their_owner_and_credit_officers(client, refusals):
    member, phone = await create_member()
    submission, _number = await id_card(member.id)
    await submission.fetch_related("files")
    front = min(submission.files, key=lambda f: f.id)
    officer, officer_phone = await create_staff("credit")
    stranger_token = await token_for((await create_member())[1])

    mine = await _link(client, await token_for(phone), kind="MATERIAL", id=str(front.id))
    theirs = await _link(client, await token_for(officer_phone), kind="MATERIAL", id=str(front.id))
    refused = await _link(client, stranger_token, kind="MATERIAL", id=str(front.id))

    for link in (mine, theirs):
        response = await client.get(link["path"])
        assert response.status_code == 200
        assert response.content == FRONT
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-sha256"] == front.sha256
    assert refused["code"] == "NOT_FOUND"
    # The officer's link names the officer: altered to name the owner, it fails.
    altered = _with(theirs["path"], subject=str(member.id))
    assert (await client.get(altered)).status_code == 403
    assert _reasons(refusals) == ["bad_signature"]
    assert officer.id != member.id


async def test_the_statement_csv_with_its_filter_signed(client, refusals):
    member, phone, _card = await create_funded_member(50_000)
    token = await token_for(phone)
    csv = (await gql(client, "{ myTransactionsCsv }", token=token))["data"]["myTransactionsCsv"]
    filtered_csv = (
        await gql(
            client,
            '{ myTransactionsCsv(filter: {kinds: ["nothing-of-this-kind"]}) }',
            token=token,
        )
    )["data"]["myTransactionsCsv"]

    whole = await _link(client, token, kind="TRANSACTIONS_CSV")
    filtered = await _link(
        client, token, kind="TRANSACTIONS_CSV", filter={"kinds": ["nothing-of-this-kind"]}
    )

    assert whole["path"].startswith(f"/downloads/transactions/{member.id}?")
    response = await client.get(whole["path"])
    assert response.status_code == 200
    assert response.text == csv
    assert len(csv.splitlines()) > 1  # the deposit is in it
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (await client.get(filtered["path"])).text == filtered_csv
    # The filter is signed: dropping it from the filtered link does not widen it.
    widened = filtered["path"].replace("&kinds=nothing-of-this-kind", "")
    assert widened != filtered["path"]
    assert (await client.get(widened)).status_code == 403
    assert _reasons(refusals) == ["bad_signature"]


BAD_REQUESTS = [
    ({"kind": "CONTRACT"}, "INVALID", "id"),
    ({"kind": "TRANSACTIONS_CSV", "id": "1"}, "INVALID", "id"),
    ({"kind": "CONTRACT", "id": "1", "filter": {"kinds": ["x"]}}, "INVALID", "filter"),
    ({"kind": "TRANSACTIONS_CSV", "filter": {"kinds": ["a b"]}}, "INVALID", "filter"),
    (
        {"kind": "TRANSACTIONS_CSV", "filter": {"from": "2026-12-02", "to": "2026-12-01"}},
        "INVALID",
        "filter",
    ),
    ({"kind": "CONTRACT", "id": "../1"}, "NOT_FOUND", "id"),
    ({"kind": "MATERIAL", "id": "999999"}, "NOT_FOUND", "id"),
]


async def test_bad_requests_for_a_link_get_a_typed_error(client):
    _member, phone = await create_member()
    token = await token_for(phone)

    for variables, code, field in BAD_REQUESTS:
        result = await _link(client, token, **variables)
        assert (result["__typename"], result["code"], result["field"]) == (
            "CreateDownloadLinkError",
            code,
            field,
        ), variables


async def test_no_link_without_logging_in(client):
    body = await gql(client, CREATE, {"input": {"kind": "TRANSACTIONS_CSV"}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
