"""Writing the help centre: categories and articles, each save of an article a version.

Only staff with `help:manage` reach these (gate 1 on the fields); every function takes
the actor for the record of who saved what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.help import ArticleStatus, HelpArticle, HelpArticleVersion, HelpCategory, HelpSearchGram
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.help import tokens
from services.identity.permissions import Actor
from services.platform import clock

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_BODY = 20_000  # characters: 60 kB of Chinese in UTF-8, within the 100 kB request cap


def _slug(value: str, *, longest: int) -> str:
    slug = value.strip()
    if not 2 <= len(slug) <= longest or not _SLUG.fullmatch(slug):
        raise InvalidInputError(
            f"A slug is 2 to {longest} lowercase letters, digits and single hyphens",
            field="slug",
        )
    return slug


def _text(value: str, *, field: str, longest: int) -> str:
    text = value.strip()
    if not 1 <= len(text) <= longest:
        raise InvalidInputError(f"{field} is 1 to {longest} characters", field=field)
    return text


def _user(actor: Actor) -> int:
    if actor.user_id is None:
        raise DomainError("Staff only", code="FORBIDDEN")
    return actor.user_id


async def save_category(
    *,
    actor: Actor,
    category_id: int | None,
    slug: str,
    name: str,
    description: str,
    position: int,
) -> HelpCategory:
    """Create a category (`category_id` None) or change one. Raises InvalidInputError
    (slug, name, description, position), NotFoundError (no such category) and
    DomainError(SLUG_TAKEN)."""
    _user(actor)
    slug = _slug(slug, longest=64)
    name = _text(name, field="name", longest=64)
    description = description.strip()
    if len(description) > 500:
        raise InvalidInputError("description is at most 500 characters", field="description")
    if not 0 <= position <= 10_000:
        raise InvalidInputError("position is 0 to 10000", field="position")
    try:
        return await _write_category(category_id, slug, name, description, position)
    except IntegrityError as error:  # the slug taken at the same moment
        raise DomainError(
            "Another category has this slug", code="SLUG_TAKEN", field="slug"
        ) from error


async def _write_category(
    category_id: int | None, slug: str, name: str, description: str, position: int
) -> HelpCategory:
    now = await clock.now()
    async with in_transaction():
        taken = HelpCategory.filter(slug=slug)
        if category_id is not None:
            taken = taken.exclude(id=category_id)
        if await taken.exists():
            raise DomainError("Another category has this slug", code="SLUG_TAKEN", field="slug")
        if category_id is None:
            return await HelpCategory.create(
                slug=slug,
                name=name,
                description=description,
                position=position,
                created_at=now,
                updated_at=now,
            )
        found = await HelpCategory.get_or_none(id=category_id)
        if found is None:
            raise NotFoundError("No such category", field="categoryId")
        await HelpCategory.filter(id=category_id).update(
            slug=slug, name=name, description=description, position=position, updated_at=now
        )
        await found.refresh_from_db()
        return found


@dataclass(frozen=True)
class ArticleDraft:
    """What a save of an article says (the whole article: every save is a full version)."""

    slug: str
    category_id: int
    title: str
    body: str
    status: ArticleStatus
    note: str = ""


def _checked(draft: ArticleDraft) -> ArticleDraft:
    note = draft.note.strip()
    if len(note) > 500:
        raise InvalidInputError("note is at most 500 characters", field="note")
    return ArticleDraft(
        slug=_slug(draft.slug, longest=96),
        category_id=draft.category_id,
        title=_text(draft.title, field="title", longest=200),
        body=_text(draft.body, field="body", longest=MAX_BODY),
        status=draft.status,
        note=note,
    )


async def _reindex(article_id: int, title: str, body: str) -> None:
    """The article's grams written again (in the caller's transaction)."""
    await HelpSearchGram.filter(article_id=article_id).delete()
    await HelpSearchGram.bulk_create(
        [
            HelpSearchGram(article_id=article_id, gram=gram.text, kind=gram.kind, weight=weight)
            for gram, weight in tokens.index_weights(title, body).items()
        ]
    )


async def save_article(
    *,
    actor: Actor,
    article_id: int | None,
    draft: ArticleDraft,
    expected_version: int | None = None,
) -> HelpArticle:
    """Create an article (`article_id` None: version 1) or save a new version of one. The
    article then shows this version (its status too: saving a published article as DRAFT
    takes it off the public help centre); the versions before are kept unchanged. With
    `expected_version`, the save is refused when someone saved since (VERSION_CONFLICT);
    two saves at once never both land on one version number (the conditional UPDATE).

    Raises InvalidInputError (slug, title, body, note), NotFoundError (article,
    category) and DomainError(SLUG_TAKEN, VERSION_CONFLICT)."""
    saved_by = _user(actor)
    draft = _checked(draft)
    now = await clock.now()
    try:
        async with in_transaction():
            if article_id is not None and not await HelpArticle.filter(id=article_id).exists():
                raise NotFoundError("No such article", field="articleId")
            if not await HelpCategory.filter(id=draft.category_id).exists():
                raise NotFoundError("No such category", field="categoryId")
            taken = HelpArticle.filter(slug=draft.slug)
            if article_id is not None:
                taken = taken.exclude(id=article_id)
            if await taken.exists():
                raise DomainError("Another article has this slug", code="SLUG_TAKEN", field="slug")
            article = await _write(article_id, draft, saved_by, now, expected_version)
            await HelpArticleVersion.create(
                article_id=article.id,
                number=article.version,
                slug=draft.slug,
                category_id=draft.category_id,
                title=draft.title,
                body=draft.body,
                status=draft.status,
                note=draft.note,
                saved_by=saved_by,
                saved_at=now,
            )
            await _reindex(article.id, draft.title, draft.body)
    except IntegrityError as error:  # a slug or a version number taken at the same moment
        if await HelpArticle.filter(slug=draft.slug).exclude(id=article_id or 0).exists():
            raise DomainError(
                "Another article has this slug", code="SLUG_TAKEN", field="slug"
            ) from error
        raise DomainError(
            "Someone saved at the same moment: read the article again",
            code="VERSION_CONFLICT",
            field="expectedVersion",
        ) from error
    return article


async def _write(
    article_id: int | None,
    draft: ArticleDraft,
    saved_by: int,
    now: datetime,
    expected_version: int | None,
) -> HelpArticle:
    published_now = now if draft.status is ArticleStatus.PUBLISHED else None
    values: dict[str, Any] = {
        "slug": draft.slug,
        "category_id": draft.category_id,
        "title": draft.title,
        "body": draft.body,
        "status": draft.status,
        "updated_by": saved_by,
        "updated_at": now,
    }
    if article_id is None:
        if expected_version not in (None, 0):
            raise DomainError("A new article has no version yet", code="VERSION_CONFLICT")
        return await HelpArticle.create(
            **values,
            version=1,
            first_published_at=published_now,
            created_by=saved_by,
            created_at=now,
        )
    found = await HelpArticle.get_or_none(id=article_id)
    if found is None:
        raise NotFoundError("No such article", field="articleId")
    if expected_version is not None and expected_version != found.version:
        raise DomainError(
            f"The article is at version {found.version} now, not {expected_version}",
            code="VERSION_CONFLICT",
            field="expectedVersion",
        )
    # The version moves only from the one read: a save in between makes this one count 0.
    moved = await HelpArticle.filter(id=article_id, version=found.version).update(
        **values, version=found.version + 1
    )
    if moved != 1:
        raise DomainError(
            "Someone saved at the same moment: read the article again",
            code="VERSION_CONFLICT",
            field="expectedVersion",
        )
    if published_now is not None:
        await HelpArticle.filter(Q(id=article_id) & Q(first_published_at__isnull=True)).update(
            first_published_at=published_now
        )
    await found.refresh_from_db()
    return found


async def versions_of(article_id: int) -> list[HelpArticleVersion]:
    """Every saved version of an article, newest first (NotFoundError: no such article)."""
    if not await HelpArticle.filter(id=article_id).exists():
        raise NotFoundError("No such article", field="articleId")
    return await HelpArticleVersion.filter(article_id=article_id).order_by("-number")
