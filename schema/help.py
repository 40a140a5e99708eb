"""Root fields: the help centre (issue 22, M1.13)."""

from __future__ import annotations

import strawberry

from resolvers import help as r
from schema.directives import auth, public
from schema.pagination import Connection
from schema.types import help as t
from services.identity.permissions import Permission


@strawberry.type
class HelpQuery:
    help_categories: list[t.HelpCategory] = strawberry.field(
        resolver=r.help_categories,
        extensions=public(),
        description="The help centre's categories in display order, for anyone.",
    )
    help_articles: Connection[t.HelpArticle] = strawberry.field(
        resolver=r.help_articles,
        extensions=public(),
        description="Published help articles, for anyone: by category, searched (Chinese "
        "or Latin text), newest, most read or best match first; keyset pages.",
    )
    help_article: t.HelpArticle | None = strawberry.field(
        resolver=r.help_article,
        extensions=public(),
        description="One published article by id or slug (counts a read); null when there "
        "is none. Staff with help:manage also open drafts and archived ones (not counted).",
    )
    help_article_versions: list[t.HelpArticleVersion] = strawberry.field(
        resolver=r.help_article_versions,
        extensions=auth(Permission.HELP_MANAGE),
        description="Every saved version of an article, newest first.",
    )


@strawberry.type
class HelpMutation:
    save_help_category: t.SaveHelpCategoryResult = strawberry.mutation(
        resolver=r.save_help_category,
        extensions=auth(Permission.HELP_MANAGE),
        description="Create a help-centre category or change one.",
    )
    save_help_article: t.SaveHelpArticleResult = strawberry.mutation(
        resolver=r.save_help_article,
        extensions=auth(Permission.HELP_MANAGE),
        description="Create a help article or save a new version of one (the versions "
        "before are kept); its status says whether the public sees it.",
    )
    rate_help_article: t.RateHelpArticleResult = strawberry.mutation(
        resolver=r.rate_help_article,
        extensions=public(),
        description='Answer "did this help?" for a published article: once per article '
        "and user, or per article and visitor key without logging in.",
    )
