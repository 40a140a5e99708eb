"""Example values for the partner documentation (schema/documents/partner_docs.py): the
variables of an example request, made from the GraphQL types so that the platform accepts
them as written (amounts and rates as the fixed-place strings their scalars expect, an
enum's first value, ids as decimal strings), and fixed, so the documentation is the same
on every run."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    ast_from_value,
    get_named_type,
    is_input_type,
    type_from_ast,
    value_from_ast_untyped,
)
from graphql.pyutils import Undefined

# Example values by scalar, as the wire expects them (Money and Rate are strings with a
# fixed number of places, never JSON numbers; ids are decimal strings).
SCALAR_EXAMPLES: dict[str, Any] = {
    "Money": "1000.00",
    "SignedMoney": "-25.00",
    "Rate": "0.1200",
    "Date": "2025-01-31",
    "DateTime": "2025-01-31T08:00:00+00:00",
    "ID": "1",
    "Int": 12,
    "Float": 1.5,
    "Boolean": True,
    "JSON": {},
}
# Strings whose name says what they hold; any other string is "text".
STRING_EXAMPLES = {
    "phone": "13800138000",
    "idnumber": "11010519491231002X",  # the example number of GB 11643
    "idempotencykey": "partner-request-0001",
    "smscode": "123456",
}


def default_json(value: Any, type_: GraphQLInputType) -> Any:
    """An input field's default (the server's value) as it travels in JSON variables."""
    node = ast_from_value(value, type_)
    return None if node is None else value_from_ast_untyped(node)


def _string_example(name: str, hint: str | None) -> str:
    """A string the schema suggests (`e.g. "loan application review"` in the text of the
    argument or field), one its name says, or "text"."""
    suggested = re.search(r'e\.g\. "([^"]+)"', hint or "")
    if suggested:
        return suggested.group(1)
    return STRING_EXAMPLES.get(name.lower(), "text")


def _example(type_: GraphQLInputType, name: str, hint: str | None, seen: frozenset[str]) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _example(type_.of_type, name, hint, seen)
    if isinstance(type_, GraphQLList):
        return [_example(type_.of_type, name, hint, seen)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        filled: dict[str, Any] = {}
        for field_name, input_field in type_.fields.items():
            default = input_field.default_value
            if default is not Undefined and default is not None:
                default = default_json(default, input_field.type)
            value = _example_or_omit(
                input_field.type, field_name, input_field.description, default, seen | {type_.name}
            )
            if value is not Undefined:
                filled[field_name] = value
        return filled
    assert isinstance(type_, GraphQLScalarType)
    if type_.name == "String":
        return _string_example(name, hint)
    return SCALAR_EXAMPLES.get(type_.name, "text")


_DATES = ("Date", "DateTime")


def _example_or_omit(
    type_: GraphQLInputType, name: str, hint: str | None, default: Any, seen: frozenset[str]
) -> Any:
    """A value for one variable or input field (`default` as JSON): its default when it
    has one, else one made from its type. Left out (Undefined) when optional: text (a
    cursor, a free-text filter) and enums (a state filter), where an invented value would
    only narrow the answer or be refused, and, inside an input object, an input object
    (its fields are listed; filling every level would mix options that exclude each
    other, or loop) or a date (a day that only some kinds take: a figures' day on a
    contract's download link is refused)."""
    if default is not Undefined and default is not None:
        return default
    if isinstance(type_, GraphQLNonNull):
        return _example(type_, name, hint, seen)
    named = get_named_type(type_)
    if isinstance(named, GraphQLEnumType) or named.name == "String":
        return Undefined
    if seen and (isinstance(named, GraphQLInputObjectType) or named.name in _DATES):
        return Undefined
    return _example(type_, name, hint, seen)


def example_variables(
    schema: GraphQLSchema, definition: OperationDefinitionNode, hints: dict[str, str | None]
) -> dict[str, Any]:
    """Example variables of an operation, in its declared order. `hints`: the text of the
    argument or input field each variable goes to, which may suggest a value."""
    variables: dict[str, Any] = {}
    for variable in definition.variable_definitions or ():
        name = variable.variable.name.value
        type_ = type_from_ast(schema, variable.type)
        assert type_ is not None
        assert is_input_type(type_)
        default = (
            Undefined
            if variable.default_value is None
            else value_from_ast_untyped(variable.default_value)
        )
        value = _example_or_omit(type_, name, hints.get(name), default, frozenset())
        if value is not Undefined:
            variables[name] = value
    return variables
