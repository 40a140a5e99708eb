"""Parsing and validation caches that know persisted documents: a persisted document
(app/persisted.py puts it on the context) is never parsed per request (its tree was built
when its manifest version or APQ registration loaded) and validated once, on first use.
Document bodies keep strawberry's LRU caches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema import schema as strawberry_schema

from schema.documents.registry import PersistedDocument


def _persisted(execution_context: Any) -> PersistedDocument | None:
    found = getattr(execution_context.context, "persisted", None)
    return found if isinstance(found, PersistedDocument) else None


class DocumentParserCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        persisted = _persisted(self.execution_context)
        if persisted is None:
            yield from super().on_parse()
            return
        self.execution_context.graphql_document = persisted.document
        yield


class DocumentValidationCache(ValidationCache):
    def on_validate(self) -> Iterator[None]:
        persisted = _persisted(self.execution_context)
        if persisted is None:
            yield from super().on_validate()
            return
        execution_context = self.execution_context
        execution_context.pre_execution_errors = persisted.validated(
            lambda document: strawberry_schema.validate_document(
                execution_context.schema._schema,
                document,
                tuple(execution_context.validation_rules),
            )
        )
        yield
