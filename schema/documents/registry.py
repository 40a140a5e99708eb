"""The persisted documents one API process answers: the live manifest version (looked
up in the database at most every PERSISTED_REFRESH_SECONDS) and the Automatic Persisted
Queries registered in this process (bounded, least recently used dropped first).

Each document is parsed once when its version loads here (or when registered) and
validated once, on first use, with the rules of the schema that runs it."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse

from models.system import PersistedManifest


@dataclass
class PersistedDocument:
    id: str
    name: str | None
    type: str
    body: str
    document: DocumentNode
    trusted: bool  # from the manifest (True) or registered by APQ (False)
    public: bool | None = None  # every root field public: set on first use
    _errors: list[GraphQLError] | None = field(default=None, repr=False)

    def validated(
        self, validate: Callable[[DocumentNode], list[GraphQLError]]
    ) -> list[GraphQLError]:
        """The validation errors: `validate` runs on the first call only. Copies, since
        the error masking writes each request's trace id into them."""
        if self._errors is None:
            self._errors = list(validate(self.document))
        return [copy.copy(error) for error in self._errors]


def from_body(
    doc_id: str, body: str, *, trusted: bool, max_tokens: int | None = None
) -> PersistedDocument:
    """Parse `body` (GraphQLError if it does not parse)."""
    document = parse(body, max_tokens=max_tokens)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    first = operations[0] if operations else None
    return PersistedDocument(
        id=doc_id,
        name=first.name.value if first is not None and first.name else None,
        type=first.operation.value if first is not None else "query",
        body=body,
        document=document,
        trusted=trusted,
    )


class Registry:
    def __init__(self, refresh_seconds: float, apq_size: int) -> None:
        self.refresh_seconds = refresh_seconds
        self.apq_size = apq_size
        self.version = 0
        self.documents: dict[str, PersistedDocument] = {}
        self.sets: dict[str, frozenset[str]] = {}  # set name -> operation names
        self.registered: OrderedDict[str, PersistedDocument] = OrderedDict()
        self._checked_at: float | None = None
        self._lock: asyncio.Lock | None = None

    async def lookup(self, doc_id: str) -> PersistedDocument | None:
        await self.refresh()
        found = self.documents.get(doc_id)
        if found is None and (found := self.registered.get(doc_id)) is not None:
            self.registered.move_to_end(doc_id)
        return found

    async def lookup_trusted(self, doc_id: str) -> PersistedDocument | None:
        """A document of the live manifest version (never one registered by APQ)."""
        await self.refresh()
        return self.documents.get(doc_id)

    def in_sets(self, document: PersistedDocument, set_names: frozenset[str]) -> bool:
        return any(document.name in self.sets.get(name, ()) for name in set_names)

    def register(self, document: PersistedDocument) -> None:
        if self.apq_size <= 0:
            return
        self.registered[document.id] = document
        self.registered.move_to_end(document.id)
        while len(self.registered) > self.apq_size:
            self.registered.popitem(last=False)

    async def refresh(self) -> None:
        """Switch to the newest manifest version if it changed (one indexed read at most
        every `refresh_seconds`)."""
        started = time.monotonic()
        if self._checked_at is not None and started - self._checked_at < self.refresh_seconds:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._checked_at is not None and started - self._checked_at < self.refresh_seconds:
                return
            newest = await PersistedManifest.all().order_by("-version").only("version").first()
            version = newest.version if newest is not None else 0
            if version != self.version:
                row = await PersistedManifest.get_or_none(version=version)
                operations = row.operations if row is not None else []
                self.sets = {
                    name: frozenset(members)
                    for name, members in (row.sets if row is not None else {}).items()
                }
                self.documents = {
                    item["id"]: from_body(item["id"], item["body"], trusted=True)
                    for item in operations
                }
                self.version = version
            self._checked_at = time.monotonic()
