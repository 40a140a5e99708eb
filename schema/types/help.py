"""GraphQL types of the help centre (issue 22, M1.13): categories, articles, versions."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.errors import error_codes, error_type


@strawberry.enum(
    description="Where an article is: DRAFT (staff only), PUBLISHED (anyone reads it and "
    "the search finds it), ARCHIVED (staff only, kept with its versions and counts)."
)
class HelpArticleStatus(Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


@strawberry.enum(description="How helpArticles orders its page.")
class HelpArticleOrder(Enum):
    NEWEST = strawberry.enum_value("NEWEST", description="Newest article first (the default).")
    MOST_READ = strawberry.enum_value("MOST_READ", description="Most read first, then newest.")
    RELEVANCE = strawberry.enum_value(
        "RELEVANCE",
        description="Best match of the search first (the default with a search; only with one).",
    )


@strawberry.type(description="A heading of the help centre.")
class HelpCategory:
    id: strawberry.ID = strawberry.field(description="Category id.")
    slug: str = strawberry.field(description="Its name in addresses (lowercase, hyphens).")
    name: str = strawberry.field(description="Its title.")
    description: str = strawberry.field(description="A line about it (may be empty).")
    position: int = strawberry.field(description="Display order, lowest first.")
    published_article_count: int = strawberry.field(
        description="How many of its articles are published."
    )


@strawberry.type(description="A help-centre article as it stands (its latest saved version).")
class HelpArticle:
    id: strawberry.ID = strawberry.field(description="Article id.")
    slug: str = strawberry.field(description="Its name in addresses (lowercase, hyphens).")
    title: str = strawberry.field(description="Its title.")
    body: str = strawberry.field(description="Its text (plain text or Markdown).")
    status: HelpArticleStatus = strawberry.field(description="Where it is.")
    version: int = strawberry.field(description="The number of the version shown (1 = first).")
    category: HelpCategory = strawberry.field(description="Its category.")
    read_count: int = strawberry.field(
        description="Times it was opened (helpArticle) while published."
    )
    helpful_count: int = strawberry.field(description='"Did this help?" answered yes.')
    not_helpful_count: int = strawberry.field(description='"Did this help?" answered no.')
    first_published_at: datetime | None = strawberry.field(
        description="When it was first published (UTC); null if never."
    )
    updated_at: datetime = strawberry.field(description="When it was last saved (UTC).")


@strawberry.type(description="One save of an article, kept as it was saved.")
class HelpArticleVersion:
    number: int = strawberry.field(description="Its number (1 = the first save).")
    slug: str = strawberry.field(description="The slug saved.")
    category_id: strawberry.ID = strawberry.field(description="The category saved.")
    title: str = strawberry.field(description="The title saved.")
    body: str = strawberry.field(description="The text saved.")
    status: HelpArticleStatus = strawberry.field(description="The status saved.")
    note: str = strawberry.field(description="The staff's note on the change (may be empty).")
    saved_by: strawberry.ID = strawberry.field(
        description="The staff user who saved it (a User global id)."
    )
    saved_at: datetime = strawberry.field(description="When (UTC).")


# --- saveHelpCategory ---------------------------------------------------------------------


@strawberry.input(description="A new category, or the whole of an existing one.")
class SaveHelpCategoryInput:
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="The category to change; omitted to create one."
    )
    slug: str = strawberry.field(
        description="2 to 64 lowercase letters, digits and single hyphens; unique."
    )
    name: str = strawberry.field(description="1 to 64 characters.")
    description: str = strawberry.field(default="", description="At most 500 characters.")
    position: int = strawberry.field(default=0, description="Display order, 0 to 10000.")


@strawberry.type(description="The category is saved.")
class HelpCategorySaved:
    category: HelpCategory = strawberry.field(description="The category as saved.")


SaveHelpCategoryErrorCode = error_codes(
    "SaveHelpCategory",
    ["INVALID", "NOT_FOUND", "SLUG_TAKEN"],
    "Why nothing was saved (SLUG_TAKEN: another category has the slug).",
)
SaveHelpCategoryError = error_type("SaveHelpCategory", SaveHelpCategoryErrorCode, "Nothing saved.")
SaveHelpCategoryResult = Annotated[
    HelpCategorySaved | SaveHelpCategoryError, strawberry.union("SaveHelpCategoryResult")
]


# --- saveHelpArticle ----------------------------------------------------------------------


@strawberry.input(description="A new article, or a new version of one (the whole article).")
class SaveHelpArticleInput:
    article_id: strawberry.ID | None = strawberry.field(
        default=None, description="The article to save a new version of; omitted to create."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The version you edited: if someone saved since, nothing is saved "
        "(VERSION_CONFLICT). Omitted: saved over whatever is there.",
    )
    category_id: strawberry.ID = strawberry.field(description="Its category.")
    slug: str = strawberry.field(
        description="2 to 96 lowercase letters, digits and single hyphens; unique."
    )
    title: str = strawberry.field(description="1 to 200 characters.")
    body: str = strawberry.field(description="1 to 20,000 characters.")
    status: HelpArticleStatus = strawberry.field(
        description="The article's status from this version on: PUBLISHED shows it to "
        "everyone, DRAFT or ARCHIVED takes it off the public help centre."
    )
    note: str = strawberry.field(
        default="", description="What changed, for the version history (at most 500)."
    )


@strawberry.type(description="A new version is saved and is what the article shows.")
class HelpArticleSaved:
    article: HelpArticle = strawberry.field(description="The article, at its new version.")


SaveHelpArticleErrorCode = error_codes(
    "SaveHelpArticle",
    ["INVALID", "NOT_FOUND", "SLUG_TAKEN", "VERSION_CONFLICT"],
    "Why nothing was saved (NOT_FOUND: no such article or category; SLUG_TAKEN: another "
    "article has the slug; VERSION_CONFLICT: someone saved a version since expectedVersion).",
)
SaveHelpArticleError = error_type("SaveHelpArticle", SaveHelpArticleErrorCode, "Nothing saved.")
SaveHelpArticleResult = Annotated[
    HelpArticleSaved | SaveHelpArticleError, strawberry.union("SaveHelpArticleResult")
]


# --- rateHelpArticle ----------------------------------------------------------------------


@strawberry.input(description='Answer "did this help?" for a published article.')
class RateHelpArticleInput:
    article_id: strawberry.ID = strawberry.field(description="A published article.")
    helpful: bool = strawberry.field(description="Yes (true) or no (false).")
    visitor_key: str | None = strawberry.field(
        default=None,
        description="Without logging in: a random key your browser keeps (16 to 128 "
        "characters); one answer per article and key. Ignored when logged in (one answer "
        "per article and user).",
    )


@strawberry.type(description="The answer is counted.")
class HelpArticleRated:
    article: HelpArticle = strawberry.field(description="The article with its counts.")


RateHelpArticleErrorCode = error_codes(
    "RateHelpArticle",
    ["INVALID", "NOT_FOUND", "ALREADY_RATED", "TOO_MANY_VOTES"],
    "Why the answer was not counted (NOT_FOUND: no such published article; ALREADY_RATED: "
    "this user or visitor key answered for it; TOO_MANY_VOTES: too many anonymous answers "
    "from one address in an hour).",
)
RateHelpArticleError = error_type("RateHelpArticle", RateHelpArticleErrorCode, "Not counted.")
RateHelpArticleResult = Annotated[
    HelpArticleRated | RateHelpArticleError, strawberry.union("RateHelpArticleResult")
]
