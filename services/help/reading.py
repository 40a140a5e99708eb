"""Reading the help centre: the categories, a page of articles (newest, most read, or
ranked by a search), one article (a read counted), and the "did this help" votes.

The public sees PUBLISHED articles only; staff with `help:manage` may also list and open
drafts and archived ones (no read is counted for them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models.help import ArticleStatus, GramKind, HelpArticle, HelpArticleVote, HelpCategory
from services.errors import DomainError, InvalidInputError, NotFoundError, PermissionDeniedError
from services.help import tokens
from services.identity.permissions import Actor, Permission
from services.kit.broker import get_broker
from services.kit.db import param
from services.platform import clock

MAX_SEARCH = 100  # characters, after trimming: a longer search is refused
# Anonymous votes one address may cast an hour (each also needs its own visitor key).
ANONYMOUS_VOTES_PER_HOUR = 30
# A bigram or a word found weighs 4 times a single character found.
_KIND_FACTOR = f"CASE g.kind WHEN '{GramKind.CJK_UNIGRAM.value}' THEN 1 ELSE 4 END"


class ArticleOrder(StrEnum):
    NEWEST = "NEWEST"  # by id, newest first
    MOST_READ = "MOST_READ"  # read_count, then id, highest first
    RELEVANCE = "RELEVANCE"  # search score, then id (the default with a search)


async def categories() -> list[tuple[HelpCategory, int]]:
    """Every category in display order, with its number of published articles (two
    statements)."""
    rows = await HelpCategory.all().order_by("position", "id")
    counted = cast(
        list[tuple[int, int]],
        await HelpArticle.filter(status=ArticleStatus.PUBLISHED)
        .group_by("category_id")
        .annotate(count=Count("id"))
        .values_list("category_id", "count"),
    )
    published = {int(category): int(count) for category, count in counted}
    return [(row, published.get(row.id, 0)) for row in rows]


def _status_for(actor: Actor, status: ArticleStatus | None) -> ArticleStatus:
    wanted = status or ArticleStatus.PUBLISHED
    if wanted is not ArticleStatus.PUBLISHED and not actor.can(Permission.HELP_MANAGE):
        raise PermissionDeniedError(
            "Only help-centre staff read drafts and archived articles", field="status"
        )
    return wanted


def search_text(search: str | None) -> str | None:
    """The search as used: trimmed, None when empty. Longer than 100 characters is
    InvalidInputError (field search): nothing is looked up."""
    if search is None:
        return None
    text = search.strip()
    if len(text) > MAX_SEARCH:
        raise InvalidInputError(f"A search is at most {MAX_SEARCH} characters", field="search")
    return text or None


@dataclass(frozen=True)
class Page:
    """Up to `first` + 1 articles (the extra one tells a next page follows), each with
    its sort key (the cursor is (key, id)), and how many match in all."""

    rows: list[tuple[HelpArticle, int]]
    total: int


async def list_articles(
    *,
    actor: Actor,
    status: ArticleStatus | None,
    category_id: int | None,
    search: str | None,
    order: ArticleOrder | None,
    first: int,
    after: tuple[int, int] | None,
) -> Page:
    """A page of articles. Without a search: NEWEST (default) or MOST_READ. With one
    (services/help/tokens.py): the articles having at least half the search's characters
    and words, by relevance (default) or MOST_READ; a search with no letters, digits or
    CJK characters matches nothing. Keyset pages on (key, id) from `after`.

    Raises InvalidInputError (search too long, RELEVANCE without a search) and
    PermissionDeniedError (a status other than PUBLISHED without help:manage)."""
    wanted = _status_for(actor, status)
    text = search_text(search)
    if text is None:
        if order is ArticleOrder.RELEVANCE:
            raise InvalidInputError("RELEVANCE orders a search only", field="order")
        return await _plain(wanted, category_id, order or ArticleOrder.NEWEST, first, after)
    query = tokens.query_of(text)
    if not query.grams:
        return Page([], 0)
    return await _searched(
        wanted, category_id, query, order or ArticleOrder.RELEVANCE, first, after
    )


async def _plain(
    status: ArticleStatus,
    category_id: int | None,
    order: ArticleOrder,
    first: int,
    after: tuple[int, int] | None,
) -> Page:
    scope = HelpArticle.filter(status=status)
    if category_id is not None:
        scope = scope.filter(category_id=category_id)
    total = await scope.count()
    page = scope
    if order is ArticleOrder.MOST_READ:
        if after is not None:
            key, last = after
            page = page.filter(Q(read_count__lt=key) | Q(read_count=key, id__lt=last))
        rows = await page.order_by("-read_count", "-id").limit(first)
        return Page([(row, row.read_count) for row in rows], total)
    if after is not None:
        page = page.filter(id__lt=after[1])
    rows = await page.order_by("-id").limit(first)
    return Page([(row, row.id) for row in rows], total)


async def _searched(
    status: ArticleStatus,
    category_id: int | None,
    query: tokens.Query,
    order: ArticleOrder,
    first: int,
    after: tuple[int, int] | None,
) -> Page:
    """Two statements: the matches (score and the page, keyset in SQL) and their count;
    then the page's articles (one more). Every value is a bound parameter."""
    connection = connections.get("default")
    values: list[Any] = [gram.text for gram in query.grams]
    grams_in = ", ".join(param(connection, n) for n in range(1, len(values) + 1))

    def bind(value: Any) -> str:
        values.append(value)
        return param(connection, len(values))

    matched = (
        f"SELECT g.article_id AS id, SUM(({_KIND_FACTOR}) * g.weight) AS score,"
        f" SUM(CASE g.kind WHEN '{GramKind.CJK_BIGRAM.value}' THEN 0 ELSE 1 END) AS units"
        f" FROM help_search_grams g WHERE g.gram IN ({grams_in}) GROUP BY g.article_id"
    )
    where = f"m.units >= {bind(query.min_units)} AND a.status = {bind(status.value)}"
    if category_id is not None:
        where += f" AND a.category_id = {bind(category_id)}"
    base = f"FROM ({matched}) m JOIN help_articles a ON a.id = m.id WHERE {where}"
    counted = await connection.execute_query_dict(f"SELECT COUNT(*) AS n {base}", list(values))
    key = "m.score" if order is ArticleOrder.RELEVANCE else "a.read_count"
    keyset = ""
    if after is not None:
        last_key, last_id = after
        k, i = bind(last_key), bind(last_id)
        keyset = f" AND ({key} < {k} OR ({key} = {k} AND m.id < {i}))"
    found = await connection.execute_query_dict(
        f"SELECT m.id AS id, {key} AS sort_key {base}{keyset}"
        f" ORDER BY {key} DESC, m.id DESC LIMIT {bind(first)}",
        values,
    )
    ids = [int(row["id"]) for row in found]
    articles = {row.id: row for row in await HelpArticle.filter(id__in=ids)} if ids else {}
    rows = [(articles[int(row["id"])], int(row["sort_key"])) for row in found]
    return Page(rows, int(counted[0]["n"]))


