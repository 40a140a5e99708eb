"""Bad input through HTTP: a typed error or a GraphQL error, never a 500, nothing written.

Every mutation attempt appends one operation-log entry by design, a rejected one too (as
REJECTED), so "nothing written" here means no user, no SMS code, no outgoing message.
"""

from __future__ import annotations

import logging

import pytest

from models.members import User
from models.messaging import OutgoingMessage, SmsCode
from models.system import OperationLogEntry
from services.kit.settings import get_settings
from services.platform import clock
from tests.factories import PASSWORD, error_codes, gql, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

REGISTER = """
mutation ($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on AuthPayload { accessToken }
    ... on RegisterError { code field message }
  }
}"""


def _request_code(phone: str) -> str:
    return f'requestSmsCode(input: {{phone: "{phone}", purpose: REGISTER}}) {{ __typename }}'


async def _business_rows() -> dict[str, int]:
    return {
        "users": await User.all().count(),
        "sms_codes": await SmsCode.all().count(),
        "outgoing_messages": await OutgoingMessage.all().count(),
    }


NOTHING = {"users": 0, "sms_codes": 0, "outgoing_messages": 0}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("phone", "1380013800", "INVALID"),  # ten digits
        ("phone", "23800138000", "INVALID"),  # not a mobile prefix
        ("password", "abc123", "INVALID"),  # too short
        ("smsCode", "123456", "CODE_INVALID"),  # no code was ever sent to this phone
    ],
)
async def test_bad_register_input_is_a_typed_error_and_only_logged(client, field, value, code):
    data = {"phone": new_phone(), "password": PASSWORD, "smsCode": "654321", field: value}

    body = await gql(client, REGISTER, {"input": data})

    assert "errors" not in body, body
    result = body["data"]["register"]
    assert result["__typename"] == "RegisterError"
    assert (result["code"], result["field"]) == (code, field)
    assert result["message"]
    assert await _business_rows() == NOTHING
    entries = await OperationLogEntry.all()
    assert [(e.operation, e.result) for e in entries] == [("register", f"RegisterError:{code}")]
    # The rejected secrets are not kept in clear in the log either.
    assert value not in str(entries[0].arguments)


