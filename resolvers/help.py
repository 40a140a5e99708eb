"""Help centre (issue 22, M1.13): categories, articles, search, versions, saves, votes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import Info

from models.help import ArticleStatus, HelpArticle, HelpArticleVersion, HelpCategory
from resolvers.ids import number_of
from schema.errors import BadUserInputError
from schema.pagination import Connection, Edge, PageInfo, clamp_first
from schema.types import help as t
from services.errors import DomainError, NotFoundError, PermissionDeniedError
from services.help import articles as writing
from services.help import reading

_BIGINT = 2**63 - 1
_EMPTY = PageInfo(has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None)


def _id(value: strawberry.ID, field: str) -> int:
    number = number_of(value, field)
    if number > _BIGINT:
        raise NotFoundError("Not found", field=field)
    return number


def _encode(key: int, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"h:{key}:{row_id}".encode()).decode()


def _decode(after: str | None) -> tuple[int, int] | None:
    """(sort key, id) inside a helpArticles cursor; a malformed one is BAD_USER_INPUT."""
    if not after:
        return None
    try:
        kind, key, row_id = base64.urlsafe_b64decode(after.encode()).decode().split(":")
        if kind != "h" or len(after) > 80:
            raise ValueError(after)
        return int(key), int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadUserInputError("Unknown cursor", field="after") from error


def _category(row: HelpCategory, published: int) -> t.HelpCategory:
    return t.HelpCategory(
        id=strawberry.ID(str(row.id)),
        slug=row.slug,
        name=row.name,
        description=row.description,
        position=row.position,
        published_article_count=published,
    )


async def _categories_of(ids: set[int]) -> dict[int, t.HelpCategory]:
    """The categories named, with their counts (two statements whatever their number)."""
    return {
        row.id: _category(row, published)
        for row, published in await reading.categories()
        if row.id in ids
    }


def _article(row: HelpArticle, category: t.HelpCategory) -> t.HelpArticle:
    return t.HelpArticle(
        id=strawberry.ID(str(row.id)),
        slug=row.slug,
        title=row.title,
        body=row.body,
        status=t.HelpArticleStatus(str(row.status)),
        version=row.version,
        category=category,
        read_count=row.read_count,
        helpful_count=row.helpful_count,
        not_helpful_count=row.not_helpful_count,
        first_published_at=row.first_published_at,
        updated_at=row.updated_at,
    )


async def _shaped(rows: Sequence[HelpArticle]) -> list[t.HelpArticle]:
    found = await _categories_of({row.category_id for row in rows}) if rows else {}
    return [_article(row, found[row.category_id]) for row in rows]


async def _one(row: HelpArticle) -> t.HelpArticle:
    return (await _shaped([row]))[0]


async def help_categories() -> list[t.HelpCategory]:
    return [_category(row, published) for row, published in await reading.categories()]


async def help_articles(
    info: Info,
    search: Annotated[
        str | None,
        strawberry.argument(
            description="Words or Chinese text to look for in titles and bodies (at most "
            "100 characters; one wrong character of a word still finds it)."
        ),
    ] = None,
    category_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this category's.")
    ] = None,
    order: Annotated[
        t.HelpArticleOrder | None,
        strawberry.argument(description="NEWEST unless given (RELEVANCE with a search)."),
    ] = None,
    status: Annotated[
        t.HelpArticleStatus | None,
        strawberry.argument(
            description="PUBLISHED unless given; DRAFT and ARCHIVED for staff with "
            "help:manage only (FORBIDDEN otherwise)."
        ),
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="Page size: 20 unless given, at most 100.")
    ] = 20,
    after: Annotated[
        str | None, strawberry.argument(description="The endCursor of the page before.")
    ] = None,
) -> Connection[t.HelpArticle]:
    size = clamp_first(first)
    cursor = _decode(after)
    try:
        category = _id(category_id, "categoryId") if category_id is not None else None
        page = await reading.list_articles(
            actor=await info.context.get_actor(),
            status=ArticleStatus(status.value) if status is not None else None,
            category_id=category,
            search=search,
            order=reading.ArticleOrder(order.name) if order is not None else None,
            first=size + 1,
            after=cursor,
        )
    except PermissionDeniedError as error:
        raise StrawberryGraphQLError(error.message, extensions={"code": "FORBIDDEN"}) from error
    except NotFoundError:  # a category id that cannot exist: no article is in it
        return Connection(edges=[], page_info=_EMPTY, total_count=0)
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    rows = page.rows[:size]
    shaped = await _shaped([row for row, _key in rows])
    edges = [
        Edge(node=node, cursor=_encode(key, row.id))
        for (row, key), node in zip(rows, shaped, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page.rows) > size,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )


async def help_article(
    info: Info,
    id: Annotated[strawberry.ID | None, strawberry.argument(description="Its id.")] = None,
    slug: Annotated[str | None, strawberry.argument(description="Or its slug.")] = None,
) -> t.HelpArticle | None:
    try:
        article_id = _id(id, "id") if id is not None else None
        if slug is not None and len(slug) > 96:
            return None
        row = await reading.get_article(
            actor=await info.context.get_actor(), article_id=article_id, slug=slug
        )
    except NotFoundError:
        return None
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return await _one(row) if row is not None else None


def _version(row: HelpArticleVersion) -> t.HelpArticleVersion:
    return t.HelpArticleVersion(
        number=row.number,
        slug=row.slug,
        category_id=strawberry.ID(str(row.category_id)),
        title=row.title,
        body=row.body,
        status=t.HelpArticleStatus(str(row.status)),
        note=row.note,
        saved_by=strawberry.ID(str(relay.GlobalID("User", str(row.saved_by)))),
        saved_at=row.saved_at,
    )


async def help_article_versions(
    article_id: Annotated[strawberry.ID, strawberry.argument(description="The article.")],
) -> list[t.HelpArticleVersion]:
    try:
        rows = await writing.versions_of(_id(article_id, "articleId"))
    except DomainError as error:
        raise BadUserInputError(error.message, field=error.field) from error
    return [_version(row) for row in rows]


async def save_help_category(
    info: Info, input: t.SaveHelpCategoryInput
) -> t.SaveHelpCategoryResult:
    try:
        row = await writing.save_category(
            actor=await info.context.get_actor(),
            category_id=_id(input.category_id, "categoryId") if input.category_id else None,
            slug=input.slug,
            name=input.name,
            description=input.description,
            position=input.position,
        )
    except DomainError as error:
        return t.SaveHelpCategoryError.from_domain(error)
    return t.HelpCategorySaved(category=(await _categories_of({row.id}))[row.id])


async def save_help_article(info: Info, input: t.SaveHelpArticleInput) -> t.SaveHelpArticleResult:
    try:
        row = await writing.save_article(
            actor=await info.context.get_actor(),
            article_id=_id(input.article_id, "articleId") if input.article_id else None,
            draft=writing.ArticleDraft(
                slug=input.slug,
                category_id=_id(input.category_id, "categoryId"),
                title=input.title,
                body=input.body,
                status=ArticleStatus(input.status.value),
                note=input.note,
            ),
            expected_version=input.expected_version,
        )
    except DomainError as error:
        return t.SaveHelpArticleError.from_domain(error)
    return t.HelpArticleSaved(article=await _one(row))


async def rate_help_article(info: Info, input: t.RateHelpArticleInput) -> t.RateHelpArticleResult:
    try:
        row = await reading.rate_article(
            actor=await info.context.get_actor(),
            article_id=_id(input.article_id, "articleId"),
            helpful=input.helpful,
            visitor_key=input.visitor_key,
            client_ip=info.context.client_ip,
        )
    except DomainError as error:
        return t.RateHelpArticleError.from_domain(error)
    return t.HelpArticleRated(article=await _one(row))
