"""Help centre (issue 22, M1.13): categories and articles written by staff, every save of
an article kept as a version, the n-gram index the public search reads, and the "did this
help" votes."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class ArticleStatus(StrEnum):
    DRAFT = "DRAFT"  # staff only
    PUBLISHED = "PUBLISHED"  # anyone reads it, the search finds it
    ARCHIVED = "ARCHIVED"  # staff only, kept with its versions and counts


class HelpCategory(Model):
    """A heading of the help centre (shown by `position`, then id)."""

    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=500, default="")
    position = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    articles: fields.ReverseRelation[HelpArticle]

    class Meta:
        table = "help_categories"


class HelpArticle(Model):
    """An article as it stands: its latest saved version (title, body, status) and its
    counters. `version` is the number of that version (`help_article_versions`). The
    counters only grow by one conditional UPDATE each (never read, add and save)."""

    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=96, unique=True)
    category: fields.ForeignKeyRelation[HelpCategory] = fields.ForeignKeyField(
        "models.HelpCategory", related_name="articles", on_delete=fields.RESTRICT
    )
    category_id: int
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    status = fields.CharEnumField(ArticleStatus, max_length=16, default=ArticleStatus.DRAFT)
    version = fields.IntField(default=1)
    read_count = fields.BigIntField(default=0)
    helpful_count = fields.BigIntField(default=0)
    not_helpful_count = fields.BigIntField(default=0)
    first_published_at = fields.DatetimeField(null=True)
    created_by = fields.BigIntField()
    updated_by = fields.BigIntField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "help_articles"
        indexes = (("status", "read_count"),)
        constraints = (
            CheckConstraint(
                check="read_count >= 0 AND helpful_count >= 0 AND not_helpful_count >= 0",
                name="help_article_counts",
            ),
        )


class HelpArticleVersion(Model):
    """One save of an article, as it was saved (never changed afterwards)."""

    id = fields.BigIntField(primary_key=True)
    article: fields.ForeignKeyRelation[HelpArticle] = fields.ForeignKeyField(
        "models.HelpArticle", related_name="versions", on_delete=fields.RESTRICT
    )
    article_id: int
    number = fields.IntField()
    slug = fields.CharField(max_length=96)
    category_id = fields.BigIntField()
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    status = fields.CharEnumField(ArticleStatus, max_length=16)
    note = fields.CharField(max_length=500, default="")
    saved_by = fields.BigIntField()
    saved_at = fields.DatetimeField()

    class Meta:
        table = "help_article_versions"
        unique_together = (("article", "number"),)


class GramKind(StrEnum):
    CJK_UNIGRAM = "U"
    CJK_BIGRAM = "B"
    WORD = "W"  # a Latin word or a number, lowercased


class HelpSearchGram(Model):
    """The search index of an article's current version: each distinct gram of its title
    and body (services/help/tokens.py) with its weight (3 a title occurrence, 1 a body
    occurrence, at most 20). Written again at every save."""

    id = fields.BigIntField(primary_key=True)
    article: fields.ForeignKeyRelation[HelpArticle] = fields.ForeignKeyField(
        "models.HelpArticle", related_name="grams", on_delete=fields.CASCADE
    )
    article_id: int
    gram = fields.CharField(max_length=32)
    kind = fields.CharEnumField(GramKind, max_length=1)
    weight = fields.IntField()

    class Meta:
        table = "help_search_grams"
        unique_together = (("article", "gram"),)
        indexes = (("gram", "article_id"),)


class HelpArticleVote(Model):
    """One "did this help" answer: one per article and voter (`voter` is `u:<user id>`
    for a member or staff, `v:<sha256 of the visitor key>` for an anonymous reader)."""

    id = fields.BigIntField(primary_key=True)
    article: fields.ForeignKeyRelation[HelpArticle] = fields.ForeignKeyField(
        "models.HelpArticle", related_name="votes", on_delete=fields.RESTRICT
    )
    article_id: int
    voter = fields.CharField(max_length=80)
    helpful = fields.BooleanField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "help_article_votes"
        unique_together = (("article", "voter"),)
