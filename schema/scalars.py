"""Custom scalars for money and rates on the wire: `Money` ("1234.56") and `Rate` ("0.1200").

Inside the server an amount is an `int` of fen and a rate a `Decimal` (services/money/money.py);
on the wire both are decimal strings with a fixed number of places, so no client ever
sees a float, an exponent or a 32-bit overflow. Not strawberry's built-in `Decimal`
(accepts NaN, prints "1E+2") and not GraphQL `Int` (32-bit).

Usage: annotate with the `NewType`s and register `SCALAR_MAP` in the schema config (the
current strawberry API; passing a class to `strawberry.scalar` is deprecated)::

    from schema.scalars import SCALAR_MAP, Money, Rate

    @strawberry.type
    class Loan:
        amount: Money  # an int of fen in Python
        rate: Rate  # a Decimal in Python

    strawberry.Schema(..., config=StrawberryConfig(scalar_map=SCALAR_MAP))

Refusals raise `GraphQLError` with `extensions.code == "BAD_USER_INPUT"`, not a plain
`ValueError`: graphql-core reports both as request errors, but for an inline literal a
`ValueError` arrives as the `original_error` of a validation error, which
`MaskUnexpectedErrors` would hide as "Unexpected error." (INTERNAL_SERVER_ERROR). With the
public code the client sees the reason, in variables and literals alike.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from services.errors import InvalidInputError
from services.money.money import format_money, format_rate, parse_money, parse_rate

Money = NewType("Money", int)
"""An amount in fen (int) in Python; a decimal string of yuan with two places on the wire."""

SignedMoney = NewType("SignedMoney", int)
"""An amount in fen that may be negative (ledger entries); on the wire like Money."""

Rate = NewType("Rate", Decimal)
"""An annual rate as a fraction (Decimal) in Python; a string with four places on the wire."""

SignedRate = NewType("SignedRate", Decimal)
"""A computed rate that may be negative or above 10 (a return: XIRR); four places."""

BAD_USER_INPUT = "BAD_USER_INPUT"


def _refuse(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def serialize_money(value: Any) -> str:
    """int fen -> "1234.56". Anything else (float, Decimal, str) is a bug: TypeError."""
    return format_money(value)


def parse_money_value(value: Any) -> int:
    """A JSON string "1234.56" -> int fen, by `parse_money` (non-negative, <= 2 places).

    A JSON number (12.3 or 1230) or any other JSON type is refused: amounts travel as
    strings so that no client rounds them through a float.
    """
    if not isinstance(value, str):
        raise _refuse('Money must be a string with two decimal places, like "1234.56".')
    try:
        return parse_money(value)
    except InvalidInputError as error:
        raise _refuse(error.message) from error


def parse_signed_money_value(value: Any) -> int:
    """Like `parse_money_value`, but a leading "-" is accepted ("-12.50")."""
    if not isinstance(value, str):
        raise _refuse('SignedMoney must be a string with two decimal places, like "-1234.56".')
    try:
        return parse_money(value, allow_negative=True)
    except InvalidInputError as error:
        raise _refuse(error.message) from error


def serialize_rate(value: Any) -> str:
    """Decimal -> "0.1200" by `format_rate`. A float or an unrepresentable rate is a bug."""
    return format_rate(value)


def parse_rate_value(value: Any) -> Decimal:
    """A JSON string "0.1200" -> Decimal("0.1200"), by `parse_rate` (0..10, <= 4 places).

    A JSON number or any other JSON type is refused, as for money.
    """
    if not isinstance(value, str):
        raise _refuse('Rate must be a string with four decimal places, like "0.1200".')
    try:
        return parse_rate(value)
    except InvalidInputError as error:
        raise _refuse(error.message) from error


def serialize_signed_rate(value: Any) -> str:
    """Decimal -> "-0.0350" / "12.5000": four places exactly, any sign and size. A float,
    NaN, infinity or more than four places is a bug upstream (TypeError / ValueError)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"a SignedRate must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value.quantize(Decimal("0.0001")) != value:
        raise ValueError(f"rate {value} is not finite with at most four decimal places")
    text = f"{value:.4f}"
    return text.removeprefix("-") if value == 0 else text


def parse_signed_rate_value(value: Any) -> Decimal:
    """A JSON string "-0.0350" -> Decimal; at most four places, no exponent."""
    if not isinstance(value, str) or not _SIGNED_RATE.fullmatch(value):
        raise _refuse('SignedRate must be a string with four decimal places, like "-0.0350".')
    return Decimal(value)


_SIGNED_RATE = re.compile(r"-?\d{1,6}(\.\d{1,4})?")


MONEY: ScalarDefinition = strawberry.scalar(
    name="Money",
    description=(
        "An amount of money in CNY yuan, as a decimal string with exactly two decimal "
        'places: "1234.56", "0.05", "-0.05". No exponent, no thousands separators, never a '
        "JSON number. Input accepts one or two decimal places or none "
        '("1234.5", "1234"), at most 15 integer digits, and must not be negative; more '
        'than two decimal places ("0.005") is refused, never rounded.'
    ),
    serialize=serialize_money,
    parse_value=parse_money_value,
)

SIGNED_MONEY: ScalarDefinition = strawberry.scalar(
    name="SignedMoney",
    description=(
        "A signed amount of money in CNY yuan (a ledger entry: negative takes money from "
        'the account, positive adds to it), as a decimal string: "-1234.56", "0.05". The '
        'same rules as Money, except that a leading "-" is allowed.'
    ),
    serialize=serialize_money,
    parse_value=parse_signed_money_value,
)

RATE: ScalarDefinition = strawberry.scalar(
    name="Rate",
    description=(
        "A rate as a decimal fraction string with exactly four decimal places: "
        '"0.1200" is 12% (an annual rate, unless the field says otherwise). Between '
        '"0.0000" and "10.0000" inclusive. No sign, no exponent, never a JSON number. '
        "Input accepts up to four decimal places; more is refused, never rounded."
    ),
    serialize=serialize_rate,
    parse_value=parse_rate_value,
)

SIGNED_RATE: ScalarDefinition = strawberry.scalar(
    name="SignedRate",
    description=(
        "A computed rate that may be negative or above 10, such as a return (XIRR), as a "
        'decimal fraction string with exactly four decimal places: "-0.0350" is -3.5%, '
        '"0.1200" is 12%. Never a JSON number.'
    ),
    serialize=serialize_signed_rate,
    parse_value=parse_signed_rate_value,
)

#: Pass as `StrawberryConfig(scalar_map=SCALAR_MAP)` so `Money` / `Rate` annotations work.
SCALAR_MAP: dict[object, ScalarDefinition] = {
    Money: MONEY,
    SignedMoney: SIGNED_MONEY,
    Rate: RATE,
    SignedRate: SIGNED_RATE,
}
