"""M1.13 through the API: staff write the help centre, the public reads it.

A customer-service user (help:manage) makes a category and an article as a DRAFT: the
public neither lists nor opens it, the staff do. Publishing it is version 2, and the
public reads it (each open counts one read, twenty at once count twenty); version 1 is
kept as it was. Archiving (version 3) takes it off again. Finance staff, members and
anonymous callers cannot save (FORBIDDEN, UNAUTHENTICATED) and nothing changes; a stale
expectedVersion, a slug taken, a bad slug, an unknown category are typed errors and
nothing changes; two saves at once never both land on one version or one slug.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.help import HelpArticle
from tests.factories import create_member, error_codes, gql, token_for
from tests.help.helpers import (
    ONE,
    SAVE_CATEGORY,
    VERSIONS,
    articles,
    category,
    help_state,
    publish,
    save,
    slugs,
    staff_token,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

TITLE = "逾期还款怎么办"
BODY = "逾期会产生罚息。请尽快还款。"


async def _draft(client: Any, cs: str) -> tuple[str, dict[str, Any]]:
    repayments = await category(client, cs, "repayments", "还款")
    saved = await save(
        client,
        cs,
        categoryId=repayments,
        slug="overdue",
        title=TITLE,
        body=BODY,
        status="DRAFT",
        note="first draft",
    )
    assert saved["__typename"] == "HelpArticleSaved", saved
    return repayments, saved["article"]


async def _open(client: Any, token: str | None = None, **by: Any) -> Any:
    body = await gql(client, ONE, by, token=token)
    assert "errors" not in body, body
    return body["data"]["helpArticle"]


async def test_a_draft_is_for_staff_publishing_shows_it_archiving_hides_it(client):
    cs = await staff_token("cs")
    repayments, draft = await _draft(client, cs)
    assert (draft["status"], draft["version"], draft["firstPublishedAt"]) == ("DRAFT", 1, None)

    # A draft: not listed, not opened by the public; the staff open it (no read counted).
    assert slugs(await articles(client)) == []
    assert await _open(client, slug="overdue") is None
    assert await _open(client, id=draft["id"]) is None
    assert (await _open(client, cs, slug="overdue"))["status"] == "DRAFT"

    published = await save(
        client,
        cs,
        articleId=draft["id"],
        expectedVersion=1,
        categoryId=repayments,
        slug="overdue",
        title=TITLE,
        body=BODY + "逾期三天以上影响信用。",
        status="PUBLISHED",
        note="published",
    )
    article = published["article"]
    assert (article["status"], article["version"], article["readCount"]) == ("PUBLISHED", 2, 0)
    assert article["firstPublishedAt"] is not None
    assert article["category"]["publishedArticleCount"] == 1

    assert slugs(await articles(client)) == ["overdue"]
    opened = await _open(client, slug="overdue")
    assert (opened["body"], opened["readCount"]) == (BODY + "逾期三天以上影响信用。", 1)

    archived = await save(
        client,
        cs,
        articleId=draft["id"],
        categoryId=repayments,
        slug="overdue",
        title=TITLE,
        body=BODY,
        status="ARCHIVED",
    )
    assert archived["article"]["version"] == 3
    assert slugs(await articles(client)) == []
    assert slugs(await articles(client, search="逾期")) == []
    assert await _open(client, slug="overdue") is None

    versions = await gql(client, VERSIONS, {"id": draft["id"]}, token=cs)
    assert [
        (v["number"], v["status"], v["body"], v["note"])
        for v in versions["data"]["helpArticleVersions"]
    ] == [
        (3, "ARCHIVED", BODY, ""),
        (2, "PUBLISHED", BODY + "逾期三天以上影响信用。", "published"),
        (1, "DRAFT", BODY, "first draft"),
    ]
    # The archived article keeps its reads.
    assert (await HelpArticle.get(id=int(draft["id"]))).read_count == 1


async def test_each_open_counts_one_read_even_at_once(client):
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    article = await publish(client, cs, repayments, "overdue", TITLE, BODY)

    await asyncio.gather(*(_open(client, id=article["id"]) for _ in range(20)))

    assert (await HelpArticle.get(id=int(article["id"]))).read_count == 20
    # Staff opening it count too (it is published); listing it counts nothing.
    await articles(client)
    assert (await _open(client, cs, slug="overdue"))["readCount"] == 21


async def test_most_read_first_pages_by_keyset(client):
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    reads = {"a-one": 3, "b-two": 0, "c-three": 5, "d-four": 1, "e-five": 3}
    for slug, count in reads.items():
        await publish(client, cs, repayments, slug, f"标题 {slug}", "正文")
        for _ in range(count):
            await _open(client, slug=slug)

    seen: list[str] = []
    after = None
    while True:
        body = await articles(client, order="MOST_READ", first=2, after=after)
        page = body["data"]["helpArticles"]
        seen += slugs(body)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # Most read first; equal counts newest first (e-five was published after a-one).
    assert seen == ["c-three", "e-five", "a-one", "d-four", "b-two"]
    newest = slugs(await articles(client, first=10))
    assert newest == ["e-five", "d-four", "c-three", "b-two", "a-one"]


async def test_a_category_lists_its_own_articles(client):
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")
    account = await category(client, cs, "account", "账户")
    await publish(client, cs, repayments, "overdue", TITLE, BODY)
    await publish(client, cs, account, "password", "忘记密码", "在登录页选择忘记密码。")

    assert slugs(await articles(client, category=account)) == ["password"]
    assert slugs(await articles(client, category=repayments, search="密码")) == []
    assert slugs(await articles(client, category="999999")) == []
    body = await gql(client, "{ helpCategories { slug publishedArticleCount } }")
    assert body["data"]["helpCategories"] == [
        {"slug": "repayments", "publishedArticleCount": 1},
        {"slug": "account", "publishedArticleCount": 1},
    ]


@pytest.mark.parametrize(
    ("who", "code"),
    [("finance", "FORBIDDEN"), ("member", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")],
)
async def test_only_help_staff_save_and_nothing_changes_otherwise(client, who, code):
    cs = await staff_token("cs")
    repayments, draft = await _draft(client, cs)
    if who == "member":
        _user, phone = await create_member()
        token: str | None = await token_for(phone)
    else:
        token = await staff_token("finance") if who == "finance" else None
    before = await help_state()

    edit = {
        "articleId": draft["id"],
        "categoryId": repayments,
        "slug": "overdue",
        "title": "改了",
        "body": "改了",
        "status": "PUBLISHED",
    }
    for document, variables in (
        (ONE.replace("query", "query Probe", 1), {"id": draft["id"]}),
        (VERSIONS, {"id": draft["id"]}),
    ):
        body = await gql(client, document, variables, token=token)
        if document is VERSIONS:
            assert error_codes(body) == [code], body
        else:
            assert body["data"]["helpArticle"] is None  # a draft: not for them
    saved = await gql(
        client,
        "mutation ($input: SaveHelpArticleInput!) { saveHelpArticle(input: $input)"
        " { __typename } }",
        {"input": edit},
        token=token,
    )
    category_saved = await gql(
        client,
        'mutation { saveHelpCategory(input: {slug: "x-y", name: "X"}) { __typename } }',
        token=token,
    )

    assert error_codes(saved) == [code]
    assert error_codes(category_saved) == [code]
    assert await help_state() == before


async def test_admin_may_save_too(client):
    admin = await staff_token("admin")
    repayments = await category(client, admin, "repayments", "还款")

    article = await publish(client, admin, repayments, "overdue", TITLE, BODY)

    assert article["version"] == 1


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"expectedVersion": 1}, "VERSION_CONFLICT", "expectedVersion"),
        ({"slug": "taken"}, "SLUG_TAKEN", "slug"),
        ({"slug": "Bad Slug!"}, "INVALID", "slug"),
        ({"slug": "a" * 97}, "INVALID", "slug"),
        ({"title": "   "}, "INVALID", "title"),
        ({"body": "a" * 20_001}, "INVALID", "body"),
        ({"categoryId": "999999"}, "NOT_FOUND", "categoryId"),
        ({"categoryId": "99999999999999999999999"}, "NOT_FOUND", "categoryId"),
        ({"articleId": "999999"}, "NOT_FOUND", "articleId"),
    ],
)
async def test_a_refused_save_is_typed_and_changes_nothing(client, change, code, field):
    cs = await staff_token("cs")
    repayments, draft = await _draft(client, cs)
    await publish(client, cs, repayments, "taken", "另一篇", "正文")
    second = await save(
        client,
        cs,
        articleId=draft["id"],
        categoryId=repayments,
        slug="overdue",
        title=TITLE,
        body=BODY,
        status="PUBLISHED",
    )
    assert second["article"]["version"] == 2
    before = await help_state()

    saved = await save(
        client,
        cs,
        **{
            "articleId": draft["id"],
            "categoryId": repayments,
            "slug": "overdue",
            "title": "新标题",
            "body": "新正文",
            "status": "DRAFT",
            **change,
        },
    )

    assert saved == {"__typename": "SaveHelpArticleError", "code": code, "field": field}
    assert await help_state() == before


async def test_one_article_by_id_or_slug_not_both_nor_neither(client):
    both = await gql(client, '{ helpArticle(id: "1", slug: "x") { id } }')
    neither = await gql(client, "{ helpArticle { id } }")

    assert error_codes(both) == ["BAD_USER_INPUT"]
    assert error_codes(neither) == ["BAD_USER_INPUT"]


async def test_two_saves_of_one_version_at_once_one_lands(client):
    cs = await staff_token("cs")
    repayments, draft = await _draft(client, cs)

    first, second = await asyncio.gather(
        *(
            save(
                client,
                cs,
                articleId=draft["id"],
                expectedVersion=1,
                categoryId=repayments,
                slug="overdue",
                title=title,
                body=BODY,
                status="PUBLISHED",
            )
            for title in ("甲", "乙")
        )
    )

    landed = [answer for answer in (first, second) if answer["__typename"] == "HelpArticleSaved"]
    refused = [answer for answer in (first, second) if answer not in landed]
    assert len(landed) == 1
    assert [answer["code"] for answer in refused] == ["VERSION_CONFLICT"]
    row = await HelpArticle.get(id=int(draft["id"]))
    assert (row.version, row.title) == (2, landed[0]["article"]["title"])
    versions = await gql(client, VERSIONS, {"id": draft["id"]}, token=cs)
    assert [v["number"] for v in versions["data"]["helpArticleVersions"]] == [2, 1]


async def test_two_new_articles_with_one_slug_at_once_one_lands(client):
    cs = await staff_token("cs")
    repayments = await category(client, cs, "repayments", "还款")

    answers = await asyncio.gather(
        *(
            save(
                client,
                cs,
                categoryId=repayments,
                slug="same-slug",
                title=title,
                body=BODY,
                status="PUBLISHED",
            )
            for title in ("甲", "乙")
        )
    )

    assert sorted(answer["__typename"] for answer in answers) == [
        "HelpArticleSaved",
        "SaveHelpArticleError",
    ]
    assert [a["code"] for a in answers if "code" in a] == ["SLUG_TAKEN"]
    assert await HelpArticle.filter(slug="same-slug").count() == 1


async def test_categories_are_saved_ordered_and_refused_typed(client):
    cs = await staff_token("cs")
    first = await category(client, cs, "repayments", "还款")
    await category(client, cs, "account", "账户")

    async def save_category(**fields: Any) -> dict[str, Any]:
        body = await gql(client, SAVE_CATEGORY, {"input": fields}, token=cs)
        assert "errors" not in body, body
        return dict(body["data"]["saveHelpCategory"])

    moved = await save_category(categoryId=first, slug="repayments", name="还款问题", position=5)
    assert moved["category"] == {
        "id": first,
        "slug": "repayments",
        "name": "还款问题",
        "position": 5,
        "publishedArticleCount": 0,
    }
    before = await help_state()
    refused = [
        await save_category(slug="account", name="重复"),
        await save_category(categoryId=first, slug="account", name="重复"),
        await save_category(slug="Not A Slug", name="x"),
        await save_category(slug="ok-slug", name=" "),
        await save_category(slug="ok-slug", name="x", position=-1),
        await save_category(categoryId="424242", slug="ok-slug", name="x"),
    ]
    assert [(r["code"], r["field"]) for r in refused] == [
        ("SLUG_TAKEN", "slug"),
        ("SLUG_TAKEN", "slug"),
        ("INVALID", "slug"),
        ("INVALID", "name"),
        ("INVALID", "position"),
        ("NOT_FOUND", "categoryId"),
    ]
    assert await help_state() == before
    listed = await gql(client, "{ helpCategories { slug position } }")
    assert listed["data"]["helpCategories"] == [
        {"slug": "account", "position": 0},
        {"slug": "repayments", "position": 5},
    ]
