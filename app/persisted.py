"""Requests by id through the GraphQL view (docs/persisted-queries.md).

Two forms name a persisted document: GraphQL-over-HTTP's `documentId: "sha256:<hex>"`
(top level of a POST body, or a GET parameter) and Apollo's
`extensions.persistedQuery.sha256Hash`, by POST or GET. GET runs queries only; its
answers carry `ETag` and `Cache-Control` and answer `If-None-Match` with 304. The
document's tree comes from the registry, parsed once and validated once
(schema/persisted.py): never per request. With APQ (first-party clients) an unknown hash
sent with its body is registered in this process (bounded). PERSISTED_ONLY refuses every
document body.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.permission import PermissionExtension
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema.directives import AllowAnyone
from schema.documents.manifest import document_id
from schema.documents.registry import PersistedDocument, Registry, from_body
from services.kit.settings import Settings

DOCUMENT_ID = "documentId"  # carried in the request's extensions from the view on
_ID = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """A request refused before anything runs: a typed error, an HTTP status and headers."""

    def __init__(
        self, code: str, message: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.headers = {**(headers or {}), "Cache-Control": "no-store"}

    def result(self, context: Any, sub_response: Response) -> ExecutionResult:
        if self.status != 200:
            sub_response.status_code = self.status
        sub_response.headers.update(self.headers)
        extensions = {"code": self.code, "traceId": getattr(context, "trace_id", "")}
        return ExecutionResult(
            data=None, errors=[GraphQLError(self.message, extensions=extensions)]
        )

    def response(self, trace_id: str) -> Response:
        """The whole answer, for refusals before the GraphQL view reads the request."""
        error = {"message": self.message, "extensions": {"code": self.code, "traceId": trace_id}}
        return JSONResponse({"data": None, "errors": [error]}, self.status, self.headers)


# --- reading the request ---------------------------------------------------------------


def fold_document_id(data: Any) -> Any:
    """Move a top-level `documentId` into the request's extensions, which strawberry
    passes on (its request data has no place for it). An `extensions` that is not an
    object is left for strawberry to refuse. Batches (a JSON list) are refused: one
    operation per request, so a list of 10,000 ids costs nothing but this answer."""
    if isinstance(data, list):
        raise Refused("BATCHING_NOT_SUPPORTED", "Send one operation per request", status=400)
    if isinstance(data, dict) and DOCUMENT_ID in data:
        value = data.pop(DOCUMENT_ID)
        extensions = data.get("extensions")
        if extensions is None or isinstance(extensions, dict):
            data["extensions"] = {**(extensions or {}), DOCUMENT_ID: value}
    return data


def query_params(params: Mapping[str, str], parse_json: Callable[[str], Any]) -> dict[str, Any]:
    """GET parameters as strawberry reads them (JSON `variables` and `extensions`), plus
    `documentId`."""
    data: dict[str, Any] = dict(params)
    for name in ("variables", "extensions"):
        if data.get(name):
            data[name] = parse_json(data[name])
    return dict(fold_document_id(data))


def wants_ide(params: Mapping[str, str]) -> bool:
    """A GET without `query` shows GraphiQL (dev), unless it names a document."""
    return DOCUMENT_ID not in params and "extensions" not in params


def _requested_id(extensions: Mapping[str, Any]) -> str | None:
    ids: set[str] = set()
    if DOCUMENT_ID in extensions:
        raw = extensions[DOCUMENT_ID]
        if not isinstance(raw, str) or not raw.startswith("sha256:"):
            raise Refused("PERSISTED_QUERY_INVALID_ID", 'documentId must be "sha256:<hex>"')
        ids.add(raw.removeprefix("sha256:"))
    if "persistedQuery" in extensions:
        apq = extensions["persistedQuery"]
        if (
            not isinstance(apq, dict)
            or apq.get("version") != 1
            or not isinstance(apq.get("sha256Hash"), str)
        ):
            raise Refused(
                "PERSISTED_QUERY_INVALID_ID", "persistedQuery must be {version: 1, sha256Hash}"
            )
        ids.add(apq["sha256Hash"])
    if not ids:
        return None
    if len(ids) > 1:
        raise Refused("PERSISTED_QUERY_INVALID_ID", "documentId and sha256Hash differ")
    (found,) = ids
    if not _ID.fullmatch(found):
        raise Refused("PERSISTED_QUERY_INVALID_ID", "the hash must be 64 lowercase hex digits")
    return found


# --- answering ---------------------------------------------------------------------------


def _is_public(schema: BaseSchema, document: PersistedDocument) -> bool:
    """A query whose every root field is @public: the same answer for every anonymous
    caller."""
    operations = [
        d for d in document.document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    if len(operations) != 1 or document.type != "query":
        return False
    query_type = schema._schema.query_type  # type: ignore[attr-defined]
    for selection in operations[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return False
        if selection.name.value.startswith("__"):
            continue
        field = query_type.fields.get(selection.name.value)
        definition = field.extensions.get("strawberry-definition") if field else None
        allowed = [
            permission
            for extension in getattr(definition, "extensions", [])
            if isinstance(extension, PermissionExtension)
            for permission in extension.permissions
        ]
        if not any(isinstance(permission, AllowAnyone) for permission in allowed):
            return False
    return True


class PersistedRequests:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry(settings.persisted_refresh_seconds, settings.apq_cache_size)

    async def document_for(
        self, method: str, request_data: GraphQLRequestData
    ) -> PersistedDocument | None:
        """The persisted document the request names; None for a plain document body.
        Refused: a body under PERSISTED_ONLY, a malformed or unknown id, a body that does
        not hash to its id, anything but a query by GET."""
        doc_id = _requested_id(request_data.extensions or {})
        body = request_data.query
        if doc_id is None:
            if body is not None and self.settings.persisted_only:
                raise Refused("PERSISTED_QUERY_REQUIRED", "Send a persisted document's id")
            return None
        if body is not None and document_id(body) != doc_id:
            raise Refused("PERSISTED_QUERY_HASH_MISMATCH", "The hash is not the body's SHA-256")
        document = await self.registry.lookup(doc_id)
        if document is None:
            extensions = request_data.extensions or {}
            if body is None or "persistedQuery" not in extensions:
                raise Refused("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
            if self.settings.persisted_only:
                raise Refused("PERSISTED_QUERY_REQUIRED", "Send a persisted document's id")
            try:  # APQ: register on first use
                document = from_body(
                    doc_id, body, trusted=False, max_tokens=self.settings.graphql_max_tokens
                )
            except GraphQLError as error:
                raise Refused("GRAPHQL_PARSE_FAILED", error.message) from None
            self.registry.register(document)
        if method == "GET" and document.type != "query":
            raise Refused("METHOD_NOT_ALLOWED", "Only queries run by GET", status=405)
        return document

    async def partner_document(
        self, allowed_sets: frozenset[str], method: str, request_data: GraphQLRequestData
    ) -> PersistedDocument:
        """The published document a partner names, before anything is parsed: a body is
        never run for a partner (nor registered), an id must be in the live manifest and
        in one of the partner's sets."""
        doc_id = _requested_id(request_data.extensions or {})
        if request_data.query is not None:
            raise Refused(
                "PERSISTED_QUERY_NOT_ALLOWED", "Partners send a published document's id only"
            )
        document = await self.registry.lookup_trusted(doc_id) if doc_id else None
        if document is None:
            raise Refused("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if not self.registry.in_sets(document, allowed_sets):
            raise Refused("PERSISTED_QUERY_NOT_ALLOWED", "This operation is not in your sets")
        if method == "GET" and document.type != "query":
            raise Refused("METHOD_NOT_ALLOWED", "Only queries run by GET", status=405)
        return document

    async def execute(
        self,
        schema: BaseSchema,
        document: PersistedDocument,
        method: str,
        request_data: GraphQLRequestData,
        context: Any,
        root_value: Any,
        sub_response: Response,
    ) -> ExecutionResult:
        context.persisted = document
        try:
            result = await schema.execute(
                document.body,
                variable_values=request_data.variables,
                context_value=context,
                root_value=root_value,
                operation_name=request_data.operation_name,
                allowed_operation_types=OperationType.from_http(method),  # type: ignore[arg-type]
                operation_extensions=request_data.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
            return Refused("BAD_REQUEST", "This operation cannot run here").result(
                context, sub_response
            )
        if method == "GET":
            if document.public is None:
                document.public = _is_public(schema, document)
            if result.errors:
                cache = "no-store"
            elif document.public and not context.request.headers.get("authorization"):
                cache = f"public, max-age={self.settings.persisted_public_max_age}"
            else:
                cache = "private, no-cache"
            sub_response.headers["Cache-Control"] = cache
            sub_response.headers["Vary"] = "Authorization"
        return result


def conditional(request: Request, response: Response) -> Response:
    """GET answers by id: `ETag` (SHA-256 of the body) and 304 when `If-None-Match` has it."""
    cache = response.headers.get("cache-control")
    if request.method != "GET" or response.status_code != 200 or cache in (None, "no-store"):
        return response
    etag = f'"{hashlib.sha256(bytes(response.body)).hexdigest()}"'
    response.headers["ETag"] = etag
    wanted = [
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    ]
    if etag in wanted or "*" in wanted:
        headers = {"ETag": etag, "Cache-Control": str(cache), "Vary": "Authorization"}
        return Response(status_code=304, headers=headers)
    return response
