"""Schema extensions: error masking with trace ids, the operation log, request limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from enum import Enum
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.disable_introspection import DisableIntrospection

from schema.loaders import FreshLoaders
from schema.persisted import DocumentParserCache, DocumentValidationCache
from services.identity.permissions import ANONYMOUS
from services.kit.settings import Settings
from services.platform import oplog

logger = logging.getLogger("lendbridge.graphql")

# Errors we raise on purpose carry one of these codes and are shown as they are.
PUBLIC_CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "INTEGRITY",  # a stored record fails its hash or signature check (monthly disclosure)
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_HASH_MISMATCH",
    "PERSISTED_QUERY_REQUIRED",
    "PERSISTED_QUERY_INVALID_ID",
    "PERSISTED_QUERY_NOT_ALLOWED",
    "PARTNER_KEY_INVALID",
    "RATE_LIMITED",
    "QUOTA_EXCEEDED",
    "BATCHING_NOT_SUPPORTED",
    "METHOD_NOT_ALLOWED",
    "RESYNC",
}


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # syntax and validation errors: about the request, not the server
    if isinstance(original, GraphQLError) and error.path is None:
        # A variable value that does not fit its type: graphql-core reports it before
        # execution (no field path), wrapping the coercion error. Also the client's.
        return True
    return (
        isinstance(original, GraphQLError)
        and (original.extensions or {}).get("code") in PUBLIC_CODES
    )


class MaskUnexpectedErrors(MaskErrors):
    """Hide bugs behind "Unexpected error." with a trace id; log them with the same id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not _is_expected(error))

    def _trace_id(self) -> str:
        context = self.execution_context.context
        return getattr(context, "trace_id", "")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        trace_id = self._trace_id()
        logger.error(
            "unexpected error in %s (trace %s)",
            ".".join(str(p) for p in error.path or []) or "request",
            trace_id,
            exc_info=error.original_error,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "traceId": trace_id}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        trace_id = self._trace_id()
        for error in processed:
            extensions = dict(error.extensions or {})
            extensions.setdefault("traceId", trace_id)
            if "code" not in extensions:
                extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
            error.extensions = extensions
        return processed


def _selected_operation(document: Any, name: str | None) -> OperationDefinitionNode | None:
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        operations = [o for o in operations if o.name and o.name.value == name]
    return operations[0] if len(operations) == 1 else None


def _plain(value: Any) -> Any:
    """Argument values as JSON-able data (input objects become dicts)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "filename") and hasattr(value, "read"):  # an uploaded file
        return {"file": str(value.filename), "size": getattr(value, "size", None)}
    return str(value)


class OperationLog(SchemaExtension):
    """Writes one hash-chained entry per mutation field: who, what, when, from where, result.

    A mutation refused before it ran (invalid document, limits) is logged as REJECTED.
    One instance per operation, so the calls it collects belong to that operation only.
    """

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if info.parent_type.name != "Mutation" or info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        return self._resolve_root(_next, root, info, *args, **kwargs)

    async def _resolve_root(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        call = {"operation": info.field_name, "arguments": _plain(kwargs), "result": "ERROR"}
        self._calls.append(call)
        try:
            result = _next(root, info, *args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
        except GraphQLError as error:
            call["result"] = (error.extensions or {}).get("code", "ERROR")
            raise
        except Exception:
            call["result"] = "INTERNAL_SERVER_ERROR"
            raise
        code = getattr(result, "code", None)
        type_name = type(result).__name__
        call["result"] = f"{type_name}:{code.name}" if isinstance(code, Enum) else type_name
        return result

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if context is None or not hasattr(context, "trace_id"):
            return
        try:
            calls = list(self._calls)
            if not calls:
                operation = _selected_operation(
                    self.execution_context.graphql_document, self.execution_context.operation_name
                )
                if operation is None or operation.operation != OperationType.MUTATION:
                    return
                names = [
                    selection.name.value
                    for selection in operation.selection_set.selections
                    if isinstance(selection, FieldNode)
                ]
                calls = [{"operation": ",".join(names), "arguments": {}, "result": "REJECTED"}]
            actor = context.cached_actor or ANONYMOUS
            for call in calls:
                await oplog.append(
                    actor=actor,
                    operation=call["operation"],
                    arguments=call["arguments"],
                    client_ip=context.client_ip,
                    user_agent=context.user_agent,
                    result=call["result"],
                    trace_id=context.trace_id,
                )
        except Exception:
            logger.exception("could not write the operation log (trace %s)", context.trace_id)


def schema_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories: a fresh instance per request, shared validation rule classes
    so that `ValidationCache` hits across requests."""
    rules: list[type[ASTValidationRule]] = []
    rules += QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules
    rules += MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules
    if settings.is_prod:
        rules += DisableIntrospection().validation_rules
    frozen_rules = list(rules)
    max_tokens = settings.graphql_max_tokens
    return [
        MaskUnexpectedErrors,
        FreshLoaders,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: DocumentParserCache(maxsize=256),
        lambda: AddValidationRules(frozen_rules),
        lambda: DocumentValidationCache(maxsize=256),
        OperationLog,
    ]
