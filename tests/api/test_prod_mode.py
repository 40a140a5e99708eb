"""APP_ENV=prod: no introspection, no suggestions, no dev tools, no GraphiQL, no dev secrets,
no development adapters (sandbox payments, local credit sources, SMS to the log only).

The prod app is built from its own Settings object; the process-wide (test) settings,
which services read for timers and keys, stay as they are.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from app import create_app
from app.headers import CONTENT_SECURITY_POLICY
from services.kit.settings import Settings
from tests.conftest import DATABASE_URL
from tests.factories import error_codes

pytestmark = pytest.mark.asyncio(loop_scope="session")


# What prod needs besides its own secrets: the real outside world (no sandbox provider,
# no made-up credit reports, no SMS that only reach the log).
PROD_ADAPTERS: dict[str, Any] = {
    "provider_url": "https://payments.example.com",
    "external_sources": "bureau_client.adapter:BureauSources",
    "sms_gateway_url": "https://sms.example.com/v1/messages",
    "sms_gateway_key": "k" * 40,
}
ADAPTER_VARIABLES = ("PROVIDER_URL", "EXTERNAL_SOURCES", "SMS_GATEWAY_URL", "SMS_GATEWAY_KEY")


def _prod_values(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a valid prod Settings, with `overrides` applied."""
    return {
        "_env_file": None,
        "app_env": "prod",
        "jwt_secret": secrets.token_urlsafe(36),  # 48 characters
        "pii_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "webhook_secret": "x" * 40,
        "provider_api_secret": "p" * 40,
        "platform_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        **PROD_ADAPTERS,
        "clock_start": None,  # the test run sets CLOCK_START; prod runs on the real date
        **overrides,
    }


def _prod_settings() -> Settings:
    return Settings(**_prod_values(database_url=DATABASE_URL))


@pytest_asyncio.fixture(loop_scope="session")
async def prod(database: str) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: it would switch this process's logging to prod JSON lines.
    application = create_app(_prod_settings(), own_services=False)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _post(http: httpx.AsyncClient, query: str) -> dict:
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "INTERNAL_SERVER_ERROR" not in error_codes(body), body
    return body


async def test_prod_app_answers_ordinary_queries(prod):
    # The refusals below are prod rules, not a broken app.
    body = await _post(prod, "{ businessClock { today } }")
    assert body["data"]["businessClock"]["today"]


@pytest.mark.parametrize(
    ("query", "root"),
    [
        ("{ __schema { types { name } } }", "__schema"),
        ('{ __type(name: "Query") { fields { name } } }', "__type"),
    ],
)
async def test_introspection_is_refused_in_prod(prod, client, query, root):
    body = await _post(prod, query)

    assert body["data"] is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert body["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, "
        f"but the requested query contained the field '{root}'."
    )
    # The same query answers in test mode.
    allowed = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in allowed
    assert allowed["data"]


async def test_a_misspelled_field_gets_no_suggestion_in_prod(prod):
    body = await _post(prod, "{ businessClok { now } }")

    assert body["data"] is None
    assert [error["message"] for error in body["errors"]] == [
        "Cannot query field 'businessClok' on type 'Query'."
    ]
    assert "businessClock" not in str(body)


@pytest.mark.parametrize(
    ("query", "field", "root"),
    [
        ("{ devOutbox { body } }", "devOutbox", "Query"),
        (
            "mutation { devAdvanceClock(input: {days: 1}) { __typename } }",
            "devAdvanceClock",
            "Mutation",
        ),
    ],
)
async def test_dev_tools_do_not_exist_in_prod(prod, query, field, root):
    body = await _post(prod, query)

    assert body["data"] is None
    assert [error["message"] for error in body["errors"]] == [
        f"Cannot query field '{field}' on type '{root}'."
    ]


async def test_graphiql_is_not_served_in_prod(prod, client):
    headers = {"accept": "text/html"}
    in_test = await client.get("/graphql", headers=headers)
    assert in_test.status_code == 200
    assert "graphiql" in in_test.text.lower()  # what prod must not show

    in_prod = await prod.get("/graphql", headers=headers)

    assert in_prod.status_code == 404
    assert not in_prod.headers.get("content-type", "").startswith("text/html")
    assert "graphiql" not in in_prod.text.lower()


async def test_prod_refuses_the_development_secrets(monkeypatch):
    for name in (
        "JWT_SECRET",
        "PII_KEY",
        "WEBHOOK_SECRET",
        "PROVIDER_API_SECRET",
        "PLATFORM_SIGNING_KEY",
    ):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, app_env="prod")

    message = str(refused.value)
    for name in (
        "JWT_SECRET",
        "PII_KEY",
        "WEBHOOK_SECRET",
        "PROVIDER_API_SECRET",
        "PLATFORM_SIGNING_KEY",
    ):
        assert name in message


async def test_prod_refuses_a_short_jwt_secret():
    with pytest.raises(ValidationError, match="JWT_SECRET must be at least 32 characters"):
        Settings(**_prod_values(jwt_secret="s" * 31))
    # One character more is accepted.
    assert Settings(**_prod_values(jwt_secret="s" * 32)).is_prod


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ({"provider_url": None}, "PROVIDER_URL"),
        ({"provider_url": ""}, "PROVIDER_URL"),
        ({"external_sources": "local"}, "EXTERNAL_SOURCES"),
        ({"sms_gateway_url": None}, "SMS_GATEWAY_URL"),
        ({"sms_gateway_url": " "}, "SMS_GATEWAY_URL"),
        ({"sms_gateway_key": None}, "SMS_GATEWAY_KEY"),
        ({"sms_gateway_key": ""}, "SMS_GATEWAY_KEY"),
    ],
)
async def test_prod_refuses_each_development_adapter_by_name(missing, variable):
    with pytest.raises(ValidationError) as refused:
        Settings(**_prod_values(**missing))

    message = str(refused.value)
    assert "APP_ENV=prod refuses the development adapters" in message
    assert variable in message
    # Only the one that is missing is named.
    assert [name for name in ADAPTER_VARIABLES if f"{name} must" in message] == [variable]


async def test_prod_with_nothing_configured_names_every_missing_adapter(monkeypatch):
    for name in ADAPTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    values = {key: value for key, value in _prod_values().items() if key not in PROD_ADAPTERS}

    with pytest.raises(ValidationError) as refused:
        Settings(**values)

    message = str(refused.value)
    for name in ADAPTER_VARIABLES:
        assert f"{name} must" in message


async def test_dev_and_test_keep_the_development_adapters(monkeypatch):
    for name in ADAPTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for env in ("dev", "test"):
        settings = Settings(_env_file=None, app_env=env)
        assert settings.provider_url is None
        assert settings.external_sources == "local"
        assert settings.sms_gateway_url is None


async def test_prod_refuses_clock_start():
    with pytest.raises(ValueError, match="refuses CLOCK_START"):
        Settings(**_prod_values(clock_start=date(2026, 12, 3)))


async def test_prod_serves_neither_the_console_nor_its_files(prod):
    script = await prod.get("/static/graphiql/graphiql-3.8.3.min.js")
    page = await prod.get("/graphql", headers={"Accept": "text/html"})

    assert script.status_code == 404
    assert "graphiql" not in page.text.lower()
    # the security headers are on every answer, a refusal included
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert script.headers["x-content-type-options"] == "nosniff"
