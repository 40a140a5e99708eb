"""Trusted documents: the `.graphql` files under persisted/<set>/, the Apollo
persisted-query manifest built from them, and its versions in the database
(docs/persisted-queries.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, validate

from models.system import PersistedManifest
from services.kit.settings import ROOT
from services.platform import clock

FORMAT = "apollo-persisted-query-manifest"
DOCUMENTS_DIR = ROOT / "persisted"
MANIFEST_FILE = DOCUMENTS_DIR / "manifest.json"
# The operation sets (the persisted/<set>/ folders) that partners are allowed by name;
# written beside the manifest, which keeps Apollo's four keys per operation.
SETS_FILE_NAME = "sets.json"
TYPES = ("query", "mutation", "subscription")


class ManifestError(ValueError):
    """A document or a manifest that cannot be published; the message says why."""


@dataclass(frozen=True)
class Operation:
    id: str  # SHA-256 hex of `body`
    name: str
    type: str
    body: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "type": self.type, "body": self.body}


def document_id(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _operation(body: str, where: str) -> Operation:
    try:
        document = parse(body)
    except GraphQLError as error:
        raise ManifestError(f"{where}: {error.message}") from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise ManifestError(f"{where}: exactly one named operation per document")
    operation = operations[0]
    assert operation.name is not None
    return Operation(
        id=document_id(body), name=operation.name.value, type=operation.operation.value, body=body
    )


def read_documents(directory: Path = DOCUMENTS_DIR) -> list[Operation]:
    """Every operation under directory/<set>/<OperationName>.graphql, by name."""
    found: dict[str, Operation] = {}
    for path in sorted(directory.glob("*/*.graphql")):
        where = str(path.relative_to(directory))
        operation = _operation(path.read_text(encoding="utf-8").strip() + "\n", where)
        if operation.name != path.stem:
            raise ManifestError(f"{where}: the operation is named {operation.name}")
        if operation.name in found:
            raise ManifestError(f"{where}: {operation.name} is in two sets")
        found[operation.name] = operation
    return [found[name] for name in sorted(found)]


def read_sets(directory: Path = DOCUMENTS_DIR) -> dict[str, list[str]]:
    """{set: [operation names]} from the persisted/<set>/<Name>.graphql files."""
    sets: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*/*.graphql")):
        sets.setdefault(path.parent.name, []).append(path.stem)
    return {name: sorted(names) for name, names in sorted(sets.items())}


def render_sets(sets: dict[str, list[str]]) -> str:
    return json.dumps({"sets": sets}, indent=2, ensure_ascii=False) + "\n"


def parse_sets(text: str, operations: list[Operation]) -> dict[str, list[str]]:
    """The sets of a sets file, each naming operations of the manifest only."""
    try:
        data: Any = json.loads(text)
    except ValueError as error:
        raise ManifestError(f"sets: not JSON: {error}") from None
    sets = data.get("sets") if isinstance(data, dict) else None
    if not isinstance(sets, dict):
        raise ManifestError('sets: expected {"sets": {"<set>": ["<operation name>", ...]}}')
    names = {operation.name for operation in operations}
    checked: dict[str, list[str]] = {}
    for set_name, members in sorted(sets.items()):
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ManifestError(f"sets: {set_name} must be a list of operation names")
        unknown = sorted(set(members) - names)
        if unknown:
            raise ManifestError(f"sets: {set_name} names {', '.join(unknown)}, not in the manifest")
        checked[set_name] = sorted(set(members))
    return checked


def check_against(schema: GraphQLSchema, operations: list[Operation]) -> None:
    """Refuse operations the schema does not answer (a renamed field, a wrong type)."""
    for operation in operations:
        errors = validate(schema, parse(operation.body))
        if errors:
            raise ManifestError(f"{operation.name}: {errors[0].message}")


def render(operations: list[Operation]) -> str:
    manifest = {
        "format": FORMAT,
        "version": 1,
        "operations": [operation.as_json() for operation in operations],
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def parse_manifest(text: str) -> list[Operation]:
    """The operations of a manifest, each checked: format, id = SHA-256 of the body, one
    named operation of the stated type, names unique."""
    try:
        data: Any = json.loads(text)
    except ValueError as error:
        raise ManifestError(f"not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise ManifestError(f'not a manifest: "format" must be "{FORMAT}", "version" 1')
    items = data.get("operations")
    if not isinstance(items, list):
        raise ManifestError('"operations" must be a list')
    operations: list[Operation] = []
    for n, item in enumerate(items):
        where = f"operations[{n}]"
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) for key in ("id", "name", "type", "body")
        ):
            raise ManifestError(f"{where}: id, name, type and body must be strings")
        if item["id"] != document_id(item["body"]):
            raise ManifestError(f"{where}: id is not the SHA-256 of the body")
        operation = _operation(item["body"], where)
        if (operation.name, operation.type) != (item["name"], item["type"]):
            raise ManifestError(f"{where}: name or type does not match the body")
        operations.append(operation)
    if len({operation.name for operation in operations}) != len(operations):
        raise ManifestError("two operations have the same name")
    return operations


async def load(text: str, schema: GraphQLSchema, sets_text: str | None = None) -> tuple[int, bool]:
    """Store the manifest (and its sets file, if any) as a new version unless it is the
    newest already. Returns the live version and whether it is new. Nothing is stored
    when any operation or set is refused."""
    operations = parse_manifest(text)
    check_against(schema, operations)
    sets = parse_sets(sets_text, operations) if sets_text is not None else {}
    stored = [operation.as_json() for operation in operations]
    content: Any = stored if not sets else {"operations": stored, "sets": sets}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    newest = await PersistedManifest.all().order_by("-version").first()
    if newest is not None and newest.sha256 == digest:
        return newest.version, False
    row = await PersistedManifest.create(
        sha256=digest, operations=stored, sets=sets, loaded_at=await clock.now()
    )
    return row.version, True
