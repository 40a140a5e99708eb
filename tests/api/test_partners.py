"""Partners over HTTP (issue 18): a key per partner, only the published operations of its
sets, by POST and GET (ETag / 304); every refusal with its code and HTTP status, counted
per partner, business day and operation; rate limit and daily quota shared through the
broker (Redis on the PostgreSQL run); rotation with an overlap, revocation."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app import create_app
from app import partners_command as command
from models.partners import PartnerKey, PartnerUsage
from schema.documents import manifest
from services.kit.settings import get_settings
from services.partners import keys, limits, usage
from services.platform import clock
from tests.api.test_live_layer import _loan_id
from tests.api.test_persisted_queries import _manifest_of, _schema
from tests.factories import create_member, error_codes, new_id_number, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPERATIONS = {op.name: op for op in manifest.parse_manifest(manifest.MANIFEST_FILE.read_text())}
MARKET = OPERATIONS["MarketLoans"]
LOAN = OPERATIONS["MarketLoan"]
USAGE = OPERATIONS["PartnerUsage"]
INDUSTRY = OPERATIONS["IndustryCredit"]
SETS = manifest.read_sets()
# A mutation published in a set of its own, to show that GET never runs one.
SMS = (
    "mutation PartnerSms($phone: String!) {\n"
    "  requestSmsCode(input: {phone: $phone, purpose: REGISTER}) { __typename }\n}\n"
)


async def _load(extra_sets: dict[str, list[str]] | None = None, *bodies: str) -> None:
    """The committed manifest and its sets (plus `bodies` and `extra_sets`) as live."""
    operations = list(OPERATIONS.values())
    operations += [manifest.parse_manifest(_manifest_of(body))[0] for body in bodies]
    sets = {**SETS, **(extra_sets or {})}
    await manifest.load(manifest.render(operations), _schema(), manifest.render_sets(sets))


def _client(**settings: Any) -> httpx.AsyncClient:
    update = {"persisted_refresh_seconds": 0, "partner_key_cache_seconds": 0, **settings}
    app = create_app(get_settings().model_copy(update=update), own_services=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest_asyncio.fixture(loop_scope="session")
async def http(database: str) -> AsyncIterator[httpx.AsyncClient]:
    await _load()
    async with _client() as client:
        yield client


async def _partner(
    code: str = "acme",
    *,
    sets: tuple[str, ...] = ("public", "partner"),
    rate: int = 1000,
    quota: int = 100_000,
) -> str:
    issued = await keys.add_partner(
        code=code, name=f"{code} Ltd", sets=list(sets), rate_per_minute=rate, daily_quota=quota
    )
    return issued.key


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _by_id(operation: manifest.Operation, variables: dict[str, Any] | None = None) -> Any:
    return {"documentId": f"sha256:{operation.id}", "variables": variables or {}}


def _get(operation: manifest.Operation, variables: dict[str, Any] | None = None) -> Any:
    return {"documentId": f"sha256:{operation.id}", "variables": json.dumps(variables or {})}


async def _usage() -> dict[tuple[str, str], int]:
    await usage.flush()
    rows = await PartnerUsage.all()
    return {(row.operation, row.outcome): row.count for row in rows}


async def test_a_partner_runs_its_sets_by_post_and_get_and_a_get_revalidates_to_304(http):
    loan_id = await _loan_id()
    key = await _partner()

    by_post = await http.post("/graphql", json=_by_id(LOAN, {"id": loan_id}), headers=_auth(key))
    assert by_post.status_code == 200, by_post.text
    assert by_post.json()["data"]["loan"]["progress"]["remaining"] == "5000.00"

    by_get = await http.get("/graphql", params=_get(MARKET, {"first": 5}), headers=_auth(key))
    assert by_get.status_code == 200
    assert [e["node"]["id"] for e in by_get.json()["data"]["loans"]["edges"]] == [str(loan_id)]
    # Asked with a key, the answer is the partner's own: cacheable by it, not by a CDN.
    assert by_get.headers["cache-control"] == "private, no-cache"
    etag = by_get.headers["etag"]
    again = await http.get(
        "/graphql", params=_get(MARKET, {"first": 5}), headers={**_auth(key), "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""

    assert await _usage() == {("MarketLoan", "ok"): 1, ("MarketLoans", "ok"): 2}


async def test_only_a_partner_allowed_credit_sharing_asks_the_industry_question(http):
    sharing = await _partner("platform-b", sets=("credit-sharing",))
    market_only = await _partner("leads", sets=("public",))
    number = new_id_number()
    variables = {"idNumber": number, "purpose": "loan application review"}
    answer = await http.post("/graphql", json=_by_id(INDUSTRY, variables), headers=_auth(sharing))
    assert answer.json()["data"]["industryCreditQuery"]["known"] is False
    assert answer.json()["data"]["industryCreditQuery"]["outstandingPrincipal"] == "0.00"
    refused = await http.post(
        "/graphql", json=_by_id(INDUSTRY, variables), headers=_auth(market_only)
    )
    assert error_codes(refused.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
    assert number not in answer.text
    assert await _usage() == {
        ("IndustryCredit", "ok"): 1,
        ("-", "PERSISTED_QUERY_NOT_ALLOWED"): 1,
    }


async def test_a_partner_reads_its_own_usage_and_no_one_elses(http):
    acme, other = await _partner("acme"), await _partner("other")
    for _ in range(2):
        await http.post("/graphql", json=_by_id(MARKET, {"first": 1}), headers=_auth(acme))
    await http.post("/graphql", json={"query": "{ __typename }"}, headers=_auth(acme))
    await http.post("/graphql", json=_by_id(MARKET, {"first": 1}), headers=_auth(other))

    answer = await http.post("/graphql", json=_by_id(USAGE), headers=_auth(acme))
    today = str(await clock.today())
    assert answer.json()["data"]["partnerUsage"] == [
        {"day": today, "operation": "-", "outcome": "PERSISTED_QUERY_NOT_ALLOWED", "count": 1},
        {"day": today, "operation": "MarketLoans", "outcome": "ok", "count": 2},
    ]
    too_long = await http.post(
        "/graphql",
        json=_by_id(USAGE, {"since": "2026-01-01", "until": "2026-12-31"}),
        headers=_auth(acme),
    )
    assert error_codes(too_long.json()) == ["BAD_USER_INPUT"]

    # A member's token never reaches a partner's usage (nor does anonymity).
    _member, phone = await create_member()
    token = await token_for(phone)
    as_member = await http.post(
        "/graphql", json={"query": USAGE.body}, headers={"Authorization": f"Bearer {token}"}
    )
    assert error_codes(as_member.json()) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("document body", 200, "PERSISTED_QUERY_NOT_ALLOWED"),
        ("body with its own hash", 200, "PERSISTED_QUERY_NOT_ALLOWED"),
        ("body that does not match its hash", 200, "PERSISTED_QUERY_NOT_ALLOWED"),
        ("unknown id", 200, "PERSISTED_QUERY_NOT_FOUND"),
        ("id outside the sets", 200, "PERSISTED_QUERY_NOT_ALLOWED"),
        ("malformed id", 200, "PERSISTED_QUERY_INVALID_ID"),
        ("mutation by GET", 405, "METHOD_NOT_ALLOWED"),
        ("variables of the wrong type", 200, "GRAPHQL_VALIDATION_FAILED"),
        ("a batch of 100 ids", 400, "BATCHING_NOT_SUPPORTED"),
    ],
)
async def test_each_refusal_of_a_partner_has_its_code_runs_nothing_and_is_counted(
    http, case, status, code
):
    await _load({"sms": ["PartnerSms"]}, SMS)
    key = await _partner(sets=("partner", "sms"))  # not "public"
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": MARKET.id}}
    posts: dict[str, Any] = {
        "document body": {"query": MARKET.body, "variables": {"first": 1}},
        "body with its own hash": {
            "query": USAGE.body,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": USAGE.id}},
        },
        "body that does not match its hash": {"query": USAGE.body, "extensions": by_hash},
        "unknown id": {"documentId": "sha256:" + "0" * 64},
        "id outside the sets": _by_id(MARKET, {"first": 1}),
        "malformed id": {"documentId": "md5:abc"},
        "variables of the wrong type": _by_id(USAGE, {"since": "yesterday"}),
        "a batch of 100 ids": [_by_id(USAGE)] * 100,
    }
    sms_id = manifest.document_id(SMS)
    if case == "mutation by GET":
        params = {"documentId": f"sha256:{sms_id}", "variables": json.dumps({"phone": "1"})}
        response = await http.get("/graphql", params=params, headers=_auth(key))
    else:
        response = await http.post("/graphql", json=posts[case], headers=_auth(key))
    assert response.status_code == status, response.text
    assert error_codes(response.json()) == [code]
    assert response.json()["data"] is None
    if case != "variables of the wrong type":  # that one ran: a POST answer, no cache header
        assert response.headers["cache-control"] == "no-store"
    counted = await _usage()
    assert sum(counted.values()) == 1
    ((operation, outcome),) = counted
    assert outcome == code
    named = {"mutation by GET": "-", "variables of the wrong type": "PartnerUsage"}
    assert operation == named.get(case, "-")


async def test_a_batch_of_10000_ids_is_refused_before_it_is_read_and_counted(http):
    key = await _partner()
    batch = [_by_id(MARKET, {"first": 1})] * 10_000
    response = await http.post("/graphql", json=batch, headers=_auth(key))
    assert response.status_code == 413
    assert await _usage() == {("-", "REQUEST_TOO_LARGE"): 1}


async def test_wrong_revoked_and_unknown_keys_are_401_and_nothing_runs(http):
    key = await _partner()
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    for bad in (wrong, "lbp_" + "a" * 12 + "_" + "b" * 43, "lbp_nonsense"):
        response = await http.post("/graphql", json=_by_id(MARKET), headers=_auth(bad))
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert error_codes(response.json()) == ["PARTNER_KEY_INVALID"]

    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))).status_code == 200
    key_id = key.split("_")[1]
    assert await keys.revoke("acme", key_id) == [key_id]
    revoked = await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
    assert revoked.status_code == 401
    assert await _usage() == {("MarketLoans", "ok"): 1}  # refusals by key are not a partner's


async def test_a_rotated_key_works_during_the_overlap_and_not_after(http, monkeypatch):
    old = await _partner()
    issued = await keys.rotate("acme", overlap=timedelta(hours=1))
    new = issued.key
    for key in (old, new):
        response = await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
        assert response.status_code == 200, response.text

    later = keys.system_now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(keys, "_now", lambda: later)
    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(old))).status_code == 401
    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(new))).status_code == 200
    stored = {k.key_id: k for k in await PartnerKey.all()}
    assert stored[old.split("_")[1]].expires_at == issued.old_key_expires_at
    assert stored[new.split("_")[1]].expires_at is None
    assert all(key not in (k.key_hash for k in stored.values()) for key in (old, new))


async def test_a_revocation_reaches_a_process_within_its_key_cache_time(database, monkeypatch):
    key = await _partner()
    await _load()
    async with _client(partner_key_cache_seconds=60) as cached:
        assert (
            await cached.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
        ).status_code == 200
        await keys.revoke("acme")
        # Within the cache time this process still trusts what it read...
        assert (
            await cached.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
        ).status_code == 200
        keys.forget_cached_keys()  # ...as if the 60 s had passed
        assert (
            await cached.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
        ).status_code == 401


async def test_over_the_rate_limit_is_429_with_retry_after_until_the_minute_ends(http, monkeypatch):
    key = await _partner(rate=3)
    monkeypatch.setattr(limits, "_now_seconds", lambda: 1_800_000_045.5)  # 45.5 s into a minute
    codes = []
    for _ in range(4):
        response = await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
        codes.append(response.status_code)
    assert codes == [200, 200, 200, 429]
    assert response.headers["retry-after"] == "15"
    assert error_codes(response.json()) == ["RATE_LIMITED"]
    monkeypatch.setattr(limits, "_now_seconds", lambda: 1_800_000_060.0)  # the next minute
    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))).status_code == 200
    assert await _usage() == {("MarketLoans", "ok"): 4, ("-", "RATE_LIMITED"): 1}


async def test_over_the_daily_quota_is_429_until_the_business_day_ends(http):
    key = await _partner(quota=2)
    statuses = [
        (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))
    assert error_codes(refused.json()) == ["QUOTA_EXCEEDED"]
    now = await clock.now()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert 0 < int(refused.headers["retry-after"]) - (midnight - now).total_seconds() <= 2
    await clock.advance(days=1)
    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))).status_code == 200


async def test_requests_without_a_partner_key_are_untouched(http):
    """Members and anonymous clients keep sending documents; nothing is counted."""
    answer = await http.post("/graphql", json={"query": MARKET.body, "variables": {"first": 1}})
    assert answer.status_code == 200
    assert answer.json()["data"]["loans"]["edges"] == []
    batch = await http.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert batch.status_code == 400
    assert error_codes(batch.json()) == ["BATCHING_NOT_SUPPORTED"]
    assert await _usage() == {}


async def test_the_partners_command_adds_rotates_revokes_and_reports_usage(http, capsys):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser.add_subparsers(dest="command"))

    def args(*words: str) -> argparse.Namespace:
        return parser.parse_args(["partners", *words])

    added = await command._ACTIONS["add"](args("add", "acme", "--name", "Acme", "--rate", "5"))
    key = added.splitlines()[-1]
    assert key.startswith("lbp_")
    assert (await http.post("/graphql", json=_by_id(MARKET), headers=_auth(key))).status_code == 200
    rotated = await command._ACTIONS["rotate"](args("rotate", "acme", "--overlap-hours", "2"))
    new_key = rotated.splitlines()[-1]
    assert new_key.startswith("lbp_")
    assert new_key != key
    listed = await command._ACTIONS["list"](args("list"))
    assert "acme [active] Acme: sets partner,public; 5/min, 10000/day" in listed
    assert "(until " in listed  # the old key's end of overlap
    report = await command._ACTIONS["usage"](args("usage", "acme"))
    assert f"{await clock.today()}  MarketLoans" in report
    assert report.splitlines()[1].split()[-1] == "1"
    revoked = await command._ACTIONS["revoke"](args("revoke", "acme"))
    assert revoked.startswith("revoked partner acme and its keys")
    assert (
        await http.post("/graphql", json=_by_id(MARKET), headers=_auth(new_key))
    ).status_code == 401


async def test_bad_partner_settings_are_refused_and_store_nothing(database):
    for code, sets, rate, quota in [
        ("A", ["public"], 10, 10),
        ("acme", [], 10, 10),
        ("acme", ["public"], 0, 10),
        ("acme", ["public"], 10, 0),
        ("acme", ["../etc"], 10, 10),
    ]:
        with pytest.raises(keys.InvalidInputError):
            await keys.add_partner(
                code=code, name="x", sets=sets, rate_per_minute=rate, daily_quota=quota
            )
    await _partner()
    with pytest.raises(keys.InvalidInputError):
        await _partner()
    with pytest.raises(keys.NotFoundError):
        await keys.rotate("nobody", overlap=timedelta(hours=1))
    with pytest.raises(keys.InvalidInputError):
        await keys.rotate("acme", overlap=timedelta(days=31))
    assert await PartnerKey.all().count() == 1
