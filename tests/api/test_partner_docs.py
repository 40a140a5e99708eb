"""The partner documentation (docs/partner-api.md, issue 18): generated from the persisted
documents and the schema, committed up to date, and for any operation it documents the
variables (an input object's fields), the result fields with their types, and example
requests that the platform accepts as written."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, parse
from graphql.execution.values import get_variable_values

from app import create_app
from schema.build import build_schema
from schema.documents import manifest, partner_docs
from services.kit.settings import Environment, Settings, get_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARKET = """\
# Listed loans for Acme's widget,
# newest first.
#
# Amounts are strings.
query AcmeMarket($filter: LoanFilter!, $first: Int = 5) {
  loans(filter: $filter, first: $first) {
    totalCount
    edges { node { ...Card } }
  }
}

fragment Card on Loan { id amount progress { funded secondsLeft } }
"""
LINK = """\
mutation AcmeLink($input: CreateDownloadLinkInput!) {
  createDownloadLink(input: $input) {
    __typename
    ... on DownloadLinkCreated { url expiresAt }
    ... on CreateDownloadLinkError { code field }
  }
}
"""


def _schema() -> GraphQLSchema:
    return build_schema(Settings(app_env=Environment.DEV))._schema


def _synthetic(tmp_path: Path) -> Path:
    """Two sets written in reverse order of their names: `zeta` (a mutation), `acme`."""
    for set_name, name, body in [("zeta", "AcmeLink", LINK), ("acme", "AcmeMarket", MARKET)]:
        (tmp_path / set_name).mkdir()
        (tmp_path / set_name / f"{name}.graphql").write_text(body, encoding="utf-8")
    return tmp_path


def _section(text: str, name: str) -> str:
    """One operation's part of the documentation: its heading up to the next heading of
    its level or above."""
    start = text.index(f"### `{name}`")
    end = re.search(r"^#{2,3} ", text[start + 4 :], re.MULTILINE)
    return text[start : start + 4 + end.start()] if end else text[start:]


def _post_body(section: str) -> dict[str, Any]:
    """The JSON that the POST example's curl sends, read as the shell would."""
    line = next(line for line in section.splitlines() if line.startswith("  -d '"))
    data: dict[str, Any] = json.loads(shlex.split(line)[1])
    return data


def _get_query(section: str) -> dict[str, list[str]] | None:
    url = re.search(r'curl -s -i "\$LENDBRIDGE_URL(/graphql\?[^"]+)"', section)
    return None if url is None else parse_qs(urlsplit(url.group(1)).query)


def _definition(body: str) -> OperationDefinitionNode:
    return next(d for d in parse(body).definitions if isinstance(d, OperationDefinitionNode))


async def test_the_committed_partner_docs_match_the_graphql_files_and_the_schema():
    on_disk = partner_docs.DOCS_FILE.read_text(encoding="utf-8")
    assert on_disk == partner_docs.render(_schema()), (
        "docs/partner-api.md is stale: run `.venv/bin/python -m app persisted docs`"
    )


async def test_every_committed_example_is_accepted_by_the_schema_and_names_its_document():
    schema = _schema()
    text = partner_docs.DOCS_FILE.read_text(encoding="utf-8")
    operations = manifest.read_documents()
    assert operations
    for operation in operations:
        section = _section(text, operation.name)
        body = _post_body(section)
        assert body["documentId"] == f"sha256:{hashlib.sha256(operation.body.encode()).hexdigest()}"
        definition = _definition(operation.body)
        coerced = get_variable_values(
            schema, definition.variable_definitions or (), body["variables"]
        )
        assert not isinstance(coerced, list), (operation.name, coerced)
        query = _get_query(section)
        if operation.type == "query":
            assert query is not None
            assert query["documentId"] == [body["documentId"]]
            assert json.loads(query["variables"][0]) == body["variables"]
        else:
            assert query is None


