"""Money rules: fen as int, half-up rounding, largest-remainder splits, strict wire strings.

Every expected value in the tables below was worked out by hand. Half-up means a tie
(exactly half a fen) goes away from zero: 0.005 yuan -> 1 fen, -0.005 yuan -> -1 fen.
Examples marked "half-even: ..." are where banker's rounding would differ.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.errors import InvalidInputError
from services.money import money
from services.money.money import (
    allocate,
    format_money,
    format_rate,
    parse_money,
    parse_rate,
    round_fen,
    to_fen,
)

MAX_FEN = 10**17 - 1  # 999 999 999 999 999.99 yuan: 15 integer digits


@pytest.fixture(autouse=True)
def clean_db() -> None:
    """Pure functions, no database: overrides the conftest fixture that empties it."""


# --- parse_money / format_money ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.56", 123456),
        ("1234.5", 123450),
        ("1234", 123400),
        ("0.01", 1),
        ("0.1", 10),
        ("0", 0),
        ("0.00", 0),
        ("100.00", 10000),
        ("007.50", 750),  # leading zeros are harmless
        ("  12.30  ", 1230),  # outer whitespace is stripped
        ("\t12.30\n", 1230),
        ("999999999999999.99", MAX_FEN),  # 15 integer digits: the largest amount
    ],
)
def test_parse_money_worked_examples(text, fen):
    assert parse_money(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0.005",  # more than two decimals is refused, not rounded
        "1.234",
        "1e3",
        "1E3",
        "1.5e2",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "inf",
        "-Infinity",
        "1,234.56",  # thousands separator
        "1 234.56",
        "1_234",  # Python's int() would accept this
        "+1",
        "- 1",
        "12 .5",
        "12. 5",
        "12.",
        ".5",
        "0x10",
        "12.3.4",
        "\uff11\uff12",  # full-width digits
        "١٢",  # Arabic-Indic digits
        "1234567890123456",  # 16 integer digits
        "1234567890123456.00",
        "-1",  # negatives only with allow_negative
        "-0.01",
        "¥12",
        "12元",
        "12\x00",
    ],
)
def test_parse_money_refuses(text):
    with pytest.raises(InvalidInputError) as refused:
        parse_money(text, field="principal")
    assert refused.value.field == "principal"
    assert refused.value.code == "INVALID"
    assert refused.value.message


def test_parse_money_field_defaults_to_amount():
    with pytest.raises(InvalidInputError) as refused:
        parse_money("1e3")
    assert refused.value.field == "amount"


@pytest.mark.parametrize("value", [12.3, 1230, None, Decimal("12.30"), b"12.30"])
def test_parse_money_refuses_non_strings(value):
    with pytest.raises(InvalidInputError):
        parse_money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fen"),
    [("-0.05", -5), ("-1234.56", -123456), ("-0", 0), ("-0.00", 0), ("12", 1200)],
)
def test_parse_money_allows_a_minus_sign_only_when_asked(text, fen):
    assert parse_money(text, allow_negative=True) == fen


@pytest.mark.parametrize("text", ["--1", "+-1", "-+1", "-", "-.5", "-1e3", "-NaN", "- 1"])
def test_parse_money_negative_still_strict(text):
    with pytest.raises(InvalidInputError):
        parse_money(text, allow_negative=True)


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (123456, "1234.56"),
        (100000000, "1000000.00"),  # no separators
        (-5, "-0.05"),
        (-100, "-1.00"),
        (-123456, "-1234.56"),
        (MAX_FEN, "999999999999999.99"),
    ],
)
def test_format_money_worked_examples(fen, text):
    assert format_money(fen) == text
    assert parse_money(text, allow_negative=True) == fen


@pytest.mark.parametrize("value", [1.0, Decimal(1), "1", True, None])
def test_format_money_takes_only_int_fen(value):
    with pytest.raises(TypeError):
        format_money(value)  # type: ignore[arg-type]


@given(st.integers(min_value=-MAX_FEN, max_value=MAX_FEN))
@example(0)
@example(-1)
@example(MAX_FEN)
@example(-MAX_FEN)
def test_format_then_parse_round_trips(fen):
    text = format_money(fen)
    assert parse_money(text, allow_negative=True) == fen
    whole, _, cents = text.lstrip("-").partition(".")
    assert len(cents) == 2
    assert whole == str(abs(fen) // 100)


@given(st.from_regex(r"-?[0-9]{1,15}(\.[0-9]{1,2})?", fullmatch=True))
def test_parse_agrees_with_decimal_and_formats_back_canonically(text):
    fen = parse_money(text, allow_negative=True)
    assert fen == int(Decimal(text) * 100)
    assert Decimal(format_money(fen)) == Decimal(text)


@given(st.text(max_size=30))
@example("1e3")
@example("NaN")
@example("\uff11\uff12")  # full-width digits
def test_parse_money_on_any_text_either_refuses_or_means_what_decimal_means(text):
    try:
        fen = parse_money(text, allow_negative=True)
    except InvalidInputError:
        return
    assert fen == int(Decimal(text.strip()) * 100)
    assert abs(fen) <= MAX_FEN


def test_parse_money_refuses_one_digit_too_many():
    with pytest.raises(InvalidInputError):
        parse_money(format_money(MAX_FEN + 1))


# --- to_fen / round_fen -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0.005", 1),  # the tie goes up (away from zero)
        ("0.0049", 0),  # below the tie goes down
        ("0.0050000001", 1),
        ("-0.005", -1),  # half-up is away from zero for negatives too
        ("-0.0049", 0),
        ("0.015", 2),
        ("0.025", 3),  # half-even: 2
        ("12.345", 1235),  # half-even: 1234
        ("12.344999", 1234),
        ("1234.56", 123456),
        ("1E+2", 10000),
        ("0", 0),
        ("-0", 0),
        # More digits than the default 28-digit context: must not be rounded twice.
        ("0.0049999999999999999999999999999999", 0),
        ("0.0050000000000000000000000000000001", 1),
        ("12345678901234567890123456789.005", 1234567890123456789012345678901),
    ],
)
def test_to_fen_worked_examples(yuan, fen):
    assert to_fen(Decimal(yuan)) == fen


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        ("12.5", 13),
        ("13.5", 14),
        ("14.5", 15),  # half-even: 14
        ("12.4999", 12),
        ("-12.5", -13),
        ("-12.4999", -12),
        ("-0.5", -1),
        ("0.4", 0),
        ("0", 0),
        ("1E+3", 1000),
    ],
)
def test_round_fen_worked_examples(amount, fen):
    assert round_fen(Decimal(amount)) == fen


def test_the_rounding_rule_is_one_named_constant():
    assert money.ROUNDING == ROUND_HALF_UP


@pytest.mark.parametrize("function", [to_fen, round_fen])
@pytest.mark.parametrize("value", [0.005, 1, "0.005", None])
def test_rounding_refuses_anything_but_decimal(function, value):
    with pytest.raises(TypeError):
        function(value)


@pytest.mark.parametrize("function", [to_fen, round_fen])
@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_rounding_refuses_non_finite(function, value):
    with pytest.raises(ValueError, match="finite"):
        function(Decimal(value))


def _half_up(exact: Fraction) -> int:
    """Reference half-up rounding on exact fractions: away from zero on ties."""
    magnitude = int(abs(exact) + Fraction(1, 2))  # int() floors a non-negative Fraction
    return -magnitude if exact < 0 else magnitude


@given(st.integers(-(10**30), 10**30), st.integers(-40, 5))
def test_to_fen_is_exact_half_up(coefficient, exponent):
    value = Decimal(coefficient).scaleb(exponent)
    assert to_fen(value) == _half_up(Fraction(value) * 100)
    assert round_fen(value) == _half_up(Fraction(value))


# --- allocate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),  # the extra fen goes to the lowest index
        (1, [1, 1], [1, 0]),
        (10000, [3000, 7000], [3000, 7000]),  # exact shares need no remainder
        (10, [1, 1, 1], [4, 3, 3]),
        (2, [1, 1, 1], [1, 1, 0]),
        (100, [1, 2], [33, 67]),  # 33.33 / 66.67: the larger remainder wins
        (1, [5, 3, 2], [1, 0, 0]),
        (7, [2, 2, 3], [2, 2, 3]),
        (5, [0, 1, 0], [0, 5, 0]),  # zero weights get nothing
        (0, [1, 2, 3], [0, 0, 0]),
        (3, [1, 0, 1, 0, 1], [1, 0, 1, 0, 1]),
        (1, [7], [1]),
        (-100, [1, 1, 1], [-34, -33, -33]),  # negative totals: symmetric
        (-1, [1, 1], [-1, 0]),
    ],
)
def test_allocate_worked_examples(total, weights, parts):
    assert allocate(total, weights) == parts
    assert sum(parts) == total


def test_allocate_takes_any_sequence_and_does_not_mutate_it():
    weights = (1, 1, 1)
    assert allocate(100, weights) == [34, 33, 33]
    assert weights == (1, 1, 1)


@pytest.mark.parametrize(
    ("total", "weights", "error"),
    [
        (100, [], ValueError),
        (100, [0, 0], ValueError),
        (100, [1, -1], ValueError),
        (100, [-1, -1], ValueError),
        (100, [1.0, 1.0], TypeError),
        (100, [True, False], TypeError),
        (100, [Decimal(1)], TypeError),
        (100, "11", TypeError),
        (1.5, [1, 1], TypeError),
        (Decimal(100), [1, 1], TypeError),
    ],
)
def test_allocate_refuses_bad_input(total, weights, error):
    with pytest.raises(error):
        allocate(total, weights)


weights_strategy = st.lists(st.integers(0, 10**9), min_size=1, max_size=20).filter(any)


@given(st.integers(-(10**13), 10**13), weights_strategy)
@example(100, [1, 1, 1])
@example(1, [1, 1])
@example(-1, [3, 3, 3])
def test_allocate_sums_to_total_and_stays_within_one_fen(total, weights):
    parts = allocate(total, weights)
    weight_sum = sum(weights)

    assert len(parts) == len(weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, weight_sum)
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0


@given(st.integers(-(10**13), 10**13), weights_strategy)
def test_allocate_a_larger_weight_never_gets_less(total, weights):
    parts = allocate(total, weights)
    for i, (part_i, weight_i) in enumerate(zip(parts, weights, strict=True)):
        for part_j, weight_j in zip(parts[i + 1 :], weights[i + 1 :], strict=True):
            if weight_i > weight_j:
                assert abs(part_i) >= abs(part_j)
            elif weight_i < weight_j:
                assert abs(part_i) <= abs(part_j)
            else:  # equal weights: within one fen, the lower index never behind
                assert 0 <= abs(part_i) - abs(part_j) <= 1


@given(st.integers(0, 10**13), weights_strategy)
def test_allocate_negative_total_mirrors_positive(total, weights):
    assert allocate(-total, weights) == [-part for part in allocate(total, weights)]


# --- parse_rate / format_rate -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("0.1200", "0.1200"),
        ("0.12", "0.1200"),
        ("0.1", "0.1000"),
        ("0", "0.0000"),
        ("0.0001", "0.0001"),
        ("1.5", "1.5000"),
        ("10", "10.0000"),
        ("10.0000", "10.0000"),
        (" 0.0875 ", "0.0875"),
    ],
)
def test_parse_rate_worked_examples(text, rate):
    parsed = parse_rate(text)
    assert parsed == Decimal(rate)
    assert str(parsed) == rate  # always four places
    assert format_rate(parsed) == rate


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "10.0001",  # above 10
        "11",
        "100",
        "-0.1",
        "-0",
        "+0.1",
        "0.12345",  # more than four places is refused, not rounded
        "1e-1",
        "1E-1",
        "NaN",
        "Infinity",
        ".12",
        "0.",
        "0,12",
        "12%",
        "\uff10.\uff11\uff12",  # full-width digits
    ],
)
def test_parse_rate_refuses(text):
    with pytest.raises(InvalidInputError) as refused:
        parse_rate(text, field="annualRate")
    assert refused.value.field == "annualRate"


def test_parse_rate_field_defaults_to_rate_and_refuses_non_strings():
    with pytest.raises(InvalidInputError) as refused:
        parse_rate(0.12)  # type: ignore[arg-type]
    assert refused.value.field == "rate"


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        ("0.12", "0.1200"),
        ("0.120000", "0.1200"),
        ("1E-1", "0.1000"),
        ("0", "0.0000"),
        ("-0", "0.0000"),  # never "-0.0000"
        ("10", "10.0000"),
        ("0.0001", "0.0001"),
    ],
)
def test_format_rate_worked_examples(rate, text):
    assert format_rate(Decimal(rate)) == text


@pytest.mark.parametrize(
    ("rate", "error"),
    [
        (Decimal("0.12345"), ValueError),  # would need rounding: a bug upstream
        (Decimal("10.0001"), ValueError),
        (Decimal("-0.01"), ValueError),
        (Decimal("NaN"), ValueError),
        (Decimal("Infinity"), ValueError),
        (0.12, TypeError),
        ("0.12", TypeError),
    ],
)
def test_format_rate_refuses(rate, error):
    with pytest.raises(error):
        format_rate(rate)


@given(st.integers(0, 100000))
def test_rate_round_trips(ten_thousandths):
    rate = Decimal(ten_thousandths).scaleb(-4)
    text = format_rate(rate)
    assert len(text.partition(".")[2]) == 4
    assert parse_rate(text) == rate
    assert format_rate(parse_rate(text)) == text
