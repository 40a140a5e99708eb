from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.help import ArticleStatus, GramKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

# The roles that manage the help centre in DEFAULT_ROLES (services/identity/permissions.py).
HELP_MANAGERS = ("cs", "admin")
HELP_MANAGE = "help:manage"


async def grant_help_manage(apps: Any, schema_editor: Any) -> None:
    """A database seeded before 0045 keeps its roles (seed_roles never changes a role that
    exists): give `help:manage` to the cs and admin roles where they exist and lack it.
    Nothing is taken away, and a role an administrator removed is not made again."""
    role = apps.get_model("models", "Role")
    grant = apps.get_model("models", "RolePermission")
    client = schema_editor.client
    for name in HELP_MANAGERS:
        found = await role.filter(name=name).using_db(client).first()
        if found is None:
            continue
        held = await grant.filter(role_id=name, permission=HELP_MANAGE).using_db(client).exists()
        if not held:
            await grant.create(role_id=name, permission=HELP_MANAGE, using_db=client)


class Migration(migrations.Migration):
    """Help centre (issue 22, M1.13): categories, articles with their versions, the n-gram
    search index and the "did this help" votes; `help:manage` granted to cs and admin in a
    database whose roles were seeded before."""

    dependencies = [('models', '0044_service_cases')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HelpCategory',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=500)),
                ('position', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'help_categories', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A heading of the help centre (shown by `position`, then id).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HelpArticle',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=96)),
                ('category', fields.ForeignKeyField('models.HelpCategory', source_field='category_id', db_constraint=True, to_field='id', related_name='articles', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=ArticleStatus.DRAFT, description='DRAFT: DRAFT\nPUBLISHED: PUBLISHED\nARCHIVED: ARCHIVED', enum_type=ArticleStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('read_count', fields.BigIntField(default=0)),
                ('helpful_count', fields.BigIntField(default=0)),
                ('not_helpful_count', fields.BigIntField(default=0)),
                ('first_published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.BigIntField()),
                ('updated_by', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'help_articles', 'app': 'models', 'constraints': [CheckConstraint(check='read_count >= 0 AND helpful_count >= 0 AND not_helpful_count >= 0', name='help_article_counts')], 'indexes': [Index(fields=['status', 'read_count'])], 'pk_attr': 'id', 'table_description': 'An article as it stands: its latest saved version (title, body, status) and its'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HelpArticleVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.HelpArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.RESTRICT)),
                ('number', fields.IntField()),
                ('slug', fields.CharField(max_length=96)),
                ('category_id', fields.BigIntField()),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(description='DRAFT: DRAFT\nPUBLISHED: PUBLISHED\nARCHIVED: ARCHIVED', enum_type=ArticleStatus, max_length=16)),
                ('note', fields.CharField(default='', max_length=500)),
                ('saved_by', fields.BigIntField()),
                ('saved_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'help_article_versions', 'app': 'models', 'unique_together': (('article', 'number'),), 'pk_attr': 'id', 'table_description': 'One save of an article, as it was saved (never changed afterwards).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HelpArticleVote',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.HelpArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.RESTRICT)),
                ('voter', fields.CharField(max_length=80)),
                ('helpful', fields.BooleanField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'help_article_votes', 'app': 'models', 'unique_together': (('article', 'voter'),), 'pk_attr': 'id', 'table_description': 'One "did this help" answer: one per article and voter (`voter` is `u:<user id>`'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HelpSearchGram',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.HelpArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='grams', on_delete=OnDelete.CASCADE)),
                ('gram', fields.CharField(max_length=32)),
                ('kind', fields.CharEnumField(description='CJK_UNIGRAM: U\nCJK_BIGRAM: B\nWORD: W', enum_type=GramKind, max_length=1)),
                ('weight', fields.IntField()),
            ],
            options={'table': 'help_search_grams', 'app': 'models', 'unique_together': (('article', 'gram'),), 'indexes': [Index(fields=['gram', 'article_id'])], 'pk_attr': 'id', 'table_description': "The search index of an article's current version: each distinct gram of its title"},
            bases=['Model'],
        ),
        ops.RunPython(grant_help_manage, reverse_code=ops.RunPython.noop),
    ]
