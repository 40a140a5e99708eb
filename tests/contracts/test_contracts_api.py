"""M3.3-M3.6 through the API: the borrower signs by SMS code, anyone verifies a file or
a hash, only parties and permitted staff see and download a contract, staff e-mail it
(retried, failures visible) and the admin versions the templates."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.contracts import ConsentMethod, Contract, ContractConsent, ContractEmail
from models.messaging import SmsCode
from services.contracts import create_loan_contract, emails, record_consent
from services.kit.storage import LocalStorage, set_storage
from services.platform import notices
from services.platform.clock import system_now
from tests.factories import (
    BORROWER_NAME,
    LENDER_NAMES,
    SmtpServer,
    approve_email,
    create_member,
    create_staff,
    full_loan_data,
    gql,
    pdf_text,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARTY_FIELDS = "role nameMasked idMasked amount signedAt method clientIp"
CONTRACT_FIELDS = (
    "id number kind status title templateVersion loanRef amount sha256 signature signedAt"
    " retainUntil downloadPath parties { " + PARTY_FIELDS + " }"
)
CONTRACT = "query ($id: ID!) { contract(id: $id) { " + CONTRACT_FIELDS + " } }"
CONTRACTS = "{ contracts(first: 10) { totalCount edges { node { id number } } } }"
REQUEST = """mutation ($id: ID!) { requestContractSignature(input: {contractId: $id}) {
  __typename
  ... on ContractSignatureRequested { phone contract { id status } }
  ... on RequestContractSignatureError { code field message } } }"""
SIGN = (
    """mutation ($id: ID!, $code: String!) { signContract(input: {contractId: $id, code: $code}) {
  __typename
  ... on ContractSigned { contract { """
    + CONTRACT_FIELDS
    + """ } }
  ... on SignContractError { code field message } } }"""
)
VERIFY_FIELDS = (
    "valid sha256 contractNumber kind signedAt signature platformPublicKey"
    " signers { role nameMasked method at }"
)
VERIFY_HASH = "query ($sha: String) { verifyContract(sha256: $sha) { " + VERIFY_FIELDS + " } }"
VERIFY_FILE = "query ($file: Upload) { verifyContract(file: $file) { " + VERIFY_FIELDS + " } }"
EMAIL = """mutation ($id: ID!) { emailContract(input: {contractId: $id, to: PARTIES}) {
  __typename
  ... on ContractEmailed { emails { id recipient status attempts } skipped { role nameMasked } }
  ... on EmailContractError { code field message } } }"""
EMAILS = """query ($status: ContractEmailStatus) { contractEmails(status: $status) {
  totalCount edges { node { id contractId recipient status attempts lastError nextAttemptAt
  sentAt } } } }"""


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


async def _contract_with_borrower(loan_id: int = 1) -> tuple[Contract, Any, str]:
    """A loan contract whose lenders have consented by their bids; returns it, its data
    and the borrower's token."""
    borrower, phone = await create_member(name="Borrower")
    data = await full_loan_data(loan_id=loan_id, borrower=borrower)
    contract = await create_loan_contract(data)
    for index, lender in enumerate(data.lenders, start=1):
        await record_consent(
            contract_id=contract.id,
            user_id=lender.user_id,
            method=ConsentMethod.BID_CONFIRMATION,
            client_ip="10.0.0.1",
            reference=f"bid:{index}",
        )
    return contract, data, await token_for(phone)


async def _latest_code() -> str:
    body = (await notices.latest_messages(limit=1))[0].body
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None, body
    return found[1]


