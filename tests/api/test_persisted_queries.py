"""Persisted queries over HTTP (issue 18, first step): trusted documents by id in both
forms (`documentId`, Apollo's `persistedQuery`), by POST and GET; GET answers cacheable
with ETag / 304; refusals with their codes; Automatic Persisted Queries; PERSISTED_ONLY;
parsing and validation never per request for a persisted document."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from strawberry.extensions import parser_cache, validation_cache
from strawberry.schema import schema as strawberry_schema

from app import create_app
from app.persisted_command import build
from models.messaging import SmsCode
from models.system import PersistedManifest
from schema.build import build_schema
from schema.documents import manifest
from services.kit.settings import get_settings
from tests.api.test_live_layer import _loan_id
from tests.factories import error_codes, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPERATIONS = {op.name: op for op in manifest.parse_manifest(manifest.MANIFEST_FILE.read_text())}
MARKET = OPERATIONS["MarketLoans"]
LOAN = OPERATIONS["MarketLoan"]
SMS = (
    "mutation RequestCode($phone: String!) {\n"
    "  requestSmsCode(input: {phone: $phone, purpose: REGISTER}) { __typename }\n}\n"
)


def _schema() -> Any:
    return build_schema(get_settings())._schema


async def _load(*extra: str) -> int:
    """The committed manifest, plus `extra` bodies, as the live version."""
    operations = list(OPERATIONS.values())
    operations += [manifest.parse_manifest(_manifest_of(body))[0] for body in extra]
    version, _new = await manifest.load(manifest.render(operations), _schema())
    return version


def _manifest_of(body: str) -> str:
    name = body.split("(")[0].split()[-1]
    kind = body.split()[0]
    item = {"id": manifest.document_id(body), "name": name, "type": kind, "body": body}
    return json.dumps({"format": manifest.FORMAT, "version": 1, "operations": [item]})


@pytest_asyncio.fixture(loop_scope="session")
async def http(database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _client() as client:
        yield client


def _client(**settings: Any) -> httpx.AsyncClient:
    update = {"persisted_refresh_seconds": 0, **settings}
    app = create_app(get_settings().model_copy(update=update), own_services=False)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _get_params(form: str, doc_id: str, variables: dict[str, Any]) -> dict[str, str]:
    params = {"variables": json.dumps(variables)}
    if form == "documentId":
        params["documentId"] = f"sha256:{doc_id}"
    else:
        apq = {"persistedQuery": {"version": 1, "sha256Hash": doc_id}}
        params["extensions"] = json.dumps(apq)
    return params


def _post_body(form: str, doc_id: str, variables: dict[str, Any]) -> dict[str, Any]:
    if form == "documentId":
        return {"documentId": f"sha256:{doc_id}", "variables": variables}
    apq = {"persistedQuery": {"version": 1, "sha256Hash": doc_id}}
    return {"extensions": apq, "variables": variables}


async def test_the_committed_manifest_matches_the_graphql_files(tmp_path):
    on_disk = manifest.MANIFEST_FILE.read_text(encoding="utf-8")
    count = len(list(manifest.DOCUMENTS_DIR.glob("*/*.graphql")))
    assert build(tmp_path / "manifest.json").endswith(f": {count} operations")
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == on_disk, (
        "persisted/manifest.json is stale: run `.venv/bin/python -m app persisted build`"
    )
    sets = manifest.DOCUMENTS_DIR / manifest.SETS_FILE_NAME
    assert (tmp_path / manifest.SETS_FILE_NAME).read_text(encoding="utf-8") == sets.read_text(
        encoding="utf-8"
    ), "persisted/sets.json is stale: run `.venv/bin/python -m app persisted build`"
    for operation in OPERATIONS.values():
        assert operation.id == manifest.document_id(operation.body)


@pytest.mark.parametrize("form", ["documentId", "persistedQuery"])
async def test_public_market_by_id_by_post_and_get_answers_as_the_text_does(http, form):
    loan_id = await _loan_id()
    await _load()
    text = await http.post("/graphql", json={"query": LOAN.body, "variables": {"id": loan_id}})
    by_post = await http.post("/graphql", json=_post_body(form, LOAN.id, {"id": loan_id}))
    by_get = await http.get("/graphql", params=_get_params(form, LOAN.id, {"id": loan_id}))
    for response in (text, by_post, by_get):
        assert response.status_code == 200, response.text
    loan = text.json()["data"]["loan"]
    assert loan["id"] == str(loan_id)
    assert loan["progress"]["remaining"] == "5000.00"
    assert "disclosure" not in loan
    assert "isMine" not in loan
    assert by_post.json() == text.json()
    assert by_get.json() == text.json()

    market = await http.get("/graphql", params=_get_params(form, MARKET.id, {"first": 5}))
    assert [edge["node"]["id"] for edge in market.json()["data"]["loans"]["edges"]] == [
        str(loan_id)
    ]


async def test_get_answers_carry_an_etag_and_give_304_until_the_data_changes(http):
    first_loan = await _loan_id()
    await _load()
    params = _get_params("documentId", MARKET.id, {"first": 5})
    first = await http.get("/graphql", params=params)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=30"
    etag = first.headers["etag"]

    again = await http.get("/graphql", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    await _loan_id()  # a second loan is listed: the answer changes
    changed = await http.get("/graphql", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    ids = [edge["node"]["id"] for edge in changed.json()["data"]["loans"]["edges"]]
    assert len(ids) == 2
    assert str(first_loan) in ids

    # With a token the answer may depend on who asks: the client's cache only.
    mine = await http.get("/graphql", params=params, headers={"Authorization": "Bearer x"})
    assert mine.headers["cache-control"] == "private, no-cache"
    assert "etag" in mine.headers
    posted = await http.post("/graphql", json=_post_body("documentId", MARKET.id, {"first": 5}))
    assert "etag" not in posted.headers  # POST answers are not cached


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_unknown_or_malformed_ids_are_refused(http, method):
    await _load()

    async def codes(form: str, doc_id: str) -> list[str]:
        if method == "GET":
            response = await http.get("/graphql", params=_get_params(form, doc_id, {}))
        else:
            response = await http.post("/graphql", json=_post_body(form, doc_id, {}))
        assert response.status_code == 200, response.text
        assert "data" not in response.json() or response.json()["data"] is None
        return error_codes(response.json())

    unknown = "0" * 64
    assert await codes("documentId", unknown) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert await codes("persistedQuery", unknown) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert await codes("documentId", "XYZ") == ["PERSISTED_QUERY_INVALID_ID"]
    assert await codes("persistedQuery", MARKET.id.upper()) == ["PERSISTED_QUERY_INVALID_ID"]
    for body in (
        {"documentId": MARKET.id},  # no "sha256:"
        {"documentId": ["sha256:" + MARKET.id]},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": {"a": 1}}}},
        {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": MARKET.id}}},
        {"extensions": {"persistedQuery": "x"}},
        {
            "documentId": f"sha256:{LOAN.id}",
            "extensions": _post_body("x", MARKET.id, {})["extensions"],
        },
    ):
        refused = await http.post("/graphql", json=body)
        assert refused.status_code == 200, refused.text
        assert error_codes(refused.json()) == ["PERSISTED_QUERY_INVALID_ID"], body


async def test_a_mutation_by_get_is_refused_and_does_not_run(http):
    await _load(SMS)
    sms_id = manifest.document_id(SMS)
    phone = new_phone()
    for form in ("documentId", "persistedQuery"):
        response = await http.get("/graphql", params=_get_params(form, sms_id, {"phone": phone}))
        assert response.status_code == 405
        assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]
    assert await SmsCode.all().count() == 0
    # By POST the same persisted mutation runs.
    posted = await http.post("/graphql", json=_post_body("documentId", sms_id, {"phone": phone}))
    assert posted.json()["data"]["requestSmsCode"]["__typename"]
    assert await SmsCode.all().count() == 1


async def test_variables_of_the_wrong_type_are_the_clients_error(http):
    await _load()
    for variables in ({"first": "ten"}, {"filter": {"minTerm": "long"}}):
        response = await http.get(
            "/graphql", params=_get_params("documentId", MARKET.id, variables)
        )
        assert response.status_code == 200
        assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
    bad_json = await http.get(
        "/graphql", params={"documentId": f"sha256:{MARKET.id}", "variables": "{"}
    )
    assert bad_json.status_code == 400


async def test_persisted_only_refuses_every_document_body(database):
    await _load()
    async with _client(persisted_only=True) as http:
        text = await http.post("/graphql", json={"query": "{ loans { totalCount } }"})
        assert error_codes(text.json()) == ["PERSISTED_QUERY_REQUIRED"]
        apq = {"persistedQuery": {"version": 1, "sha256Hash": manifest.document_id("{ x }")}}
        registering = await http.post("/graphql", json={"query": "{ x }", "extensions": apq})
        assert error_codes(registering.json()) == ["PERSISTED_QUERY_REQUIRED"]
        by_id = await http.post("/graphql", json=_post_body("documentId", MARKET.id, {}))
        assert by_id.json() == {"data": {"loans": by_id.json()["data"]["loans"]}}


async def test_automatic_persisted_queries_register_on_first_use(http):
    body = "query Count { loans { totalCount } }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": manifest.document_id(body)}}
    first = await http.post("/graphql", json={"extensions": apq})
    assert error_codes(first.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    registered = await http.post("/graphql", json={"query": body, "extensions": apq})
    assert registered.json() == {"data": {"loans": {"totalCount": 0}}}
    by_hash = await http.get("/graphql", params={"extensions": json.dumps(apq)})
    assert by_hash.json() == {"data": {"loans": {"totalCount": 0}}}

    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "a" * 64}}
    mismatch = await http.post("/graphql", json={"query": body, "extensions": wrong})
    assert error_codes(mismatch.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    again = await http.post("/graphql", json={"extensions": wrong})
    assert error_codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]  # nothing registered
    # A documentId never registers: only published documents answer to it.
    unknown = await http.post(
        "/graphql",
        json={"query": body + " ", "documentId": f"sha256:{manifest.document_id(body + ' ')}"},
    )
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_persisted_documents_are_neither_parsed_nor_validated_per_request(http, monkeypatch):
    """Every parse and validation strawberry could run is counted (its LRU caches
    replaced by counting functions): by id, validation runs once, on first use, and
    parsing never; the same document sent as text is parsed and validated each time."""
    counts = {"parse": 0, "validate": 0}
    real_parse, real_validate = strawberry_schema.parse, strawberry_schema.validate_document

    def parse(*args: Any, **kwargs: Any) -> Any:
        counts["parse"] += 1
        return real_parse(*args, **kwargs)

    def validate(*args: Any, **kwargs: Any) -> Any:
        counts["validate"] += 1
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "parse", parse)
    monkeypatch.setattr(strawberry_schema, "validate_document", validate)
    monkeypatch.setattr(parser_cache, "_get_parse_cache", lambda maxsize: parse)
    monkeypatch.setattr(validation_cache, "_get_validate_cache", lambda maxsize: validate)
    await _load()

    variables = {"first": 3}
    first = await http.post("/graphql", json=_post_body("documentId", MARKET.id, variables))
    assert first.json()["data"]["loans"]["totalCount"] == 0
    assert counts == {"parse": 0, "validate": 1}
    for form in ("documentId", "persistedQuery"):
        for _ in range(3):
            post = await http.post("/graphql", json=_post_body(form, MARKET.id, variables))
            get = await http.get("/graphql", params=_get_params(form, MARKET.id, variables))
            assert post.json() == first.json()
            assert get.json() == first.json()
    assert counts == {"parse": 0, "validate": 1}

    for _ in range(2):  # the same document as text: the counters do see requests
        text = await http.post("/graphql", json={"query": MARKET.body, "variables": variables})
        assert text.json() == first.json()
    assert counts == {"parse": 2, "validate": 3}


async def test_a_bad_manifest_is_refused_and_the_same_one_twice_adds_no_version():
    good = manifest.MANIFEST_FILE.read_text(encoding="utf-8")
    first, new = await manifest.load(good, _schema())
    assert new
    assert await manifest.load(good, _schema()) == (first, False)
    tampered = json.loads(good)
    tampered["operations"][0]["body"] += " "
    unknown_field = _manifest_of("query Nope { noSuchField }\n")
    for text in (json.dumps(tampered), unknown_field, "[]", "{"):
        with pytest.raises(manifest.ManifestError):
            await manifest.load(text, _schema())
    assert await PersistedManifest.all().count() == 1