async def test_a_query_documents_its_variables_result_fields_and_requests(tmp_path):
    text = partner_docs.render(_schema(), _synthetic(tmp_path))
    section = _section(text, "AcmeMarket")
    doc_id = hashlib.sha256(MARKET.encode()).hexdigest()

    assert section.startswith(
        "### `AcmeMarket` (query)\n\n"
        "Listed loans for Acme's widget, newest first.\n\nAmounts are strings.\n\n"
        f"Id: `sha256:{doc_id}`\n"
    )
    # Variables: the input object's fields with their types, requirement and text.
    assert (
        "- `$filter`: `LoanFilter!` (required) — passed as `loans(filter)`.\n"
        "  - `status`: `LoanStatus` (optional, default `null`) — Default LISTED. Only loans "
        "that were listed are shown. One of `DRAFT`, `PENDING_REVIEW`,"
    ) in section
    assert (
        "  - `minRate`: `Rate` (optional, default `null`) — Lowest annual rate.\n"
        "  - `maxRate`: `Rate` (optional, default `null`) — Highest annual rate.\n"
        "  - `minTerm`: `Int` (optional, default `null`) — Shortest term.\n"
        "  - `maxTerm`: `Int` (optional, default `null`) — Longest term.\n"
        "- `$first`: `Int` (optional, default `5`) — passed as `loans(first)`.\n"
    ) in section
    # Result: nested by level, the fragment's fields in place, each with type and text.
    assert (
        "- `loans(filter: $filter, first: $first)`: `LoanConnection!` — The marketplace: "
        "listed loans, newest first, filtered.\n"
        "  - `totalCount`: `Int!`\n"
        "  - `edges`: `[LoanEdge!]!`\n"
        "    - `node`: `Loan!` — A loan request and the loan it becomes.\n"
        "      - `id`: `ID!` — Loan id.\n"
        "      - `amount`: `Money!` — Asked for.\n"
        "      - `progress`: `LoanProgress!` — Funding progress.\n"
        "        - `funded`: `Money!` — Bid so far.\n"
        "        - `secondsLeft`: `Int` — Until bidding closes (0 once closed); null when "
        "not listed.\n"
    ) in section
    # Requests: the id in the POST body, rates as four-place strings, the same by GET.
    variables = {
        "filter": {"minRate": "0.1200", "maxRate": "0.1200", "minTerm": 12, "maxTerm": 12},
        "first": 5,
    }
    assert _post_body(section) == {"documentId": f"sha256:{doc_id}", "variables": variables}
    assert f'  -d \'{{"documentId":"sha256:{doc_id}","variables":' in section
    assert _get_query(section) == {
        "documentId": [f"sha256:{doc_id}"],
        "variables": [json.dumps(variables, separators=(",", ":"))],
    }
    assert f"documentId=sha256%3A{doc_id}&variables=%7B%22filter%22" in section
    assert "If-None-Match" in section