async def _verify_file(client: httpx.AsyncClient, document: bytes) -> dict[str, Any]:
    operations = {"query": VERIFY_FILE, "variables": {"file": None}}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("contract.pdf", document, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"]["verifyContract"])


async def _download(client: httpx.AsyncClient, contract_id: int, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(f"/contracts/{contract_id}.pdf", headers=headers)


async def _state(contract_id: int) -> tuple[Any, ...]:
    contract = await Contract.get(id=contract_id)
    consents = await ContractConsent.filter(contract_id=contract_id).count()
    return contract.status, contract.signature, contract.signed_at, consents


async def test_the_borrower_signs_by_sms_and_anyone_verifies_the_file(client):
    contract, data, token = await _contract_with_borrower()
    assert (await Contract.get(id=contract.id)).status == "SIGNING"

    requested = (await gql(client, REQUEST, {"id": str(contract.id)}, token=token))["data"]
    assert requested["requestContractSignature"]["__typename"] == "ContractSignatureRequested"
    assert "****" in requested["requestContractSignature"]["phone"]
    code = await _latest_code()
    wrong = "000000" if code != "000000" else "111111"

    before = await _state(contract.id)
    refused = await gql(client, SIGN, {"id": str(contract.id), "code": wrong}, token=token)
    assert refused["data"]["signContract"]["__typename"] == "SignContractError"
    assert refused["data"]["signContract"]["code"] == "CODE_INVALID"
    assert await _state(contract.id) == before

    signed = await gql(client, SIGN, {"id": str(contract.id), "code": code}, token=token)
    result = signed["data"]["signContract"]
    assert result["__typename"] == "ContractSigned", result
    shown = result["contract"]
    assert (shown["status"], shown["amount"], shown["kind"]) == ("SIGNED", "10000.00", "LOAN")
    assert shown["signature"]
    assert shown["signedAt"]
    assert shown["retainUntil"] == "2032-11-29"
    assert [(p["role"], p["nameMasked"], p["amount"], p["method"]) for p in shown["parties"]] == [
        ("BORROWER", BORROWER_NAME, None, "SMS_CODE"),
        ("LENDER", LENDER_NAMES[0], "3333.33", "BID_CONFIRMATION"),
        ("LENDER", LENDER_NAMES[1], "3333.33", "BID_CONFIRMATION"),
        ("LENDER", LENDER_NAMES[2], "3333.34", "BID_CONFIRMATION"),
    ]
    # The borrower sees the address of their own consent only.
    assert [p["clientIp"] for p in shown["parties"]] == ["127.0.0.1", None, None, None]

    again = await gql(client, REQUEST, {"id": str(contract.id)}, token=token)
    assert again["data"]["requestContractSignature"]["code"] == "ALREADY_SIGNED"

    download = await _download(client, contract.id, token)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    document = download.content
    assert shown["sha256"] == download.headers["x-content-sha256"]
    assert data.lenders[2].id_masked in pdf_text(document)

    by_file = await _verify_file(client, document)
    assert by_file["valid"] is True
    assert (by_file["contractNumber"], by_file["kind"]) == (contract.number, "LOAN")
    assert [(s["role"], s["nameMasked"], s["method"]) for s in by_file["signers"]] == [
        ("LENDER", LENDER_NAMES[0], "BID_CONFIRMATION"),
        ("LENDER", LENDER_NAMES[1], "BID_CONFIRMATION"),
        ("LENDER", LENDER_NAMES[2], "BID_CONFIRMATION"),
        ("BORROWER", BORROWER_NAME, "SMS_CODE"),
    ]
    by_hash = (await gql(client, VERIFY_HASH, {"sha": shown["sha256"]}))["data"]
    assert by_hash["verifyContract"] == by_file

    changed = bytearray(document)
    changed[100] ^= 0x20
    tampered = await _verify_file(client, bytes(changed))
    assert tampered["valid"] is False
    assert (tampered["contractNumber"], tampered["signers"]) == (None, [])
    refused_input = await gql(client, VERIFY_HASH, {"sha": "nope"})
    assert refused_input["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_expired_code_changes_nothing(client):
    contract, _data, token = await _contract_with_borrower()
    await gql(client, REQUEST, {"id": str(contract.id)}, token=token)
    code = await _latest_code()
    await SmsCode.all().update(expires_at=system_now() - timedelta(seconds=1))
    before = await _state(contract.id)

    body = await gql(client, SIGN, {"id": str(contract.id), "code": code}, token=token)

    assert body["data"]["signContract"]["code"] == "CODE_EXPIRED"
    assert await _state(contract.id) == before
    assert before[0] == "SIGNING"


async def test_only_parties_and_permitted_staff_see_and_download(client):
    contract, _data, borrower_token = await _contract_with_borrower()
    _other, other_phone = await create_member()
    other_token = await token_for(other_phone)
    _cs, cs_phone = await create_staff("cs")
    cs_token = await token_for(cs_phone)
    _credit, credit_phone = await create_staff("credit")
    credit_token = await token_for(credit_phone)
    variables = {"id": str(contract.id)}

    mine = await gql(client, CONTRACT, variables, token=borrower_token)
    assert mine["data"]["contract"]["number"] == contract.number
    own_list = (await gql(client, CONTRACTS, token=borrower_token))["data"]["contracts"]
    assert [e["node"]["number"] for e in own_list["edges"]] == [contract.number]

    for token in (other_token, credit_token):  # another member; staff without the permission
        assert (await gql(client, CONTRACT, variables, token=token))["data"]["contract"] is None
        listed = (await gql(client, CONTRACTS, token=token))["data"]["contracts"]
        assert listed == {"totalCount": 0, "edges": []}
        assert (await _download(client, contract.id, token)).status_code == 404
    refused = await gql(client, REQUEST, variables, token=other_token)
    assert refused["data"]["requestContractSignature"]["code"] == "NOT_FOUND"
    assert (await _download(client, contract.id, None)).status_code == 401
    assert (await _download(client, 999_999, borrower_token)).status_code == 404

    staff = await gql(client, CONTRACT, variables, token=cs_token)
    assert staff["data"]["contract"]["number"] == contract.number
    assert [p["clientIp"] for p in staff["data"]["contract"]["parties"]][1:] == ["10.0.0.1"] * 3
    assert (await gql(client, CONTRACTS, token=cs_token))["data"]["contracts"]["totalCount"] == 1
    download = await _download(client, contract.id, cs_token)
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF-")


async def test_a_changed_archive_is_not_served(client, storage):
    contract, _data, token = await _contract_with_borrower()
    path = storage.path_for(contract.storage_key)
    path.write_bytes(path.read_bytes().replace(b"%PDF-", b"%PDF~", 1))

    response = await _download(client, contract.id, token)

    assert response.status_code == 409
    assert response.json()["error"] == "integrity check failed"


async def _wait_for(check: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_staff_email_a_contract_and_see_failures_until_it_is_sent(client):
    contract, data, borrower_token = await _contract_with_borrower()
    await approve_email(data.borrower.user_id, "borrower@example.com")
    _cs, cs_phone = await create_staff("cs")
    cs_token = await token_for(cs_phone)

    async def attempted() -> bool:
        return await ContractEmail.filter(attempts__gte=1).exists()

    with SmtpServer(refuse=1) as server:
        body = await gql(client, EMAIL, {"id": str(contract.id)}, token=cs_token)
        queued = body["data"]["emailContract"]
        assert queued["__typename"] == "ContractEmailed", queued
        assert [(e["recipient"], e["status"]) for e in queued["emails"]] == [
            ("b***@example.com", "PENDING")
        ]
        assert [p["nameMasked"] for p in queued["skipped"]] == list(LENDER_NAMES)
        await _wait_for(attempted)  # the outbox dispatcher makes the first attempt

        failed = (await gql(client, EMAILS, {"status": "FAILED"}, token=cs_token))["data"]
        [node] = [edge["node"] for edge in failed["contractEmails"]["edges"]]
        assert (node["status"], node["attempts"]) == ("FAILED", 1)
        assert "451" in node["lastError"]
        assert node["nextAttemptAt"] is not None

        assert await emails.retry_due(now=system_now() + timedelta(minutes=2)) == 1

    sent = (await gql(client, EMAILS, {"status": "SENT"}, token=cs_token))["data"]
    [node] = [edge["node"] for edge in sent["contractEmails"]["edges"]]
    assert (node["status"], node["attempts"], node["lastError"]) == ("SENT", 2, "")
    [message] = server.messages
    [attachment] = list(message.iter_attachments())
    document = (await _download(client, contract.id, borrower_token)).content
    assert attachment.get_content() == document


TEMPLATES = "query ($kind: ContractKind) { contractTemplates(kind: $kind) { kind version title } }"
PUBLISH = """mutation ($kind: ContractKind!, $title: String!, $body: String!) {
  publishContractTemplate(input: {kind: $kind, title: $title, body: $body}) {
    __typename
    ... on ContractTemplatePublished { template { kind version title placeholders } }
    ... on PublishContractTemplateError { code field message } } }"""


async def test_the_admin_publishes_a_new_template_version(client):
    _admin, phone = await create_staff("admin")
    token = await token_for(phone)

    listed = (await gql(client, TEMPLATES, token=token))["data"]["contractTemplates"]
    assert sorted((t["kind"], t["version"]) for t in listed) == [
        ("CLAIM_TRANSFER", 1),
        ("GUARANTEE", 1),
        ("LOAN", 1),
    ]
    bad = await gql(
        client,
        PUBLISH,
        {"kind": "LOAN", "title": "Loan v2", "body": "# Loan $number\n\n$nonsense"},
        token=token,
    )
    assert bad["data"]["publishContractTemplate"]["code"] == "INVALID"
    assert bad["data"]["publishContractTemplate"]["field"] == "body"

    good = await gql(
        client,
        PUBLISH,
        {"kind": "LOAN", "title": "Loan v2", "body": "# Loan $number\n\n@lenders\n\n@schedule"},
        token=token,
    )
    template = good["data"]["publishContractTemplate"]["template"]
    assert (template["version"], template["title"]) == (2, "Loan v2")
    assert "amount" in template["placeholders"]
    versions = (await gql(client, TEMPLATES, {"kind": "LOAN"}, token=token))["data"]
    assert [t["version"] for t in versions["contractTemplates"]] == [2, 1]

    contract = await create_loan_contract(await full_loan_data(loan_id=77))
    assert (contract.template_version, contract.title) == (2, "Loan v2")
