"""Issue 22, M5.3 through the API, the member's side of service cases.

A member opens a complaint with a PDF and a PNG: the case is OPEN, its SLA clock runs
(120 hours for a complaint by default), its first message holds the text and both files
(stored as sent, verified). Another member neither sees it nor answers it (NOT_FOUND,
as if it did not exist); case staff see it. Subjects and texts are bounded (10,000
characters are refused), unknown kinds fail validation, files of the wrong type, too
many or too large are refused with the upload pipeline's codes; none of these changes
anything or leaves a file behind. A dispute may name the member's own loan or movement,
never another's. Staff without cases:manage are refused (FORBIDDEN), and staff cannot
open cases. A closed case cannot be answered; its member rates it once and may reopen
it within cases.reopenDays (14 days), not after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.cases import attachments
from services.kit.storage import LocalStorage, set_storage
from services.kit.uploads import MB
from services.platform import clock
from tests.cases.helpers import (
    ANSWER,
    CLOSE,
    OPEN,
    PDF,
    PNG,
    RATE,
    REOPEN,
    act,
    listed,
    member,
    multipart,
    staff,
    state,
    stored_files,
)
from tests.factories import create_funded_member, error_codes, gql, token_for
from tests.lending import listed_loan, verified_borrower

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("scripted")]

COMPLAINT = {
    "kind": "COMPLAINT",
    "subject": "Repayment taken twice",
    "text": "My installment of 3 November was debited twice.",
}
TRANSACTIONS = "{ myTransactions(first: 5) { edges { node { id kind } } } }"


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_member_opens_a_complaint_with_files_that_only_they_and_case_staff_see(
    client, storage
):
    owner, other, cs = await member(), await member("Other Member"), await staff("cs")

    opened = await multipart(
        client,
        owner,
        OPEN,
        COMPLAINT,
        [("statement.pdf", PDF, "application/pdf"), ("screen.png", PNG, "image/png")],
    )

    assert opened["__typename"] == "ServiceCaseSaved", opened
    case = opened["case"]
    assert {k: case[k] for k in ("memberId", "kind", "subject", "status", "level", "sla")} == {
        "memberId": str(owner.id),
        "kind": "COMPLAINT",
        "subject": "Repayment taken twice",
        "status": "OPEN",
        "level": 1,
        "sla": "ON_TIME",
    }
    assert _at(case["dueAt"]) - _at(case["openedAt"]) == timedelta(hours=120)
    assert timedelta(0) <= await clock.now() - _at(case["openedAt"]) < timedelta(minutes=1)
    assert case["messages"] == [
        {
            "entry": "MEMBER",
            "authorId": str(owner.id),
            "text": COMPLAINT["text"],
            "attachments": [
                {
                    "filename": "statement.pdf",
                    "contentType": "application/pdf",
                    "size": len(PDF),
                    "sha256": hashlib.sha256(PDF).hexdigest(),
                    "verified": True,
                },
                {
                    "filename": "screen.png",
                    "contentType": "image/png",
                    "size": len(PNG),
                    "sha256": hashlib.sha256(PNG).hexdigest(),
                    "verified": True,
                },
            ],
        }
    ]
    assert sorted(path.read_bytes() for path in stored_files(storage)) == sorted([PDF, PNG])

    mine = await listed(client, owner)
    assert [edge["node"] for edge in mine["edges"]] == [case]
    assert (await listed(client, other))["totalCount"] == 0
    assert (await listed(client, other, caseId=case["id"]))["edges"] == []
    for impossible in ("9" * 30, "-1", "abc"):
        assert (await listed(client, owner, caseId=impossible))["totalCount"] == 0
    seen_by_staff = await listed(client, cs, caseId=case["id"])
    assert [edge["node"]["id"] for edge in seen_by_staff["edges"]] == [case["id"]]


async def test_another_members_case_is_not_found_and_the_owner_answers_it(client):
    owner, other = await member(), await member("Other Member")
    case = (await act(client, owner, OPEN, COMPLAINT))["case"]
    before = await state()

    refused = await act(client, other, ANSWER, {"caseId": case["id"], "text": "Me too"})

    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "AnswerServiceCaseError",
        "NOT_FOUND",
        "caseId",
    )
    # The same answer as for a case that does not exist: nothing leaks.
    missing = await act(client, other, ANSWER, {"caseId": "999999", "text": "Me too"})
    assert missing["message"] == refused["message"]
    assert await state() == before

    answered = await act(client, owner, ANSWER, {"caseId": case["id"], "text": "Any news?"})

    messages = answered["case"]["messages"]
    assert messages[0] == case["messages"][0]  # the first message as it was
    assert [(m["entry"], m["text"]) for m in messages] == [
        ("MEMBER", COMPLAINT["text"]),
        ("MEMBER", "Any news?"),
    ]
    assert answered["case"]["status"] == "OPEN"
    assert answered["case"]["dueAt"] == case["dueAt"]  # the same wait goes on


LONG = "长" * 10_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": LONG}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"text": ""}, "text"),
        ({"text": LONG}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"loanId": "1"}, "loanId"),  # only a dispute names a loan
    ],
    ids=[
        "empty-subject",
        "blank-subject",
        "10000-subject",
        "201-subject",
        "empty-text",
        "10000-text",
        "4001-text",
        "loan-on-a-complaint",
    ],
)
async def test_bad_texts_are_invalid_and_change_nothing(client, storage, fields, field):
    owner = await member()
    before = await state()

    refused = await act(client, owner, OPEN, {**COMPLAINT, **fields})

    assert (refused["code"], refused["field"]) == ("INVALID", field)
    assert await state() == before


async def test_the_longest_texts_are_accepted(client):
    owner = await member()
    opened = await act(client, owner, OPEN, {**COMPLAINT, "subject": "s" * 200, "text": "t" * 4000})
    assert opened["__typename"] == "ServiceCaseSaved"
    answered = await act(client, owner, ANSWER, {"caseId": opened["case"]["id"], "text": LONG})
    assert (answered["code"], answered["field"]) == ("INVALID", "text")


async def test_an_unknown_kind_fails_validation_and_changes_nothing(client):
    owner = await member()
    before = await state()
    body = await gql(client, OPEN, {"input": {**COMPLAINT, "kind": "PRAISE"}}, token=owner.token)
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert await state() == before


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ([("notes.txt", b"plain text", "text/plain")], "FILE_TYPE_NOT_ACCEPTED"),
        ([("fake.pdf", PNG, "application/pdf")], "FILE_TYPE_NOT_ACCEPTED"),
        ([("empty.pdf", b"", "application/pdf")], "FILE_TYPE_NOT_ACCEPTED"),
        ([("big.pdf", b"%PDF-" + b"x" * (MB + 1), "application/pdf")], "FILE_TOO_LARGE"),
        ([(f"p{i}.png", PNG, "image/png") for i in range(6)], "TOO_MANY_FILES"),
    ],
    ids=["text", "pdf-that-is-png", "empty", "too-large", "six"],
)
async def test_bad_attachments_are_refused_with_their_codes_and_leave_nothing(
    client, storage, monkeypatch, files, code
):
    monkeypatch.setattr(attachments, "MAX_BYTES", MB)
    owner = await member()
    before = await state()

    refused = await multipart(client, owner, OPEN, COMPLAINT, files)

    assert (refused["code"], refused["field"]) == (code, "attachments")
    assert await state() == before
    assert stored_files(storage) == []


async def test_a_dispute_names_the_members_own_loan_or_movement_only(app, client, scripted):
    borrower, borrower_phone = await verified_borrower(scripted)
    loan = await listed_loan(borrower.id, 500_000)
    lender, lender_phone, _card = await create_funded_member(100_000, name="Lender")
    owner = type("Who", (), {"token": await token_for(borrower_phone), "id": borrower.id})()
    stranger = type("Who", (), {"token": await token_for(lender_phone), "id": lender.id})()
    movements = await gql(client, TRANSACTIONS, token=stranger.token)
    movement_id = movements["data"]["myTransactions"]["edges"][0]["node"]["id"]
    dispute = {**COMPLAINT, "kind": "DISPUTE"}
    before = await state()

    # Another member's loan, another's movement, ids that cannot exist: not found.
    for fields in (
        {"loanId": str(loan.id)},
        {"movementId": "999999"},
        {"loanId": "9" * 30},
    ):
        refused = await act(client, stranger, OPEN, {**dispute, **fields})
        assert refused["code"] == "NOT_FOUND", (fields, refused)
    refused = await act(client, owner, OPEN, {**dispute, "movementId": movement_id})
    assert (refused["code"], refused["field"]) == ("NOT_FOUND", "movementId")
    assert await state() == before

    about_loan = await act(client, owner, OPEN, {**dispute, "loanId": str(loan.id)})
    about_movement = await act(client, stranger, OPEN, {**dispute, "movementId": movement_id})

    assert (about_loan["case"]["kind"], about_loan["case"]["loanId"]) == ("DISPUTE", str(loan.id))
    assert about_movement["case"]["movementId"] == movement_id


async def test_staff_without_cases_manage_are_forbidden_and_staff_cannot_open_cases(client):
    owner, finance, cs = await member(), await staff("finance"), await staff("cs")
    case = (await act(client, owner, OPEN, COMPLAINT))["case"]
    before = await state()

    for who, query, variables in (
        (finance, "{ serviceCases { totalCount } }", {}),
        (finance, '{ serviceCases(caseId: "abc") { totalCount } }', {}),
        (finance, ANSWER, {"input": {"caseId": case["id"], "text": "Hello"}}),
        (cs, OPEN, {"input": COMPLAINT}),
        (finance, OPEN, {"input": COMPLAINT}),
    ):
        body = await gql(client, query, variables, token=who.token)
        assert error_codes(body) == ["FORBIDDEN"], body
    assert await state() == before


async def test_a_closed_case_is_not_answered_is_rated_once_and_reopened_within_14_days(client):
    owner, cs, third = await member(), await staff("cs"), await member("Third")
    case = (await act(client, owner, OPEN, COMPLAINT))["case"]
    closed = await act(client, cs, CLOSE, {"caseId": case["id"], "resolution": "Refunded"})
    assert (closed["case"]["status"], closed["case"]["resolution"]) == ("CLOSED", "Refunded")
    before = await state()

    refused = await act(client, owner, ANSWER, {"caseId": case["id"], "text": "Thanks"})
    by_staff = await act(client, cs, ANSWER, {"caseId": case["id"], "text": "Anything else?"})
    too_high = await act(client, owner, RATE, {"caseId": case["id"], "rating": 6})
    too_low = await act(client, owner, RATE, {"caseId": case["id"], "rating": 0})
    not_yours = await act(client, third, RATE, {"caseId": case["id"], "rating": 5})

    assert [r["code"] for r in (refused, by_staff, too_high, too_low, not_yours)] == [
        "CASE_CLOSED",
        "CASE_CLOSED",
        "INVALID",
        "INVALID",
        "NOT_FOUND",
    ]
    assert await state() == before

    rated = await act(client, owner, RATE, {"caseId": case["id"], "rating": 4})
    assert rated["case"]["rating"] == 4
    again = await act(client, owner, RATE, {"caseId": case["id"], "rating": 5})
    assert again["code"] == "ALREADY_RATED"

    await clock.advance(days=14)
    reopened = await act(client, owner, REOPEN, {"caseId": case["id"], "text": "Charged again"})

    assert reopened["__typename"] == "ServiceCaseSaved", reopened
    assert {k: reopened["case"][k] for k in ("status", "rating", "reopened", "sla")} == {
        "status": "OPEN",
        "rating": None,
        "reopened": 1,
        "sla": "ON_TIME",
    }
    assert [(m["entry"], m["text"]) for m in reopened["case"]["messages"]][-3:] == [
        ("ACTION", "Rated 4 of 5"),
        ("ACTION", "Reopened"),
        ("MEMBER", "Charged again"),
    ]
    not_closed = await act(client, owner, REOPEN, {"caseId": case["id"], "text": "Again"})
    assert not_closed["code"] == "CASE_NOT_CLOSED"

    await act(client, cs, CLOSE, {"caseId": case["id"], "resolution": "Refunded again"})
    await clock.advance(days=15)
    before = await state()
    late = await act(client, owner, REOPEN, {"caseId": case["id"], "text": "Once more"})
    assert (late["code"], late["field"]) == ("REOPEN_PERIOD_OVER", "caseId")
    assert await state() == before


LINK = """mutation ($id: ID!) {
  createDownloadLink(input: {kind: SERVICE_CASE_ATTACHMENT, id: $id}) { __typename
    ... on DownloadLinkCreated { path } ... on CreateDownloadLinkError { code field } } }"""


ATTACHMENT_IDS = """query ($case: ID!) { serviceCases(caseId: $case) {
  edges { node { messages { attachments { id } } } } } }"""


async def _link(client, who, attachment_id: str) -> dict[str, Any]:
    body = await gql(client, LINK, {"id": attachment_id}, token=who.token)
    assert "errors" not in body, body
    return dict(body["data"]["createDownloadLink"])


async def test_the_member_and_case_staff_download_the_files_and_nobody_else(client, storage):
    owner, other = await member(), await member("Other Member")
    cs, finance = await staff("cs"), await staff("finance")
    opened = await multipart(
        client, owner, OPEN, COMPLAINT, [("statement.pdf", PDF, "application/pdf")]
    )
    case_id = opened["case"]["id"]
    ids = await gql(client, ATTACHMENT_IDS, {"case": case_id}, token=owner.token)
    (attachment_id,) = [
        file["id"]
        for edge in ids["data"]["serviceCases"]["edges"]
        for message in edge["node"]["messages"]
        for file in message["attachments"]
    ]

    for who in (owner, cs):
        link = await _link(client, who, attachment_id)
        assert link["__typename"] == "DownloadLinkCreated", link
        served = await client.get(link["path"])  # the link alone, no token
        assert (served.status_code, served.content) == (200, PDF)
        assert served.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    for who in (other, finance):
        assert await _link(client, who, attachment_id) == {
            "__typename": "CreateDownloadLinkError",
            "code": "NOT_FOUND",
            "field": "id",
        }

    # One byte changed in storage: not verified, and the download is refused.
    (path,) = stored_files(storage)
    path.write_bytes(PDF[:-1] + b"!")
    node = (await listed(client, owner, caseId=case_id))["edges"][0]["node"]
    assert node["messages"][0]["attachments"][0]["verified"] is False
    refused = await client.get((await _link(client, owner, attachment_id))["path"])
    assert (refused.status_code, refused.json()["reason"]) == (409, "integrity")
