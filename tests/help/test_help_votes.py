"""M1.13 through the API: "did this help?".

One answer per article and voter: a logged-in user by their id, an anonymous reader by
the visitor key their browser keeps (16 to 128 characters). A second answer, a missing
or short key, a draft or an unknown article are typed errors and change nothing. One
address may cast a bounded number of anonymous answers an hour (another address is not
held back), and answers at once are all counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from models.help import HelpArticle
from services.help import reading
from tests.factories import create_member, gql, token_for
from tests.help.helpers import RATE, category, help_state, publish, save, staff_token

pytestmark = pytest.mark.asyncio(loop_scope="session")

TITLE = "逾期还款怎么办"
BODY = "逾期会产生罚息。请尽快还款。"
_addresses = itertools.count(1)


@contextlib.asynccontextmanager
async def _from_own_address(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling from an address no other test uses (anonymous answers are bounded
    per address, and the broker's counters outlive a test)."""
    address = f"10.22.{os.getpid() % 250}.{next(_addresses)}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _draft(client: Any, cs: str) -> tuple[str, dict[str, Any]]:
    repayments = await category(client, cs, "repayments", "还款")
    saved = await save(
        client, cs, categoryId=repayments, slug="draft", title=TITLE, body=BODY, status="DRAFT"
    )
    assert saved["__typename"] == "HelpArticleSaved", saved
    return repayments, saved["article"]


async def test_did_this_help_once_per_user_or_visitor_key(client):
    cs = await staff_token("cs")
    repayments, draft = await _draft(client, cs)
    article = await publish(client, cs, repayments, "published", TITLE, BODY)
    _user, phone = await create_member()
    member = await token_for(phone)

    async def rate(token: str | None, **fields: Any) -> dict[str, Any]:
        body = await gql(client, RATE, {"input": fields}, token=token)
        assert "errors" not in body, body
        return dict(body["data"]["rateHelpArticle"])

    visitor = "visitor-key-0123456789"
    yes = await rate(None, articleId=article["id"], helpful=True, visitorKey=visitor)
    assert yes["article"] == {"helpfulCount": 1, "notHelpfulCount": 0}
    no = await rate(member, articleId=article["id"], helpful=False)
    assert no["article"] == {"helpfulCount": 1, "notHelpfulCount": 1}
    before = await help_state()

    again = await rate(None, articleId=article["id"], helpful=False, visitorKey=visitor)
    member_again = await rate(member, articleId=article["id"], helpful=True, visitorKey="x" * 20)
    no_key = await rate(None, articleId=article["id"], helpful=True)
    short_key = await rate(None, articleId=article["id"], helpful=True, visitorKey="short")
    on_draft = await rate(member, articleId=draft["id"], helpful=True)
    unknown = await rate(member, articleId="987654", helpful=True)

    assert again == {"__typename": "RateHelpArticleError", "code": "ALREADY_RATED", "field": None}
    assert member_again["code"] == "ALREADY_RATED"
    assert (no_key["code"], no_key["field"]) == ("INVALID", "visitorKey")
    assert (short_key["code"], short_key["field"]) == ("INVALID", "visitorKey")
    assert (on_draft["code"], unknown["code"]) == ("NOT_FOUND", "NOT_FOUND")
    assert await help_state() == before


async def test_anonymous_answers_from_one_address_are_bounded(client, app, monkeypatch):
    monkeypatch.setattr(reading, "ANONYMOUS_VOTES_PER_HOUR", 2)
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    article = await publish(client, cs, repayments, "published", TITLE, BODY)

    codes = []
    async with _from_own_address(app) as visitor:
        for n in range(3):
            body = await gql(
                visitor,
                RATE,
                {"input": {"articleId": article["id"], "helpful": True, "visitorKey": f"{n:020d}"}},
            )
            codes.append(body["data"]["rateHelpArticle"].get("code"))
    # Another address is not held back by this one's answers.
    async with _from_own_address(app) as other:
        body = await gql(
            other,
            RATE,
            {"input": {"articleId": article["id"], "helpful": False, "visitorKey": "o" * 20}},
        )

    assert codes == [None, None, "TOO_MANY_VOTES"]
    assert body["data"]["rateHelpArticle"]["__typename"] == "HelpArticleRated"
    row = await HelpArticle.get(id=int(article["id"]))
    assert (row.helpful_count, row.not_helpful_count) == (2, 1)


async def test_helpful_counts_hold_when_many_answer_at_once(client, app):
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    article = await publish(client, cs, repayments, "published", TITLE, BODY)

    async with _from_own_address(app) as visitors:
        answers = await asyncio.gather(
            *(
                gql(
                    visitors,
                    RATE,
                    {
                        "input": {
                            "articleId": article["id"],
                            "helpful": n % 3 != 0,
                            "visitorKey": f"visitor-{n:016d}",
                        }
                    },
                )
                for n in range(12)
            )
        )

    assert {a["data"]["rateHelpArticle"]["__typename"] for a in answers} == {"HelpArticleRated"}

    row = await HelpArticle.get(id=int(article["id"]))
    assert (row.helpful_count, row.not_helpful_count) == (8, 4)
