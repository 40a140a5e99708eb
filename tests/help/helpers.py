"""The help centre's API documents and set-up, shared by its tests."""

from __future__ import annotations

from typing import Any

import httpx

from models.help import HelpArticle, HelpArticleVersion, HelpArticleVote, HelpCategory
from tests.factories import create_staff, gql, token_for

ARTICLE = """id slug title body status version readCount helpfulCount notHelpfulCount
  firstPublishedAt category { id slug publishedArticleCount }"""
SAVE_CATEGORY = """mutation ($input: SaveHelpCategoryInput!) { saveHelpCategory(input: $input) {
  __typename ... on HelpCategorySaved { category { id slug name position publishedArticleCount } }
  ... on SaveHelpCategoryError { code field } } }"""
SAVE_ARTICLE = (
    """mutation ($input: SaveHelpArticleInput!) { saveHelpArticle(input: $input) {
  __typename ... on HelpArticleSaved { article { """
    + ARTICLE
    + """ } } ... on SaveHelpArticleError { code field } } }"""
)
ARTICLES = (
    """query ($search: String, $category: ID, $order: HelpArticleOrder, $status: HelpArticleStatus,
  $first: Int, $after: String) {
  helpArticles(search: $search, categoryId: $category, order: $order, status: $status,
    first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { """
    + ARTICLE
    + """ } } } }"""
)
ONE = (
    """query ($id: ID, $slug: String) { helpArticle(id: $id, slug: $slug) { """
    + ARTICLE
    + """ } }"""
)
VERSIONS = """query ($id: ID!) { helpArticleVersions(articleId: $id) {
  number slug categoryId title body status note savedBy savedAt } }"""
RATE = """mutation ($input: RateHelpArticleInput!) { rateHelpArticle(input: $input) {
  __typename ... on HelpArticleRated { article { helpfulCount notHelpfulCount } }
  ... on RateHelpArticleError { code field } } }"""


async def staff_token(*roles: str) -> str:
    _user, phone = await create_staff(*roles)
    return await token_for(phone)


async def category(client: httpx.AsyncClient, token: str, slug: str, name: str) -> str:
    body = await gql(client, SAVE_CATEGORY, {"input": {"slug": slug, "name": name}}, token=token)
    saved = body["data"]["saveHelpCategory"]
    assert saved["__typename"] == "HelpCategorySaved", saved
    return str(saved["category"]["id"])


async def save(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    """saveHelpArticle with `fields` (camelCase input fields); returns the union member."""
    body = await gql(client, SAVE_ARTICLE, {"input": fields}, token=token)
    assert "errors" not in body, body
    return dict(body["data"]["saveHelpArticle"])


async def publish(
    client: httpx.AsyncClient, token: str, category_id: str, slug: str, title: str, body: str
) -> dict[str, Any]:
    saved = await save(
        client,
        token,
        categoryId=category_id,
        slug=slug,
        title=title,
        body=body,
        status="PUBLISHED",
    )
    assert saved["__typename"] == "HelpArticleSaved", saved
    return dict(saved["article"])


async def articles(
    client: httpx.AsyncClient, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    return await gql(client, ARTICLES, variables, token=token)


def slugs(body: dict[str, Any]) -> list[str]:
    return [edge["node"]["slug"] for edge in body["data"]["helpArticles"]["edges"]]


async def help_state() -> dict[str, Any]:
    """Everything of the help centre a refused call could change."""
    return {
        "categories": sorted(
            await HelpCategory.all().values_list("id", "slug", "name", "position")
        ),
        "articles": sorted(
            await HelpArticle.all().values_list(
                "id",
                "slug",
                "title",
                "status",
                "version",
                "read_count",
                "helpful_count",
                "not_helpful_count",
            )
        ),
        "versions": await HelpArticleVersion.all().count(),
        "votes": await HelpArticleVote.all().count(),
    }
