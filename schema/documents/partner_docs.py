"""Partner documentation (docs/partner-api.md) rendered from the trusted documents under
persisted/<set>/<Name>.graphql and the GraphQL schema, so that what partners read is what
the platform runs: each operation's id, variables, result shape and example requests.

The schema is passed in (`python -m app persisted docs` builds the full dev/test one, as
`persisted build` does): this package sits below `schema.build`, which imports it.
Everything is sorted or in document order, so the output is the same on every run and
can be committed; tests/api/test_partner_docs.py fails when the committed file is stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_specified_scalar_type,
    parse,
    print_ast,
    type_from_ast,
)
from graphql.pyutils import Undefined

from schema.documents import manifest
from schema.documents.partner_examples import default_json, example_variables
from services.kit.settings import ROOT

DOCS_FILE = ROOT / "docs" / "partner-api.md"
# What every partner reads first (keys, ids only, caching, limits, errors): prose, kept as
# Markdown beside this module.
INTRO_FILE = Path(__file__).with_name("partner_docs_intro.md")

TYPENAME = "The name of the object type: which member of a union or interface this is."


@dataclass(frozen=True)
class Usage:
    """Where a variable goes, `loans(first)` or `query(input.idNumber)`, and that argument's
    or input field's text."""

    where: str
    description: str | None


@dataclass
class Documented:
    set: str
    operation: manifest.Operation
    definition: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    usages: dict[str, list[Usage]] = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------


def operation_sets(directory: Path = manifest.DOCUMENTS_DIR) -> dict[str, str]:
    """Operation name -> its set: the folder of persisted/<set>/<Name>.graphql."""
    return {path.stem: path.parent.name for path in sorted(directory.glob("*/*.graphql"))}


def description(body: str) -> str:
    """The leading `#` comment lines of a document, as one paragraph per blank comment."""
    paragraphs: list[list[str]] = [[]]
    for line in body.splitlines():
        if not line.startswith("#"):
            break
        text = line.removeprefix("#").strip()
        if text:
            paragraphs[-1].append(text)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(lines) for lines in paragraphs if lines)


def _documented(set_name: str, operation: manifest.Operation) -> Documented:
    document: DocumentNode = parse(operation.body)
    definition = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return Documented(set_name, operation, definition, fragments)


# --- text helpers ----------------------------------------------------------------------


def _one_line(text: str | None) -> str:
    """A schema description on one line, its `<` escaped (Markdown would take `<a href>`
    for HTML)."""
    return " ".join((text or "").split()).replace("<", "&lt;")


def _dash(text: str | None) -> str:
    line = _one_line(text)
    return f" — {line}" if line else ""


def _sentence(text: str) -> str:
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _shell_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# --- where variables go ----------------------------------------------------------------


def _hints(doc: Documented) -> dict[str, str | None]:
    """Each variable's first described use: its text may suggest an example value."""
    return {
        name: next((usage.description for usage in usages if usage.description), None)
        for name, usages in doc.usages.items()
    }


def _record_value(
    doc: Documented, value: ValueNode, type_: GraphQLInputType, where: str, text: str | None
) -> None:
    if isinstance(value, VariableNode):
        usage = Usage(where, text)
        usages = doc.usages.setdefault(value.name.value, [])
        if usage not in usages:
            usages.append(usage)
    elif isinstance(value, ListValueNode):
        item = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(item, GraphQLList):
            for element in value.values:
                _record_value(doc, element, item.of_type, where, text)
    elif isinstance(value, ObjectValueNode):
        input_object = get_named_type(type_)
        if isinstance(input_object, GraphQLInputObjectType):
            for object_field in value.fields:
                input_field = input_object.fields[object_field.name.value]
                inner = f"{where[:-1]}.{object_field.name.value})"
                _record_value(
                    doc, object_field.value, input_field.type, inner, input_field.description
                )


def _record_arguments(doc: Documented, node: FieldNode, schema_field: GraphQLField) -> None:
    for argument in node.arguments or ():
        definition = schema_field.args[argument.name.value]
        where = f"{node.name.value}({argument.name.value})"
        _record_value(doc, argument.value, definition.type, where, definition.description)


# --- result shape ----------------------------------------------------------------------


@dataclass
class _Group:
    """One response key of a selection set: its field nodes (merged) and their selections."""

    nodes: list[FieldNode] = field(default_factory=list)