async def test_a_mutation_gets_its_nested_inputs_union_members_and_no_get_example(tmp_path):
    schema = _schema()
    text = partner_docs.render(schema, _synthetic(tmp_path))
    section = _section(text, "AcmeLink")
    doc_id = hashlib.sha256(LINK.encode()).hexdigest()

    assert section.startswith(f"### `AcmeLink` (mutation)\n\nId: `sha256:{doc_id}`\n")
    assert (
        "- `$input`: `CreateDownloadLinkInput!` (required) — passed as "
        "`createDownloadLink(input)`.\n"
        "  - `kind`: `DownloadKind!` (required) — What to download. One of `CONTRACT`, "
        "`MATERIAL`, `COLLATERAL_DOCUMENT`, `SERVICE_CASE_ATTACHMENT`, `TRANSACTIONS_CSV`, "
        "`MY_DATA_JSON`, "
        "`PLATFORM_FIGURES_CSV`, `RISK_FIGURES_CSV`, `PLATFORM_RETURNS_CSV`, `OVERDUE_LOANS_CSV`, "
        "`FUND_TRANSACTIONS_CSV`.\n"
        "  - `id`: `ID` (optional, default `null`) — The contract's or file's id; none for "
        "the CSV kinds.\n"
        "  - `filter`: `TransactionFilterInput` (optional, default `null`) — TRANSACTIONS_CSV: "
        "which movements; FUND_TRANSACTIONS_CSV: which transactions (kinds: journal kinds; "
        "from/to: business dates).\n"
        "    - `kinds`: `[String!]` (optional, default `null`) — Event kinds.\n"
        "    - `from`: `Date` (optional, default `null`) — First day (UTC), inclusive.\n"
    ) in section
    assert (
        "  - `__typename`: `String!` — The name of the object type: which member of a union "
        "or interface this is.\n"
        "  - on `DownloadLinkCreated` — A link anyone holding it can GET until it expires, "
        "no token needed.\n"
        "    - `url`: `String!` — Absolute URL (on the platform's public base URL): for an "
        "&lt;a href> or a download manager."
    ) in section
    assert (
        "  - on `CreateDownloadLinkError` — No link was made.\n"
        "    - `code`: `CreateDownloadLinkErrorCode!` — Stable code a client can switch on.\n"
        "    - `field`: `String` — The input field at fault (camelCase), if one is.\n"
    ) in section
    # POST with the id and the required input (the enum's first value); no GET at all.
    body = _post_body(section)
    assert body == {
        "documentId": f"sha256:{doc_id}",
        "variables": {"input": {"kind": "CONTRACT", "id": "1"}},
    }
    definition = _definition(LINK)
    coerced = get_variable_values(schema, definition.variable_definitions or (), body["variables"])
    assert not isinstance(coerced, list)
    assert _get_query(section) is None
    assert "%3A" not in section
    assert "POST only: a mutation by GET is refused (`METHOD_NOT_ALLOWED`, HTTP 405)." in section


async def test_sets_are_sorted_and_the_types_used_are_listed_once(tmp_path):
    schema = _schema()
    directory = _synthetic(tmp_path)
    text = partner_docs.render(schema, directory)

    assert text == partner_docs.render(schema, directory)
    assert text.index("## Set `acme`") < text.index("## Set `zeta`")
    assert (
        "| set | operation | type |\n|---|---|---|\n"
        "| `acme` | `AcmeMarket` | query |\n| `zeta` | `AcmeLink` | mutation |\n"
    ) in text
    types = text[text.index("## Scalars and enums") :]
    headings = re.findall(r"^### `(\w+)` \((scalar|enum)\)$", types, re.MULTILINE)
    assert headings == [
        ("CreateDownloadLinkErrorCode", "enum"),
        ("Date", "scalar"),
        ("DateTime", "scalar"),
        ("DownloadKind", "enum"),
        ("LoanStatus", "enum"),
        ("Money", "scalar"),
        ("Rate", "scalar"),
        ("RepaymentMethod", "enum"),
    ]
    assert '"1234.56"' in types  # Money's own description: strings with two places


async def test_a_document_the_schema_does_not_answer_is_refused(tmp_path):
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "Broken.graphql").write_text(
        "query Broken { loans { nope } }\n", encoding="utf-8"
    )
    with pytest.raises(manifest.ManifestError, match="Broken: Cannot query field 'nope'"):
        partner_docs.render(_schema(), tmp_path)


async def test_the_documented_requests_run_and_get_answers_304(database, tmp_path):
    """The query's examples as a partner would send them (without a partner key: the public
    market needs none), with its document published as the live manifest."""
    schema = _schema()
    directory = _synthetic(tmp_path)
    section = _section(partner_docs.render(schema, directory), "AcmeMarket")
    await manifest.load(manifest.render(manifest.read_documents(directory)), schema)
    settings = get_settings().model_copy(update={"persisted_refresh_seconds": 0})
    transport = httpx.ASGITransport(app=create_app(settings, own_services=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        posted = await http.post("/graphql", json=_post_body(section))
        url = re.search(r'curl -s -i "\$LENDBRIDGE_URL(/graphql\?[^"]+)"', section)
        assert url is not None
        got = await http.get(url.group(1))
        again = await http.get(url.group(1), headers={"If-None-Match": got.headers["ETag"]})

    expected = {"data": {"loans": {"totalCount": 0, "edges": []}}}
    assert posted.status_code == 200
    assert posted.json() == expected
    assert got.status_code == 200
    assert got.json() == expected
    assert again.status_code == 304
    assert again.content == b""
