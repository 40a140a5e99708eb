"""The `Money` and `Rate` scalars, through a throwaway schema that echoes its arguments.

Both the variable path (JSON values) and the inline-literal path are checked: graphql-core
coerces them in different places, and a refusal must be a client error on both, also when
the project's error masking is on (never "Unexpected error.").
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig

from schema.extensions import MaskUnexpectedErrors
from schema.scalars import MONEY, RATE, SCALAR_MAP, Money, Rate


@pytest.fixture(autouse=True)
def clean_db() -> None:
    """No database here: overrides the conftest fixture that empties it."""


seen: dict[str, object] = {}


@strawberry.type
class Query:
    @strawberry.field
    def echo_money(self, amount: Money) -> Money:
        seen["amount"] = amount
        return amount

    @strawberry.field
    def echo_rate(self, rate: Rate) -> Rate:
        seen["rate"] = rate
        return rate

    @strawberry.field
    def fen(self) -> Money:
        return Money(1230)

    @strawberry.field
    def negative(self) -> Money:
        return Money(-5)

    @strawberry.field
    def float_money(self) -> Money:
        return 12.3  # type: ignore[return-value]  # a bug: must not reach the wire


def _schema(*, masked: bool) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[MaskUnexpectedErrors] if masked else [],
    )


@pytest.fixture(params=[False, True], ids=["plain", "masked"])
def schema(request: pytest.FixtureRequest) -> strawberry.Schema:
    seen.clear()
    return _schema(masked=request.param)


MONEY_VAR = "query ($amount: Money!) { echoMoney(amount: $amount) }"
RATE_VAR = "query ($rate: Rate!) { echoRate(rate: $rate) }"


def _run(schema, query, variables=None):
    result = schema.execute_sync(query, variable_values=variables)
    return result.data, [
        {"message": error.message, **(error.extensions or {})} for error in result.errors or []
    ]


def _refused(errors):
    """One client error, with the reason shown and no resolver called."""
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["code"] == "BAD_USER_INPUT", error
    assert "Unexpected error" not in error["message"]
    assert "amount" not in seen
    assert "rate" not in seen
    return error["message"]


# --- Money --------------------------------------------------------------------------------


def test_money_string_in_is_fen_inside_and_string_out(schema):
    data, errors = _run(schema, MONEY_VAR, {"amount": "12.30"})
    assert errors == []
    assert data == {"echoMoney": "12.30"}
    assert seen["amount"] == 1230
    assert type(seen["amount"]) is int


@pytest.mark.parametrize(
    ("wire", "fen", "out"),
    [("12.3", 1230, "12.30"), ("12", 1200, "12.00"), ("0.01", 1, "0.01"), (" 5.00 ", 500, "5.00")],
)
def test_money_input_forms(schema, wire, fen, out):
    data, errors = _run(schema, MONEY_VAR, {"amount": wire})
    assert errors == []
    assert seen["amount"] == fen
    assert data == {"echoMoney": out}


def test_money_literal_in_the_document(schema):
    data, errors = _run(schema, '{ echoMoney(amount: "12.30") }')
    assert errors == []
    assert data == {"echoMoney": "12.30"}
    assert seen["amount"] == 1230


@pytest.mark.parametrize("value", [12.3, 1230, 0, True, ["12.30"], {"yuan": "12.30"}])
def test_money_as_a_json_number_or_other_type_is_refused(schema, value):
    data, errors = _run(schema, MONEY_VAR, {"amount": value})
    assert data is None
    assert "must be a string" in _refused(errors)


@pytest.mark.parametrize("literal", ["12.3", "1230", "true", '["12.30"]'])
def test_money_non_string_literal_is_refused(schema, literal):
    data, errors = _run(schema, f"{{ echoMoney(amount: {literal}) }}")
    assert data is None
    assert "must be a string" in _refused(errors)


@pytest.mark.parametrize(
    "value",
    [
        "1e3",
        "NaN",
        "Infinity",
        "0.005",
        "1,234.56",
        "+1",
        "-1",
        "\uff11\uff12",
        "",
        "1234567890123456",
    ],
)
def test_money_malformed_strings_are_refused(schema, value):
    data, errors = _run(schema, MONEY_VAR, {"amount": value})
    assert data is None
    message = _refused(errors)
    assert message.startswith("Variable '$amount' has invalid value")


@pytest.mark.parametrize("value", ["1e3", "NaN", "-1", "0.005"])
def test_money_malformed_literals_are_refused(schema, value):
    data, errors = _run(schema, f'{{ echoMoney(amount: "{value}") }}')
    assert data is None
    _refused(errors)


def test_int_fen_serializes_as_two_place_string(schema):
    data, errors = _run(schema, "{ fen negative }")
    assert errors == []
    assert data == {"fen": "12.30", "negative": "-0.05"}


def test_a_float_from_a_resolver_is_a_server_bug_not_a_number_on_the_wire():
    data, errors = _run(_schema(masked=True), "{ floatMoney }")
    assert data is None
    assert errors == [
        {"message": "Unexpected error.", "code": "INTERNAL_SERVER_ERROR", "traceId": ""}
    ]


# --- Rate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "rate", "out"),
    [
        ("0.1200", Decimal("0.1200"), "0.1200"),
        ("0.12", Decimal("0.1200"), "0.1200"),
        ("0", Decimal(0), "0.0000"),
        ("10", Decimal(10), "10.0000"),
        ("0.0875", Decimal("0.0875"), "0.0875"),
    ],
)
def test_rate_round_trip(schema, wire, rate, out):
    data, errors = _run(schema, RATE_VAR, {"rate": wire})
    assert errors == []
    assert data == {"echoRate": out}
    assert seen["rate"] == rate
    assert isinstance(seen["rate"], Decimal)


def test_rate_literal_round_trip(schema):
    data, errors = _run(schema, '{ echoRate(rate: "0.1200") }')
    assert errors == []
    assert data == {"echoRate": "0.1200"}


@pytest.mark.parametrize("value", [0.12, "1e-1", "NaN", "0.12345", "10.0001", "-0.01", "12%"])
def test_rate_malformed_values_are_refused(schema, value):
    data, errors = _run(schema, RATE_VAR, {"rate": value})
    assert data is None
    _refused(errors)


def test_rate_number_literal_is_refused(schema):
    data, errors = _run(schema, "{ echoRate(rate: 0.12) }")
    assert data is None
    _refused(errors)


# --- SDL ----------------------------------------------------------------------------------


def test_sdl_names_and_describes_the_scalars():
    sdl = _schema(masked=False).as_str()
    assert "scalar Money" in sdl
    assert "scalar Rate" in sdl
    assert "echoMoney(amount: Money!): Money!" in sdl
    assert "echoRate(rate: Rate!): Rate!" in sdl
    assert MONEY.description is not None
    assert RATE.description is not None
    assert '"1234.56"' in MONEY.description
    assert '"0.1200"' in RATE.description
    assert '"""' in sdl  # descriptions are printed in the SDL


def test_a_signed_rate_carries_losses_and_large_returns_with_four_places():
    from schema.scalars import parse_signed_rate_value, serialize_signed_rate

    assert serialize_signed_rate(Decimal("-0.0350")) == "-0.0350"
    assert serialize_signed_rate(Decimal("12.5")) == "12.5000"
    assert serialize_signed_rate(Decimal("-0")) == "0.0000"
    for wrong in (0.035, Decimal("0.00001"), Decimal("NaN")):
        with pytest.raises((TypeError, ValueError)):
            serialize_signed_rate(wrong)
    assert parse_signed_rate_value("-0.0350") == Decimal("-0.0350")
    for wrong_input in ("1e-3", "-0.00001", 0.035, "--1"):
        with pytest.raises(GraphQLError):
            parse_signed_rate_value(wrong_input)