def _collect(
    doc: Documented,
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
    fields: dict[str, _Group],
    conditions: dict[str, list[SelectionSetNode]],
) -> None:
    """Fields of one selection set by response key, fragments of the same type merged in;
    fragments on another type (a union's member) kept apart by that type."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = (selection.alias or selection.name).value
            fields.setdefault(key, _Group()).nodes.append(selection)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = doc.fragments[selection.name.value]
            condition: str | None = fragment.type_condition.name.value
            inner = fragment.selection_set
        else:
            assert isinstance(selection, InlineFragmentNode)
            condition = selection.type_condition.name.value if selection.type_condition else None
            inner = selection.selection_set
        if condition is None or condition == parent.name:
            _collect(doc, inner, parent, fields, conditions)
        else:
            conditions.setdefault(condition, []).append(inner)


def _result_lines(
    schema: GraphQLSchema,
    doc: Documented,
    selection_sets: list[SelectionSetNode],
    parent: GraphQLNamedType,
    depth: int,
    used: set[str],
) -> list[str]:
    fields: dict[str, _Group] = {}
    conditions: dict[str, list[SelectionSetNode]] = {}
    for selection_set in selection_sets:
        _collect(doc, selection_set, parent, fields, conditions)
    indent = "  " * depth
    lines: list[str] = []
    for key, group in fields.items():
        node = group.nodes[0]
        name = node.name.value
        if name == "__typename":
            lines.append(f"{indent}- `{key}`: `String!`{_dash(TYPENAME)}")
            continue
        assert isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
        schema_field = parent.fields[name]
        _record_arguments(doc, node, schema_field)
        shown = f"{key}: {name}" if key != name else name
        arguments = ", ".join(print_ast(argument) for argument in node.arguments or ())
        if arguments:
            shown += f"({arguments})"
        field_type: GraphQLOutputType = schema_field.type
        named = get_named_type(field_type)
        used.add(named.name)
        # A field without a text of its own (`pageInfo`) says what its type says.
        text = schema_field.description
        if not text and not isinstance(named, GraphQLScalarType):
            text = named.description
        lines.append(f"{indent}- `{shown}`: `{field_type}`{_dash(text)}")
        inner = [n.selection_set for n in group.nodes if n.selection_set is not None]
        if inner:
            lines += _result_lines(schema, doc, inner, named, depth + 1, used)
    for condition, inner_sets in conditions.items():
        member = schema.get_type(condition)
        assert member is not None
        used.add(condition)
        lines.append(f"{indent}- on `{condition}`{_dash(member.description)}")
        lines += _result_lines(schema, doc, inner_sets, member, depth + 1, used)
    return lines


# --- variables -------------------------------------------------------------------------


def _enum_values(type_: GraphQLNamedType) -> str:
    if not isinstance(type_, GraphQLEnumType):
        return ""
    return " One of " + ", ".join(f"`{value}`" for value in type_.values) + "."


def _input_field_lines(
    input_object: GraphQLInputObjectType, depth: int, used: set[str], seen: frozenset[str]
) -> list[str]:
    indent = "  " * depth
    lines: list[str] = []
    for name, input_field in input_object.fields.items():
        named = get_named_type(input_field.type)
        used.add(named.name)
        required = isinstance(input_field.type, GraphQLNonNull)
        state = "required" if required and input_field.default_value is Undefined else "optional"
        if input_field.default_value is not Undefined:
            default = _compact(default_json(input_field.default_value, input_field.type))
            state += f", default `{default}`"
        text = _sentence(_one_line(input_field.description)) + _enum_values(named)
        lines.append(f"{indent}- `{name}`: `{input_field.type}` ({state}){_dash(text)}")
        if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            lines += _input_field_lines(named, depth + 1, used, seen | {named.name})
    return lines


def _variable_lines(schema: GraphQLSchema, doc: Documented, used: set[str]) -> list[str]:
    lines: list[str] = []
    for variable in doc.definition.variable_definitions or ():
        name = variable.variable.name.value
        type_ = type_from_ast(schema, variable.type)
        assert type_ is not None
        named = get_named_type(type_)
        used.add(named.name)
        if variable.default_value is not None:
            state = f"optional, default `{print_ast(variable.default_value)}`"
        else:
            state = "required" if isinstance(type_, GraphQLNonNull) else "optional"
        passed = [
            f"passed as `{usage.where}`"
            + (f": {_one_line(usage.description)}" if usage.description else "")
            for usage in doc.usages.get(name, [])
        ]
        text = _sentence("; ".join(passed)) + _enum_values(named)
        lines.append(f"- `${name}`: `{type_}` ({state}){_dash(text)}")
        if isinstance(named, GraphQLInputObjectType):
            lines += _input_field_lines(named, 1, used, frozenset({named.name}))
    return lines or ["None."]


# --- examples as requests --------------------------------------------------------------


def _request_lines(doc: Documented, variables: dict[str, Any]) -> list[str]:
    document_id = f"sha256:{doc.operation.id}"
    post = _compact({"documentId": document_id, "variables": variables})
    lines = [
        "By POST:",
        "",
        "```sh",
        'curl -s "$LENDBRIDGE_URL/graphql" \\',
        '  -H "Authorization: Bearer $LENDBRIDGE_PARTNER_KEY" \\',
        '  -H "Content-Type: application/json" \\',
        f"  -d {_shell_quoted(post)}",
        "```",
    ]
    if doc.operation.type == "query":
        encoded = {"documentId": document_id, "variables": _compact(variables)}
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in encoded.items())
        lines += [
            "",
            "By GET (the same, URL-encoded; send the `ETag` of an earlier answer as "
            "`If-None-Match` and an unchanged answer is `304 Not Modified` with no body):",
            "",
            "```sh",
            f'curl -s -i "$LENDBRIDGE_URL/graphql?{query}" \\',
            '  -H "Authorization: Bearer $LENDBRIDGE_PARTNER_KEY"',
            "```",
        ]
    elif doc.operation.type == "mutation":
        lines += ["", "POST only: a mutation by GET is refused (`METHOD_NOT_ALLOWED`, HTTP 405)."]
    else:  # subscriptions run over WebSocket, where documents travel as text
        lines = ["Not by id over HTTP: subscriptions are served over WebSocket only."]
    return lines


# --- the document ----------------------------------------------------------------------


def _operation_lines(schema: GraphQLSchema, doc: Documented, used: set[str]) -> list[str]:
    operation = doc.operation
    root = schema.get_root_type(doc.definition.operation)
    assert root is not None
    result = _result_lines(schema, doc, [doc.definition.selection_set], root, 0, used)
    about = description(operation.body)
    lines = [f"### `{operation.name}` ({operation.type})", ""]
    if about:
        lines += [about, ""]
    lines += [
        f"Id: `sha256:{operation.id}`",
        "",
        "#### Variables",
        "",
        *_variable_lines(schema, doc, used),
        "",
        "#### Result",
        "",
        "Under `data` (each field with its GraphQL type; `!`: never null):",
        "",
        *result,
        "",
        "#### Example",
        "",
        *_request_lines(doc, example_variables(schema, doc.definition, _hints(doc))),
        "",
        "#### Document",
        "",
        "The reviewed text whose SHA-256 is the id, for code generators; send the id, not this.",
        "",
        "```graphql",
        operation.body.rstrip("\n"),
        "```",
        "",
    ]
    return lines


def _type_lines(schema: GraphQLSchema, used: set[str]) -> list[str]:
    lines: list[str] = []
    for name in sorted(used):
        type_ = schema.get_type(name)
        if isinstance(type_, GraphQLScalarType) and not is_specified_scalar_type(type_):
            lines += [f"### `{name}` (scalar)", "", _one_line(type_.description) or "-", ""]
        elif isinstance(type_, GraphQLEnumType):
            lines += [f"### `{name}` (enum)", ""]
            if type_.description:
                lines += [_one_line(type_.description), ""]
            lines += [f"- `{value}`{_dash(v.description)}" for value, v in type_.values.items()]
            lines.append("")
    return lines


def render(schema: GraphQLSchema, directory: Path = manifest.DOCUMENTS_DIR) -> str:
    """The Markdown of every operation under directory/<set>/, checked against schema
    (raises `manifest.ManifestError` for a document the schema does not answer)."""
    operations = manifest.read_documents(directory)
    manifest.check_against(schema, operations)
    sets = operation_sets(directory)
    docs = sorted(
        (_documented(sets[operation.name], operation) for operation in operations),
        key=lambda doc: (doc.set, doc.operation.name),
    )
    lines = [
        INTRO_FILE.read_text(encoding="utf-8"),
        "## Operation sets",
        "",
        "| set | operation | type |",
        "|---|---|---|",
    ]
    lines += [f"| `{d.set}` | `{d.operation.name}` | {d.operation.type} |" for d in docs]
    lines.append("")
    used: set[str] = set()
    for set_name in sorted({doc.set for doc in docs}):
        lines += [f"## Set `{set_name}`", ""]
        for doc in (doc for doc in docs if doc.set == set_name):
            lines += _operation_lines(schema, doc, used)
    lines += ["## Scalars and enums", "", *_type_lines(schema, used)]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(output: Path, schema: GraphQLSchema, directory: Path = manifest.DOCUMENTS_DIR) -> str:
    """Write the documentation to output; returns what it wrote."""
    output.write_text(render(schema, directory), encoding="utf-8")
    sets = operation_sets(directory)
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    return f"wrote {shown}: {len(sets)} operations in {len(set(sets.values()))} sets"