async def test_oversized_body_is_413_and_never_reaches_graphql(client):
    limit = get_settings().graphql_max_body_bytes
    query = "mutation { " + _request_code(new_phone()) + " }"
    padding = " " * (limit + 1 - len(query))

    declared = await client.post("/graphql", json={"query": query + padding})

    assert declared.status_code == 413
    assert declared.text == "Request body too large"

    async def chunks():  # no Content-Length: the limit counts what actually arrives
        for _ in range(limit // 10_000 + 2):
            yield b" " * 10_000

    streamed = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert streamed.status_code == 413
    assert await _business_rows() == NOTHING
    assert await OperationLogEntry.all().count() == 0


async def test_query_over_the_token_limit_is_refused_before_it_runs(client):
    limit = get_settings().graphql_max_tokens
    query = "mutation { " + _request_code(new_phone()) + " " + "__typename " * limit + "}"
    assert len(query.encode()) < get_settings().graphql_max_body_bytes  # not the body limit

    response = await client.post("/graphql", json={"query": query})

    assert response.status_code in (200, 400), response.text
    body = response.json()
    assert body.get("data") is None
    assert [error["message"] for error in body["errors"]] == [
        f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted."
    ]
    assert await _business_rows() == NOTHING


async def test_too_many_aliases_are_refused_and_nothing_runs(client):
    fields = " ".join(f"a{i}: " + _request_code(new_phone()) for i in range(100))

    body = await gql(client, "mutation { " + fields + " }")

    assert body["data"] is None
    messages = [error["message"] for error in body["errors"]]
    limit = get_settings().graphql_max_aliases
    assert messages == [f"100 aliases found. Allowed: {limit}"]
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert await _business_rows() == NOTHING
    # The attempt is in the operation log, as refused.
    entries = await OperationLogEntry.all()
    assert [entry.result for entry in entries] == ["REJECTED"]
    assert entries[0].operation.startswith("requestSmsCode,requestSmsCode")


async def test_a_twenty_deep_query_is_refused_by_the_depth_limit(client):
    # Only me { user } is real: no type of the schema nests deeper, and the depth rule
    # counts the document as written (and skips introspection fields altogether).
    deeper = [f"level{depth}" for depth in range(3, 21)]
    query = "{ me { user { " + " { ".join(deeper) + " { id" + " }" * len(deeper) + " } } }"
    assert query.count("{") - 1 == 20

    body = await gql(client, query)

    assert body["data"] is None
    max_depth = get_settings().graphql_max_depth
    messages = [error["message"] for error in body["errors"]]
    assert f"'anonymous' exceeds maximum operation depth of {max_depth}" in messages
    # Validation refused it: the resolver (which needs a login) never ran.
    assert "UNAUTHENTICATED" not in error_codes(body)
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_invalid_json_body_is_a_400(client):
    response = await client.post(
        "/graphql",
        content=b'{"query": "mutation { requestSmsCode(',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert "JSON" in response.text
    assert await _business_rows() == NOTHING
    assert await OperationLogEntry.all().count() == 0


@pytest.mark.parametrize(
    ("query", "variables", "mentions", "logged"),
    [
        (
            "query ($n: Int) { myNotices(first: $n) { totalCount } }",
            {"n": "ten"},
            "Int cannot represent non-integer value: 'ten'",
            [],
        ),
        (
            "mutation ($input: RegisterInput!) { register(input: $input) { __typename } }",
            {"input": {"phone": 13800138000, "password": PASSWORD, "smsCode": "123456"}},
            "String cannot represent a non string value: 13800138000",
            ["REJECTED"],
        ),
        (
            "mutation ($input: RegisterInput!) { register(input: $input) { __typename } }",
            {},
            "Expected a value of non-null type 'RegisterInput!' to be provided.",
            ["REJECTED"],
        ),
    ],
    ids=["string-for-int", "number-for-string", "missing-required"],
)
async def test_a_variable_of_the_wrong_type_is_the_clients_error(
    client, caplog, query, variables, mentions, logged
):
    caplog.set_level(logging.ERROR, logger="lendbridge.graphql")

    body = await gql(client, query, variables)  # asserts 200 and no INTERNAL_SERVER_ERROR

    assert body["data"] is None
    messages = [error["message"] for error in body["errors"]]
    assert any(mentions in message for message in messages), messages
    assert "Unexpected error." not in messages
    # Not a server fault: nothing logged as an unexpected error.
    assert not [r for r in caplog.records if r.name == "lendbridge.graphql"]
    assert await _business_rows() == NOTHING
    # A mutation that did not run is logged as refused; a query is not logged.
    assert [entry.result for entry in await OperationLogEntry.all()] == logged


async def test_an_unknown_field_is_a_validation_error_with_a_suggestion(client):
    body = await gql(client, "{ businessClok { now } }")

    assert body["data"] is None
    assert [error["message"] for error in body["errors"]] == [
        "Cannot query field 'businessClok' on type 'Query'. Did you mean 'businessClock'?"
    ]
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_resolver_crash_is_masked_and_its_trace_id_logged(client, monkeypatch, caplog):
    async def broken_now():
        raise RuntimeError("clock table on fire: secret internals")

    monkeypatch.setattr(clock, "now", broken_now)
    caplog.set_level(logging.ERROR, logger="lendbridge.graphql")

    response = await client.post("/graphql", json={"query": "{ businessClock { now } }"})

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    trace_id = error["extensions"]["traceId"]
    assert len(trace_id) == 32
    assert "on fire" not in response.text
    logged = [r for r in caplog.records if r.name == "lendbridge.graphql"]
    assert len(logged) == 1
    assert trace_id in logged[0].getMessage()
    assert logged[0].levelno == logging.ERROR
    assert isinstance(logged[0].exc_info[1], RuntimeError)


async def test_syntax_errors_carry_a_code_and_trace_id_like_every_other_error(client):
    body = await gql(client, "{ me { ")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"].startswith("Syntax Error")
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert len(error["extensions"]["traceId"]) == 32
