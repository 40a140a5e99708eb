"""M1.13 through the API: searching the help centre, Chinese and Latin, on both databases.

Five published articles (overdue repayment 逾期还款, early repayment 提前还款, expected
returns 预期收益, loan term 借款期限, the app) and one draft about overdue fees. "逾期"
finds the overdue article first (the exact pair of characters) and the articles sharing
one of its characters after it; a word typed with one character wrong ("逾欺") still finds
it; Latin words match whatever their case or width. A search of 101 or 10,000 characters
is refused (BAD_USER_INPUT, field search); SQL and LIKE wildcards and quotes are plain
characters: they find what their letters find, never everything, and nothing changes.
Drafts are never found by the public.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.factories import create_member, error_codes, token_for
from tests.help.helpers import articles, category, help_state, publish, save, slugs, staff_token
from tests.statements import recording_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")

OVERDUE = (
    "overdue-repayment",
    "逾期还款怎么办",
    "如果您的借款逾期。每天会产生逾期罚息。逾期超过三天会影响信用。请尽快还款。",
)
EARLY = ("early-repayment", "如何提前还款", "在 APP 的借款页面选择提前还款。只收剩余本金。")
RETURNS = ("expected-returns", "预期收益说明", "预期收益按年化利率计算。不代表实际收益。")
TERM = ("loan-term", "借款期限有哪些", "借款期限为一至三十六个月。按月还款。")
APP = ("mobile-app", "Download the App", "Install the LendBridge app on iOS and Android.")


async def _centre(client: Any) -> str:
    """The five articles published and one draft, by a customer-service user."""
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    for slug, title, body in (OVERDUE, EARLY, RETURNS, TERM, APP):
        await publish(client, cs, repayments, slug, title, body)
    draft = await save(
        client,
        cs,
        categoryId=repayments,
        slug="overdue-fees-draft",
        title="逾期费用【草稿】",
        body="逾期逾期逾期",
        status="DRAFT",
    )
    assert draft["__typename"] == "HelpArticleSaved"
    return cs


async def test_chinese_search_finds_the_overdue_article_first(client):
    await _centre(client)

    body = await articles(client, search="逾期")

    assert "errors" not in body, body
    found = slugs(body)
    # The exact pair first; then the articles sharing one of its characters (期: the term,
    # the expected returns), never the draft, never the articles sharing none.
    assert found[0] == "overdue-repayment"
    assert set(found) == {"overdue-repayment", "loan-term", "expected-returns"}
    assert body["data"]["helpArticles"]["totalCount"] == 3


async def test_the_exact_word_ranks_its_own_article_first(client):
    await _centre(client)

    assert slugs(await articles(client, search="预期"))[0] == "expected-returns"
    assert slugs(await articles(client, search="提前还款"))[0] == "early-repayment"
    assert slugs(await articles(client, search="借款期限"))[0] == "loan-term"


async def test_a_two_character_word_with_one_wrong_character_still_finds_it(client):
    await _centre(client)

    # 逾欺 (欺 typed for 期): no article has the pair, the overdue one has 逾.
    assert slugs(await articles(client, search="逾欺")) == ["overdue-repayment"]
    # 预其 (其 for 期): the expected-returns article has 预.
    assert slugs(await articles(client, search="预其")) == ["expected-returns"]


async def test_a_long_question_needs_half_its_characters(client):
    await _centre(client)

    found = slugs(await articles(client, search="我的借款逾期了怎么还款"))

    assert found[0] == "overdue-repayment"
    # "APP" shares no character; the articles sharing only 借, 款 or 还 with it fall
    # short of half of its 10 characters unless they have 5 of them.
    assert "mobile-app" not in found


def _full_width(text: str) -> str:
    """ASCII letters as their full-width forms (as a Chinese input method types them)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


