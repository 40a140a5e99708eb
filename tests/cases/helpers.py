"""What the service case tests share: the documents, multipart uploads, the state a
refused call must leave as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from models.cases import CaseAttachment, CaseMessage, ServiceCase
from models.messaging import Notice, OutgoingMessage
from services.kit.storage import LocalStorage
from tests.factories import create_member, create_staff, gql, token_for

PDF = b"%PDF-1.7\n" + b"statement of 3 November, the repayment taken twice " * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"a screenshot of the app " * 50

CASE = """id memberId kind subject status level assigneeId loanId movementId openedAt dueAt
  sla breaches firstAnsweredAt closedAt resolution reopened rating
  messages { entry authorId text attachments { filename contentType size sha256 verified } }"""


def mutation(name: str, input_type: str) -> str:
    return f"""mutation ($input: {input_type}!) {{ {name}(input: $input) {{ __typename
  ... on ServiceCaseSaved {{ case {{ {CASE} }} }}
  ... on {name[0].upper()}{name[1:]}Error {{ code field message }} }} }}"""


OPEN = mutation("openServiceCase", "OpenServiceCaseInput")
ANSWER = mutation("answerServiceCase", "AnswerServiceCaseInput")
ASSIGN = mutation("assignServiceCase", "AssignServiceCaseInput")
ESCALATE = mutation("escalateServiceCase", "EscalateServiceCaseInput")
CLOSE = mutation("closeServiceCase", "CloseServiceCaseInput")
REOPEN = mutation("reopenServiceCase", "ReopenServiceCaseInput")
RATE = mutation("rateServiceCase", "RateServiceCaseInput")
CASES = f"""query ($caseId: ID, $status: ServiceCaseStatus, $kind: ServiceCaseKind,
  $assigneeId: ID, $level: Int, $breaching: Boolean, $first: Int, $after: String) {{
  serviceCases(caseId: $caseId, status: $status, kind: $kind, assigneeId: $assigneeId,
    level: $level, breaching: $breaching, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {CASE} }} }} }} }}"""
NOTICES = "{ myNotices(first: 20) { totalCount edges { node { kind title body } } } }"


class Person:
    """A user and their token."""

    def __init__(self, user: Any, phone: str, token: str) -> None:
        self.user = user
        self.id = user.id
        self.phone = phone
        self.token = token


async def member(name: str = "Case Member") -> Person:
    user, phone = await create_member(name=name)
    return Person(user, phone, await token_for(phone))


async def staff(*roles: str) -> Person:
    user, phone = await create_staff(*roles)
    return Person(user, phone, await token_for(phone))


async def call(
    client: httpx.AsyncClient, who: Person, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Run a document as `who`; the answer's data (no top-level errors allowed)."""
    body = await gql(client, query, variables, token=who.token)
    assert "errors" not in body, body
    return dict(body["data"])


async def act(
    client: httpx.AsyncClient, who: Person, query: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """A case mutation with `fields` as its input: the union member it answered with."""
    data = await call(client, who, query, {"input": fields})
    return dict(next(iter(data.values())))


async def listed(client: httpx.AsyncClient, who: Person, **filters: Any) -> dict[str, Any]:
    return dict((await call(client, who, CASES, filters))["serviceCases"])


async def multipart(
    client: httpx.AsyncClient,
    who: Person,
    query: str,
    fields: dict[str, Any],
    files: list[tuple[str, bytes, str]],
) -> dict[str, Any]:
    """A case mutation with files in `attachments` (GraphQL multipart request spec)."""
    variables = {"input": {**fields, "attachments": [None] * len(files)}}
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps(
                {str(i): [f"variables.input.attachments.{i}"] for i in range(len(files))}
            ),
        },
        files={str(i): file for i, file in enumerate(files)},
        headers={"Authorization": f"Bearer {who.token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(next(iter(body["data"].values())))


async def case_notices(client: httpx.AsyncClient, who: Person) -> list[tuple[str, str]]:
    """The case notices of `who` (kind, title), newest first (not the welcome one)."""
    data = await call(client, who, NOTICES, {})
    found = [(edge["node"]["kind"], edge["node"]["title"]) for edge in data["myNotices"]["edges"]]
    return [(kind, title) for kind, title in found if kind.startswith("SERVICE_CASE")]


def stored_files(store: LocalStorage) -> list[Path]:
    return [path for path in store.root.rglob("*") if path.is_file()]


async def state() -> dict[str, Any]:
    """Everything a case call could change."""
    return {
        "cases": sorted(
            await ServiceCase.all().values_list(
                "id", "status", "level", "assignee_id", "due_at", "rating", "reopened"
            )
        ),
        "messages": sorted(await CaseMessage.all().values_list("id", "case_id", "text")),
        "attachments": await CaseAttachment.all().count(),
        "notices": await Notice.all().count(),
        "outgoing": await OutgoingMessage.all().count(),
    }