async def get_article(
    *, actor: Actor, article_id: int | None, slug: str | None
) -> HelpArticle | None:
    """One article by id or slug (exactly one given: InvalidInputError otherwise). A
    PUBLISHED one counts a read (one UPDATE adding one, never read-add-save); a draft or
    archived one is None for the public and shown to staff with help:manage (not
    counted)."""
    if (article_id is None) == (slug is None):
        raise InvalidInputError("Give the article's id or its slug", field="id")
    where = Q(id=article_id) if article_id is not None else Q(slug=slug)
    counted = await HelpArticle.filter(where, status=ArticleStatus.PUBLISHED).update(
        read_count=F("read_count") + 1
    )
    if counted:
        return await HelpArticle.get_or_none(where)
    if actor.can(Permission.HELP_MANAGE):
        return await HelpArticle.get_or_none(where)
    return None


def _voter(actor: Actor, visitor_key: str | None) -> str:
    if actor.user_id is not None:
        return f"u:{actor.user_id}"
    key = (visitor_key or "").strip()
    if not 16 <= len(key) <= 128:
        raise InvalidInputError(
            "Without logging in, send your visitor key (16 to 128 characters)",
            field="visitorKey",
        )
    return "v:" + hashlib.sha256(key.encode()).hexdigest()


async def rate_article(
    *,
    actor: Actor,
    article_id: int,
    helpful: bool,
    visitor_key: str | None,
    client_ip: str,
) -> HelpArticle:
    """Say whether a PUBLISHED article helped: one answer per article and voter (a
    logged-in user by their id; an anonymous reader by the visitor key their browser
    keeps, and at most 30 anonymous answers an hour from one address). The article's
    helpful or not-helpful count grows by one UPDATE in the vote's transaction.

    Raises NotFoundError (no such published article), InvalidInputError (visitor key)
    and DomainError(ALREADY_RATED, TOO_MANY_VOTES)."""
    voter = _voter(actor, visitor_key)
    if not await HelpArticle.filter(id=article_id, status=ArticleStatus.PUBLISHED).exists():
        raise NotFoundError("No such article", field="articleId")
    if await HelpArticleVote.filter(article_id=article_id, voter=voter).exists():
        raise DomainError("You answered for this article already", code="ALREADY_RATED")
    if actor.user_id is None:
        hits = await get_broker().hit(f"help-votes:{client_ip}", 3600)
        if hits > ANONYMOUS_VOTES_PER_HOUR:
            raise DomainError(
                "Too many answers from your address: try again later", code="TOO_MANY_VOTES"
            )
    counter = "helpful_count" if helpful else "not_helpful_count"
    try:
        async with in_transaction():
            await HelpArticleVote.create(
                article_id=article_id, voter=voter, helpful=helpful, created_at=await clock.now()
            )
            await HelpArticle.filter(id=article_id).update(**{counter: F(counter) + 1})
    except IntegrityError as error:  # the same voter twice at the same moment
        raise DomainError("You answered for this article already", code="ALREADY_RATED") from error
    return await HelpArticle.get(id=article_id)