async def test_latin_words_match_whatever_their_case_or_width(client):
    await _centre(client)

    assert set(slugs(await articles(client, search="app"))) == {"mobile-app", "early-repayment"}
    assert slugs(await articles(client, search=_full_width("ANDROID"))) == ["mobile-app"]
    assert slugs(await articles(client, search="android ios"))[0] == "mobile-app"


@pytest.mark.parametrize("length", [101, 10_000])
async def test_a_search_too_long_is_refused_and_changes_nothing(client, length):
    await _centre(client)
    before = await help_state()

    body = await articles(client, search="逾" * length)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "search"
    assert body["data"] is None
    assert await help_state() == before


async def test_a_search_of_100_characters_is_answered(client):
    await _centre(client)

    body = await articles(client, search="逾期" + "x" * 98)

    assert "errors" not in body, body
    assert slugs(body) == ["overdue-repayment"]


@pytest.mark.parametrize(
    "search",
    ["%", "_", "\\", "'", '"', "%%", "%_%", "' OR '1'='1", "'; DROP TABLE help_articles; --"],
)
async def test_wildcards_and_quotes_find_nothing_and_change_nothing(client, search):
    await _centre(client)
    before = await help_state()

    body = await articles(client, search=search)

    assert "errors" not in body, body
    # "' OR '1'='1" has the word "or" and the number 1, which no article has.
    assert body["data"]["helpArticles"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
    assert await help_state() == before


@pytest.mark.parametrize("search", ["逾期%", "%逾期_", "逾期\\", "'逾期'"])
async def test_wildcards_around_a_word_are_ignored(client, search):
    await _centre(client)

    assert slugs(await articles(client, search=search))[0] == "overdue-repayment"


async def test_search_pages_by_keyset_in_rank_order(client):
    await _centre(client)
    whole = slugs(await articles(client, search="逾期", first=10))

    seen: list[str] = []
    after = None
    while True:
        body = await articles(client, search="逾期", first=1, after=after)
        page = body["data"]["helpArticles"]
        seen += slugs(body)
        assert page["totalCount"] == 3
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == whole


async def test_drafts_are_never_found_by_the_public_nor_by_a_member(client):
    await _centre(client)
    _member, phone = await create_member()
    member = await token_for(phone)

    for token in (None, member):
        body = await articles(client, token, search="逾期逾期逾期")
        assert "overdue-fees-draft" not in slugs(body)
        refused = await articles(client, token, status="DRAFT")
        assert error_codes(refused) == ["FORBIDDEN"]


async def test_staff_with_help_manage_find_drafts_when_they_ask(client):
    cs = await _centre(client)

    body = await articles(client, cs, search="逾期", status="DRAFT")

    assert slugs(body) == ["overdue-fees-draft"]


async def test_a_search_takes_the_same_statements_for_1_and_50_matches(client):
    """The search path (tests/api/test_statement_counts.py reads the plain list): the
    matches and their count in SQL, then the page's articles and categories, whatever
    the number of matches; a page of 1 of 50 reads about what a page of 1 of 1 reads."""
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    _more = itertools.count(1)
    await publish(client, cs, repayments, "overdue-0", "逾期还款 0", "逾期")
    counts: dict[int, int] = {}
    rows: dict[int, int] = {}
    for size in (1, 50):
        while len(slugs(await articles(client, search="逾期", first=100))) < size:
            n = next(_more)
            await publish(client, cs, repayments, f"overdue-{n}", f"逾期还款 {n}", "逾期")
        await articles(client, search="逾期", first=size)  # caches (actor, clock) filled
        with recording_statements() as seen:
            body = await articles(client, search="逾期", first=size)
        assert len(slugs(body)) == size
        counts[size] = len(seen)
        with recording_statements() as seen:
            await articles(client, search="逾期", first=1)
        rows[size] = sum(statement.rows for statement in seen)

    assert counts[1] == counts[50]
    assert rows[50] - rows[1] <= 2  # the row after the page; never the other 48
