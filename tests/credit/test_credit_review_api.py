"""M2.4-M2.6, R1, D4 through the API: a member submits materials (multipart), a credit
officer reviews them, the score, grade and limit follow; reviewers never review their
own; members see only their own credit; officers freeze and grant temporary limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from strawberry import relay

from models.credit import (
    CreditLimitChange,
    MaterialFile,
    VerificationReview,
    VerificationSubmission,
)
from services.credit import external
from services.credit.catalogue import KINDS
from services.kit.storage import LocalStorage, set_storage
from services.platform import clock, outbox
from tests.factories import (
    CLEAN_REPORTS,
    ScriptedSources,
    create_member,
    create_staff,
    dump_all_tables,
    gql,
    new_id_number,
    sample_fields,
    sample_files,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SUBMIT = """mutation ($input: SubmitVerificationInput!) {
  submitVerification(input: $input) {
    __typename
    ... on VerificationSubmitted { verification { id kind status } }
    ... on SubmitVerificationError { code field message } } }"""
REVIEW = """mutation ($id: ID!, $decision: ReviewDecision!, $reason: String!) {
  reviewVerification(input: {verificationId: $id, decision: $decision, reason: $reason}) {
    __typename
    ... on VerificationReviewed { score grade verification { status
      reviews { decision reason } } }
    ... on ReviewVerificationError { code field message } } }"""
CREDIT_FIELDS = """score grade limit permanentLimit used available frozen frozenReason
  otherPlatformsOutstanding parts { label points } reasons missingForBorrowing
  temporaryLimit { amount expiresOn reason }
  history { kind oldLimit newLimit oldGrade newGrade score reason byStaff }"""
MY_CREDIT = "{ myCredit { " + CREDIT_FIELDS + " } }"
MEMBER_CREDIT = "query ($id: ID!) { memberCredit(userId: $id) { " + CREDIT_FIELDS + " } }"
QUEUE = """query ($status: VerificationStatus) { verificationQueue(status: $status) {
  totalCount edges { node { member { id phone } verification { id kind status
    fields { name value personal } } } } } }"""

REQUIRED = [kind.code for kind in KINDS if kind.required_for_borrowing]
POINTS = {kind.code: kind.score for kind in KINDS}


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


@pytest.fixture(autouse=True)
def sources() -> Iterator[dict[str, dict[str, Any]]]:
    """Outside sources scripted per ID number (clean unless a test says otherwise)."""
    adapter = ScriptedSources()
    external.set_adapter(adapter)
    yield adapter.scripted
    external.set_adapter(None)


def _gid(user_id: int) -> str:
    return str(relay.GlobalID("User", str(user_id)))


async def _submit(client: httpx.AsyncClient, token: str, kind: str, id_number: str) -> str:
    files = sample_files(kind)
    operations = {
        "query": SUBMIT,
        "variables": {
            "input": {
                "kind": kind,
                "fields": [
                    {"name": k, "value": v} for k, v in sample_fields(kind, id_number).items()
                ],
                "files": [None] * len(files),
            }
        },
    }
    if files:
        mapping = {str(i): [f"variables.input.files.{i}"] for i in range(len(files))}
        response = await client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
            files={str(i): file for i, file in enumerate(files)},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = response.json()
    else:  # a kind without files: a plain JSON request
        body = await gql(client, SUBMIT, operations["variables"], token=token)
    result = body["data"]["submitVerification"]
    assert result["__typename"] == "VerificationSubmitted", result
    return str(result["verification"]["id"])


async def _review(
    client: httpx.AsyncClient, token: str, submission_id: str, decision: str, reason: str = ""
) -> dict[str, Any]:
    body = await gql(
        client, REVIEW, {"id": submission_id, "decision": decision, "reason": reason}, token=token
    )
    return dict(body["data"]["reviewVerification"])


async def _officer() -> tuple[int, str]:
    officer, phone = await create_staff("credit")
    return officer.id, await token_for(phone)


async def _member() -> tuple[int, str, str, str]:
    member, phone = await create_member()
    return member.id, phone, await token_for(phone), new_id_number()


async def _verified_member(
    client: httpx.AsyncClient,
    officer_token: str,
    sources: dict[str, dict[str, Any]],
    extra: tuple[str, ...] = (),
) -> tuple[int, str, str, str]:
    member_id, phone, token, id_number = await _member()
    sources[id_number] = dict(CLEAN_REPORTS)
    # The ID card first: the outside sources look the member up by it.
    for kind in ["ID_CARD", *[k for k in REQUIRED if k != "ID_CARD"], *extra]:
        submission = await _submit(client, token, kind, id_number)
        result = await _review(client, officer_token, submission, "APPROVE")
        assert result["__typename"] == "VerificationReviewed", (kind, result)
    return member_id, phone, token, id_number


async def test_full_path_submit_review_grade_limit(client, sources, caplog):
    caplog.set_level("DEBUG")
    _officer_id, officer_token = await _officer()
    member_id, phone, token, id_number = await _member()
    sources[id_number] = dict(CLEAN_REPORTS)

    before = (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]
    assert (before["grade"], before["limit"], before["available"]) == ("HR", "0.00", "0.00")
    assert sorted(before["missingForBorrowing"]) == sorted(REQUIRED)

    # Every item required for borrowing, then real estate (an advanced item).
    for kind in ["ID_CARD", *[k for k in REQUIRED if k != "ID_CARD"], "REAL_ESTATE"]:
        submission = await _submit(client, token, kind, id_number)
        queued = (await gql(client, QUEUE, {"status": "SUBMITTED"}, token=officer_token))["data"]
        [entry] = queued["verificationQueue"]["edges"]
        assert entry["node"]["member"] == {
            "id": _gid(member_id),
            "phone": phone[:3] + "****" + phone[-4:],
        }
        assert entry["node"]["verification"]["id"] == submission
        result = await _review(client, officer_token, submission, "APPROVE")
        assert result["__typename"] == "VerificationReviewed", (kind, result)
        assert result["verification"]["status"] == "APPROVED"

    expected_score = sum(POINTS[k] for k in REQUIRED) + POINTS["REAL_ESTATE"]
    assert expected_score == 100  # 85 for the basic items, 15 for real estate
    credit = (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]
    assert credit["score"] == 100
    assert credit["grade"] == "B"  # B starts at 100 points
    assert (credit["limit"], credit["permanentLimit"]) == ("50000.00", "50000.00")
    assert (credit["used"], credit["available"]) == ("0.00", "50000.00")
    assert credit["missingForBorrowing"] == []
    assert sum(part["points"] for part in credit["parts"]) == 100
    assert "Grade B gives 50000.00" in credit["reasons"]
    # The limit first appeared with the last required item: that change is in history.
    grade_changes = [h for h in credit["history"] if h["oldLimit"] != h["newLimit"]]
    assert grade_changes[-1]["newLimit"] != "0.00"
    assert (grade_changes[0]["newGrade"], grade_changes[0]["byStaff"]) == ("B", True)

    # The member was told of each decision (notice and SMS).
    notices = await gql(client, "{ myNotices(first: 50) { totalCount } }", token=token)
    assert notices["data"]["myNotices"]["totalCount"] >= len(REQUIRED) + 1
    await outbox.dispatch_once()

    # No plaintext ID or phone anywhere in the database, nor in the logs.
    dump = await dump_all_tables()
    assert id_number not in dump
    assert phone not in dump
    assert id_number not in caplog.text
    assert phone not in caplog.text


async def test_reject_and_request_more_need_a_reason_and_the_member_sees_it(client):
    _officer_id, officer_token = await _officer()
    _member_id, _phone, token, id_number = await _member()
    submission = await _submit(client, token, "EMAIL", id_number)

    for decision in ("REJECT", "REQUEST_MORE"):
        result = await _review(client, officer_token, submission, decision, "no")
        assert (result["__typename"], result["code"], result["field"]) == (
            "ReviewVerificationError",
            "INVALID",
            "reason",
        )
    assert await VerificationReview.all().count() == 0

    result = await _review(
        client, officer_token, submission, "REQUEST_MORE", "The address page is missing"
    )
    assert result["verification"]["status"] == "MORE_REQUESTED"
    mine = await gql(
        client, "{ myVerifications { status reviews { decision reason } } }", token=token
    )
    assert mine["data"]["myVerifications"] == [
        {
            "status": "MORE_REQUESTED",
            "reviews": [{"decision": "REQUEST_MORE", "reason": "The address page is missing"}],
        }
    ]
    # Decided once: a second decision is refused and changes nothing.
    again = await _review(client, officer_token, submission, "APPROVE")
    assert again["code"] == "NOT_REVIEWABLE"
    assert await VerificationReview.all().count() == 1

    # The member sends more; that one is approved.
    resubmitted = await _submit(client, token, "EMAIL", id_number)
    assert (await _review(client, officer_token, resubmitted, "APPROVE"))["verification"][
        "status"
    ] == "APPROVED"


async def test_a_reviewer_cannot_review_their_own_materials(client):
    _admin, admin_phone = await create_staff("admin")
    admin_token = await token_for(admin_phone)
    # Run time roles (M11.1): members are given credit review (e.g. a pilot programme).
    granted = await gql(
        client,
        """mutation { setRolePermissions(input: {role: "member", permissions: [
          "profile:read", "notices:read", "session:logout", "account:use",
          "loan:publish", "bid:place", "credit:review"]}) { __typename } }""",
        token=admin_token,
    )
    assert granted["data"]["setRolePermissions"]["__typename"] != "SetRolePermissionsError"
    _me, _phone, my_token, id_number = await _member()
    _other, _other_phone, other_token, other_id = await _member()
    mine = await _submit(client, my_token, "EMAIL", id_number)
    theirs = await _submit(client, other_token, "EMAIL", other_id)

    own = await _review(client, my_token, mine, "APPROVE")
    assert (own["__typename"], own["code"]) == ("ReviewVerificationError", "SAME_PERSON")
    assert await VerificationSubmission.filter(status="SUBMITTED").count() == 2
    other = await _review(client, my_token, theirs, "APPROVE")
    assert other["__typename"] == "VerificationReviewed"


async def test_members_see_only_their_own_credit_and_materials(client, sources):
    _officer_id, officer_token = await _officer()
    owner_id, _phone, owner_token, _id = await _verified_member(client, officer_token, sources)
    _other_id, _other_phone, other_token, _other_number = await _member()

    # The other member's own view holds nothing of the owner's.
    theirs = (await gql(client, MY_CREDIT, token=other_token))["data"]["myCredit"]
    assert (theirs["grade"], theirs["limit"], theirs["history"]) == (
        "HR",
        "0.00",
        theirs["history"],
    )
    assert all(h["newLimit"] == "0.00" for h in theirs["history"])
    assert (await gql(client, "{ myVerifications { id } }", token=other_token))["data"][
        "myVerifications"
    ] == []
    # Staff views are closed to members.
    for document, variables in (
        (MEMBER_CREDIT, {"id": _gid(owner_id)}),
        (QUEUE, {"status": "APPROVED"}),
    ):
        body = await gql(client, document, variables, token=other_token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # The owner's credit as an officer sees it equals what the owner sees.
    owner_view = (await gql(client, MY_CREDIT, token=owner_token))["data"]["myCredit"]
    officer_view = (await gql(client, MEMBER_CREDIT, {"id": _gid(owner_id)}, token=officer_token))[
        "data"
    ]["memberCredit"]
    assert officer_view == owner_view


async def test_adverse_outside_records_lower_the_score(client, sources):
    _officer_id, officer_token = await _officer()
    member_id, _phone, token, id_number = await _member()
    today = await clock.today()
    sources[id_number] = {
        **CLEAN_REPORTS,
        "court": {
            "cases": [
                {
                    "case_no": "(2025) Jing 01 Min 1",
                    "filed_on": "2025-03-01",
                    "kind": "civil",
                    "status": "closed",
                }
            ]
        },
        "credit_bureau": {
            "overdue_items": [
                {
                    "date": (today - timedelta(days=40)).isoformat(),
                    "amount_fen": 50_000,
                    "days": 35,
                    "lender": "A bank",
                },
            ],
            "outstanding_debt_fen": 8_000_000,
            "monthly_debt_payment_fen": 300_000,
        },
    }
    for kind in ["ID_CARD", *[k for k in REQUIRED if k != "ID_CARD"]]:
        submission = await _submit(client, token, kind, id_number)
        assert (await _review(client, officer_token, submission, "APPROVE"))[
            "__typename"
        ] == "VerificationReviewed"
    credit = (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]
    # 85 for the basic items, -30 for one court case, -5 for one overdue item: 50 -> HR.
    assert credit["score"] == 50
    assert credit["grade"] == "HR"
    assert credit["limit"] == "0.00"
    shown = (
        await gql(
            client,
            """{ myCredit { disclosure { monthlyIncome outstandingDebt monthlyDebtPayment
              overdueItemsLast6Months { date amount days } otherPlatformLoans { platform }
              otherPlatformsOutstanding } } }""",
            token=token,
        )
    )["data"]["myCredit"]["disclosure"]
    assert shown == {
        "monthlyIncome": "12000.00",  # from the approved bank statement
        "outstandingDebt": "80000.00",
        "monthlyDebtPayment": "3000.00",
        "overdueItemsLast6Months": [
            {"date": (today - timedelta(days=40)).isoformat(), "amount": "500.00", "days": 35}
        ],
        "otherPlatformLoans": [],
        "otherPlatformsOutstanding": "0.00",
    }
    labels = {part["label"]: part["points"] for part in credit["parts"]}
    assert labels["1 court cases on record"] == -30
    assert labels["1 overdue items on the credit report (24 months)"] == -5
    assert member_id


async def test_officer_freezes_and_unfreezes_with_history(client, sources):
    officer_id, officer_token = await _officer()
    member_id, _phone, token, _id = await _verified_member(client, officer_token, sources)
    freeze = """mutation ($id: ID!, $reason: String!) {
      freezeCreditLimit(input: {userId: $id, reason: $reason}) { __typename
        ... on CreditLimitChanged { credit { limit frozen frozenReason available } }
        ... on FreezeCreditLimitError { code field } } }"""
    unfreeze = freeze.replace("freezeCreditLimit", "unfreezeCreditLimit").replace(
        "FreezeCreditLimitError", "UnfreezeCreditLimitError"
    )
    short = await gql(client, freeze, {"id": _gid(member_id), "reason": "no"}, token=officer_token)
    assert short["data"]["freezeCreditLimit"]["code"] == "INVALID"

    body = await gql(
        client,
        freeze,
        {"id": _gid(member_id), "reason": "Seriously overdue elsewhere"},
        token=officer_token,
    )
    assert body["data"]["freezeCreditLimit"]["credit"] == {
        "limit": "0.00",
        "frozen": True,
        "frozenReason": "Seriously overdue elsewhere",
        "available": "0.00",
    }
    again = await gql(
        client, freeze, {"id": _gid(member_id), "reason": "once more"}, token=officer_token
    )
    assert again["data"]["freezeCreditLimit"]["code"] == "ALREADY_FROZEN"
    mine = (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]
    assert (mine["limit"], mine["permanentLimit"]) == ("0.00", "30000.00")

    body = await gql(
        client,
        unfreeze,
        {"id": _gid(member_id), "reason": "Paid everything back"},
        token=officer_token,
    )
    assert body["data"]["unfreezeCreditLimit"]["credit"]["limit"] == "30000.00"
    frozen, unfrozen = await CreditLimitChange.filter(kind__in=["FROZEN", "UNFROZEN"]).order_by(
        "id"
    )
    assert (frozen.old_limit_fen, frozen.new_limit_fen, frozen.actor_id) == (
        3_000_000,
        0,
        officer_id,
    )
    assert (unfrozen.old_limit_fen, unfrozen.new_limit_fen) == (0, 3_000_000)


async def test_temporary_limit_on_proof_runs_until_its_expiry(client, sources):
    officer_id, officer_token = await _officer()
    member_id, _phone, token, id_number = await _verified_member(client, officer_token, sources)
    proof = await _submit(client, token, "LABOUR_CONTRACT", id_number)
    setter = """mutation ($input: SetTemporaryCreditLimitInput!) {
      setTemporaryCreditLimit(input: $input) { __typename
        ... on CreditLimitChanged { credit { limit temporaryLimit { amount expiresOn } } }
        ... on SetTemporaryCreditLimitError { code field } } }"""
    today = await clock.today()
    expires = today + timedelta(days=30)
    payload = {
        "userId": _gid(member_id),
        "amount": "80000.00",
        "expiresOn": expires.isoformat(),
        "evidenceId": proof,
        "reason": "New labour contract, higher salary",
    }
    # The proof is not approved yet: refused, nothing changed.
    body = await gql(client, setter, {"input": payload}, token=officer_token)
    assert body["data"]["setTemporaryCreditLimit"]["code"] == "EVIDENCE_REQUIRED"
    assert (await _review(client, officer_token, proof, "APPROVE"))[
        "__typename"
    ] == "VerificationReviewed"
    for bad, code in (
        ({"amount": "200000.01"}, "INVALID"),  # above the R1 cap
        ({"expiresOn": today.isoformat()}, "INVALID"),
        ({"userId": _gid(officer_id)}, "NOT_FOUND"),  # staff have no credit
    ):
        refused = await gql(client, setter, {"input": {**payload, **bad}}, token=officer_token)
        assert refused["data"]["setTemporaryCreditLimit"]["code"] == code, bad

    body = await gql(client, setter, {"input": payload}, token=officer_token)
    assert body["data"]["setTemporaryCreditLimit"]["credit"] == {
        "limit": "80000.00",
        "temporaryLimit": {"amount": "80000.00", "expiresOn": expires.isoformat()},
    }
    # The last day it still applies; the day after it is gone, and the job records it.
    await clock.advance(days=30)
    assert (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]["limit"] == "80000.00"
    await clock.advance(days=1)
    after = (await gql(client, MY_CREDIT, token=token))["data"]["myCredit"]
    assert (after["limit"], after["temporaryLimit"]) == ("30000.00", None)
    from services.credit import manual_limits

    assert await manual_limits.end_expired_temporary_limits() == 1
    assert await manual_limits.end_expired_temporary_limits() == 0
    ended = await CreditLimitChange.get(kind="TEMPORARY_ENDED")
    assert (ended.old_limit_fen, ended.new_limit_fen, ended.actor_id) == (
        8_000_000,
        3_000_000,
        None,
    )


async def test_material_files_download_for_owner_and_officer_only_while_intact(client, storage):
    _officer_id, officer_token = await _officer()
    _member_id, _phone, token, id_number = await _member()
    _other_id, _other_phone, other_token, _other_number = await _member()
    await _submit(client, token, "LIFE_PHOTOS", id_number)
    mine = await gql(
        client, "{ myVerifications { files { id downloadPath sha256 } } }", token=token
    )
    [file] = mine["data"]["myVerifications"][0]["files"]
    [expected] = sample_files("LIFE_PHOTOS")

    for who in (token, officer_token):
        response = await client.get(
            file["downloadPath"], headers={"Authorization": f"Bearer {who}"}
        )
        assert response.status_code == 200
        assert response.content == expected[1]
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-sha256"] == file["sha256"]
        assert response.headers["cache-control"] == "no-store"
    other = await client.get(
        file["downloadPath"], headers={"Authorization": f"Bearer {other_token}"}
    )
    assert other.status_code == 404
    assert (await client.get(file["downloadPath"])).status_code == 401
    assert (
        await client.get("/materials/999999", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 404

    # A changed byte on disk: never served again.
    row = await MaterialFile.get(id=int(file["id"]))
    path = storage.root / row.storage_key[:2] / row.storage_key
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"tampered")
    tampered = await client.get(
        file["downloadPath"], headers={"Authorization": f"Bearer {officer_token}"}
    )
    assert (tampered.status_code, tampered.json()["problem"]) == (409, "FILE_CHANGED")
