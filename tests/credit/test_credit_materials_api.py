"""M1.2, M2.1-M2.3, D4: verification materials through a real multipart request, stored,
hashed and signed; tampering with the file or its record is detected; invalid
submissions store nothing; members see only their own; no plaintext personal data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.credit import MaterialFile, VerificationSubmission
from services.credit import materials
from services.credit.catalogue import CATALOGUE, MB, Tier
from services.errors import NotFoundError
from services.identity.permissions import Actor
from services.kit import signing
from services.kit.storage import LocalStorage, set_storage
from tests.factories import (
    create_member,
    create_staff,
    dump_all_tables,
    gql,
    new_id_number,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SUBMIT = """mutation ($input: SubmitVerificationInput!) {
  submitVerification(input: $input) {
    __typename
    ... on VerificationSubmitted { verification { id kind status
      fields { name value personal }
      files { id filename contentType size sha256 signature } } }
    ... on SubmitVerificationError { code field message } } }"""
MINE = "{ myVerifications { id kind fields { name value personal } files { id sha256 } } }"
VERIFY = "query ($id: ID!) { verifyMaterial(fileId: $id) { fileId valid problem } }"
KINDS = """{ verificationKinds { code tier score fileTypes maxFiles maxFileBytes
  requiredForBorrowing requiredForLending fields { name required personal } } }"""

PNG = b"\x89PNG\r\n\x1a\n"
FRONT = PNG + b"front of the ID card" * 50
BACK = PNG + b"back of the ID card" * 60
REAL_NAME = "Zhou Xiaoming"


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


def _stored_files(store: LocalStorage) -> list[Path]:
    return [path for path in store.root.rglob("*") if path.is_file()]


async def _multipart(
    client: httpx.AsyncClient,
    token: str,
    kind: str,
    fields: dict[str, str],
    files: list[tuple[str, bytes, str]],
) -> dict[str, Any]:
    """The GraphQL multipart request spec: `operations`, `map`, then one part per file."""
    operations = {
        "query": SUBMIT,
        "variables": {
            "input": {
                "kind": kind,
                "fields": [{"name": k, "value": v} for k, v in fields.items()],
                "files": [None] * len(files),
            }
        },
    }
    mapping = {str(i): [f"variables.input.files.{i}"] for i in range(len(files))}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={str(i): file for i, file in enumerate(files)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["submitVerification"]


async def _submit_id_card(client, token: str, id_number: str) -> dict[str, Any]:
    result = await _multipart(
        client,
        token,
        "ID_CARD",
        {"realName": REAL_NAME, "idNumber": id_number},
        [("front.png", FRONT, "image/png"), ("back.png", BACK, "image/png")],
    )
    assert result["__typename"] == "VerificationSubmitted", result
    return result["verification"]


async def _reviewer_token() -> str:
    _staff, phone = await create_staff("credit")
    return await token_for(phone)


async def test_catalogue_lists_every_kind_of_m2(client):
    kinds = (await gql(client, KINDS))["data"]["verificationKinds"]
    assert {k["code"] for k in kinds} == set(CATALOGUE)
    assert len(kinds) == 25
    tiers = {tier: {c for c, k in CATALOGUE.items() if k.tier == tier} for tier in Tier}
    assert len(tiers[Tier.BASIC]) == 10
    assert len(tiers[Tier.ADVANCED]) == 8
    assert len(tiers[Tier.SUPPLEMENTARY]) == 7
    id_card = next(k for k in kinds if k["code"] == "ID_CARD")
    assert id_card["requiredForBorrowing"]
    assert id_card["requiredForLending"]
    assert {"name": "idNumber", "required": True, "personal": True} in id_card["fields"]
    assert id_card["fileTypes"] == ["image/jpeg", "image/png"]


async def test_member_submits_id_card_by_multipart_and_sees_it_masked(client, storage):
    _user, phone = await create_member()
    token = await token_for(phone)
    id_number = new_id_number()

    verification = await _submit_id_card(client, token, id_number)

    assert verification["kind"] == "ID_CARD"
    assert verification["status"] == "SUBMITTED"
    values = {f["name"]: f for f in verification["fields"]}
    assert values["idNumber"] == {
        "name": "idNumber",
        "value": f"{id_number[:3]}***********{id_number[-4:]}",
        "personal": True,
    }
    assert values["realName"]["value"] == "Z" + "*" * (len(REAL_NAME) - 1)
    files = verification["files"]
    assert [(f["filename"], f["contentType"], f["size"]) for f in files] == [
        ("front.png", "image/png", len(FRONT)),
        ("back.png", "image/png", len(BACK)),
    ]
    assert [f["sha256"] for f in files] == [
        hashlib.sha256(FRONT).hexdigest(),
        hashlib.sha256(BACK).hexdigest(),
    ]
    # What is on disk is exactly what was uploaded, and the platform signed its record.
    for uploaded, file in zip((FRONT, BACK), files, strict=True):
        row = await MaterialFile.get(id=int(file["id"])).prefetch_related("submission")
        on_disk = storage.path_for(row.storage_key).read_bytes()
        assert on_disk == uploaded
        assert hashlib.sha256(on_disk).hexdigest() == file["sha256"]
        payload = f"{row.sha256}:{row.size}:{row.submission_id}:{row.submission.user_id}"
        assert signing.verify(payload.encode(), file["signature"])

    mine = (await gql(client, MINE, token=token))["data"]["myVerifications"]
    assert [m["id"] for m in mine] == [verification["id"]]
    assert id_number not in json.dumps(mine)

    checked = await gql(client, VERIFY, {"id": files[0]["id"]}, token=await _reviewer_token())
    assert checked["data"]["verifyMaterial"] == {
        "fileId": files[0]["id"],
        "valid": True,
        "problem": None,
    }

    # No table (submissions, files, operation log...) holds the ID number in clear.
    dump = await dump_all_tables()
    assert id_number not in dump
    assert REAL_NAME not in dump
    assert "***********" in dump  # the masked copy is there


async def test_changed_file_and_changed_record_are_detected(client, storage):
    _user, phone = await create_member()
    verification = await _submit_id_card(client, await token_for(phone), new_id_number())
    file_id = verification["files"][0]["id"]
    reviewer = await _reviewer_token()
    row = await MaterialFile.get(id=int(file_id))
    path = storage.path_for(row.storage_key)

    async def check() -> dict[str, Any]:
        return (await gql(client, VERIFY, {"id": file_id}, token=reviewer))["data"][
            "verifyMaterial"
        ]

    assert (await check())["valid"] is True

    original = path.read_bytes()
    path.write_bytes(original[:-1] + b"!")  # one byte changed on disk
    assert await check() == {"fileId": file_id, "valid": False, "problem": "FILE_CHANGED"}
    path.write_bytes(original)
    assert (await check())["valid"] is True

    # Someone rewrites the record to match a replaced file: the signature no longer holds.
    forged = hashlib.sha256(b"another file").hexdigest()
    await MaterialFile.filter(id=row.id).update(sha256=forged)
    assert await check() == {"fileId": file_id, "valid": False, "problem": "RECORD_CHANGED"}
    await MaterialFile.filter(id=row.id).update(sha256=row.sha256)
    assert (await check())["valid"] is True

    path.unlink()
    assert await check() == {"fileId": file_id, "valid": False, "problem": "MISSING_FILE"}


@pytest.mark.parametrize(
    ("kind", "fields", "files", "field"),
    [
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME},
            [("a.png", FRONT, "image/png"), ("b.pdf", b"%PDF-1.4 not an image", "application/pdf")],
            "files",
            id="wrong-type",
        ),
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME},
            [("a.png", FRONT, "image/png"), ("b.png", b"GIF89a pretending", "image/png")],
            "files",
            id="content-not-the-declared-type",
        ),
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME},
            [("a.png", FRONT, "image/png"), ("big.png", PNG + b"\0" * (5 * MB), "image/png")],
            "files",
            id="oversized",
        ),
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME},
            [(f"{i}.png", FRONT, "image/png") for i in range(5)],
            "files",
            id="too-many",
        ),
        pytest.param(
            "NO_SUCH_KIND", {}, [("a.png", FRONT, "image/png")], "kind", id="unknown-kind"
        ),
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME},
            [("a.png", FRONT, "image/png"), ("b.png", BACK, "image/png")],
            "idNumber",
            id="missing-required-field",
        ),
        pytest.param(
            "ID_CARD",
            {"realName": REAL_NAME, "idNumber": "110101199001011234"},
            [("a.png", FRONT, "image/png"), ("b.png", BACK, "image/png")],
            "idNumber",
            id="bad-check-character",
        ),
    ],
)
async def test_invalid_submission_is_a_typed_error_and_stores_nothing(
    client, storage, kind, fields, files, field
):
    _user, phone = await create_member()
    token = await token_for(phone)
    if field != "idNumber":
        fields = {**fields, "idNumber": new_id_number()}

    result = await _multipart(client, token, kind, fields, files)

    assert result["__typename"] == "SubmitVerificationError", result
    assert (result["code"], result["field"]) == ("INVALID", field)
    assert await VerificationSubmission.all().count() == 0
    assert await MaterialFile.all().count() == 0
    assert _stored_files(storage) == []


async def test_another_member_cannot_see_the_submission(client):
    owner, owner_phone = await create_member()
    verification = await _submit_id_card(client, await token_for(owner_phone), new_id_number())
    submission_id = int(verification["id"])
    other, other_phone = await create_member()

    assert (await gql(client, MINE, token=await token_for(other_phone)))["data"][
        "myVerifications"
    ] == []
    with pytest.raises(NotFoundError):
        await materials.get(Actor(user_id=other.id, kind="member"), submission_id)
    # The owner, and a verification officer (credit:review), may read it.
    own = await materials.get(Actor(user_id=owner.id, kind="member"), submission_id)
    assert own.id == submission_id
    officer, _phone = await create_staff("credit")
    reviewer = Actor(user_id=officer.id, kind="staff", permissions=frozenset({"credit:review"}))
    assert (await materials.get(reviewer, submission_id)).id == submission_id


async def test_failed_transaction_removes_the_stored_files(storage, monkeypatch):
    owner, _phone = await create_member()

    async def broken(**_kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(MaterialFile, "create", broken)
    with pytest.raises(RuntimeError):
        await materials.submit(
            Actor(user_id=owner.id, kind="member"),
            "LIFE_PHOTOS",
            {},
            [("a.png", "image/png", FRONT), ("b.png", "image/png", BACK)],
        )
    assert await VerificationSubmission.all().count() == 0
    assert _stored_files(storage) == []


async def test_storage_never_overwrites(storage):
    first = await storage.put(b"one")
    second = await storage.put(b"one")
    assert first != second
    assert await storage.get(first) == b"one"
    assert await storage.get(second) == b"one"
