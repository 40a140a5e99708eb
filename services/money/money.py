"""Money and rates: parsing, formatting, rounding and splitting. Pure functions, no I/O.

The rules, in one place:

- **Amounts are integers in fen** (0.01 CNY) in the database, the ledger and the code.
  Never `float`, anywhere: every function here refuses floats with `TypeError`.
- **Rates are `Decimal`**, annual, as a fraction: `Decimal("0.1200")` is 12 % a year.
- **Rounding is half-up to the fen** (`ROUNDING`): a tie (exactly half a fen) goes away
  from zero, so 0.005 yuan is 1 fen and -0.005 yuan is -1 fen. Anything below the tie
  goes towards zero (0.0049 yuan is 0 fen). One rounding, one rule, no banker's rounding.
- **Splitting an amount among holders** uses largest-remainder allocation (`allocate`),
  so the parts always add up to the whole, to the fen.
- **On the wire** an amount is a decimal string with exactly two places ("1234.56") and a
  rate one with exactly four ("0.1200"). Parsing is strict: what is not plainly a number
  in that form is refused rather than guessed at (no exponents, NaN, separators, "+",
  full-width digits, more than two decimals for money, more than four for rates).

Parse failures raise `InvalidInputError(message, field=...)`, an expected failure the
resolvers turn into a typed error. Programming mistakes (a float where an int belongs,
bad allocation weights, a non-finite Decimal) raise `TypeError` / `ValueError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final

from services.errors import InvalidInputError

#: The one rounding rule for money: ties (exactly half a fen) go away from zero.
ROUNDING: Final = ROUND_HALF_UP

#: Fen in one yuan.
FEN_PER_YUAN: Final = 100

#: Most integer (yuan) digits an amount may have on the wire: up to
#: 999 999 999 999 999.99 yuan, about 1e17 fen, well inside a signed 64-bit column.
MAX_INTEGER_DIGITS: Final = 15

#: Decimal places of a rate on the wire.
RATE_PLACES: Final = 4

#: Rates accepted: from 0 to 10 (1000 % a year) inclusive.
MIN_RATE: Final = Decimal(0)
MAX_RATE: Final = Decimal(10)

_RATE_QUANTUM: Final = Decimal(1).scaleb(-RATE_PLACES)  # Decimal("0.0001")

# `[0-9]` (not `\d`) so only ASCII digits match; `fullmatch` so nothing trails.
_MONEY_RE: Final = re.compile(rf"(-?)([0-9]{{1,{MAX_INTEGER_DIGITS}}})(?:\.([0-9]{{1,2}}))?")
_RATE_RE: Final = re.compile(rf"([0-9]{{1,2}})(?:\.([0-9]{{1,{RATE_PLACES}}}))?")


def _check_decimal(value: object, name: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}")
    return value


def _check_int(value: object, name: str) -> int:
    # bool is an int subclass; True fen is a bug, not one fen.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _to_integral(value: Decimal, *, scale: int = 0) -> int:
    """`value * 10**scale` rounded to an integer by `ROUNDING`, exactly.

    Done in a local context with enough precision for every digit, so the value is never
    rounded by the context first (which would round twice, and half-even).
    """
    with localcontext() as context:
        digits = len(value.as_tuple().digits)
        context.prec = max(context.prec, digits + scale + 3, value.adjusted() + scale + 3)
        return int(value.scaleb(scale).quantize(Decimal(1), rounding=ROUNDING))


def parse_money(text: str, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Parse a wire amount in yuan ("1234.56", "1234.5", "1234", "0.01") into fen.

    Rules: outer whitespace is stripped, then the text must be ASCII digits, at most
    `MAX_INTEGER_DIGITS` of them before an optional "." followed by one or two digits.
    Leading zeros are accepted ("007.50" is 750 fen). A leading "-" is accepted only with
    `allow_negative=True`. Everything else is refused: empty text, more than two decimals
    ("0.005" is not rounded, it is refused), exponents ("1e3"), NaN/Infinity, thousands
    separators, "+", inner spaces, ".5" / "5.", full-width or other non-ASCII digits.

    Raises `InvalidInputError(message, field=field)` on refusal.
    """
    if not isinstance(text, str):
        raise InvalidInputError('Amount must be a string like "1234.56".', field=field)
    match = _MONEY_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(
            "Amount must be a plain decimal number of yuan with at most two decimal "
            f'places and at most {MAX_INTEGER_DIGITS} integer digits, like "1234.56".',
            field=field,
        )
    sign, whole, cents = match.groups()
    if sign and not allow_negative:
        raise InvalidInputError("Amount must not be negative.", field=field)
    fen = int(whole) * FEN_PER_YUAN + int((cents or "").ljust(2, "0"))
    return -fen if sign else fen


def format_money(fen: int) -> str:
    """Format fen as a wire amount in yuan: always two decimals, "-" for negatives.

    No separators, no "+": 123456 -> "1234.56", 0 -> "0.00", -5 -> "-0.05".
    Round-trips with `parse_money(..., allow_negative=True)`.
    """
    fen = _check_int(fen, "fen")
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{'-' if fen < 0 else ''}{yuan}.{cents:02d}"


def to_fen(value: Decimal) -> int:
    """Convert an amount in yuan (a `Decimal`) to fen, rounding half-up (`ROUNDING`).

    Ties go away from zero: Decimal("0.005") -> 1, Decimal("-0.005") -> -1,
    Decimal("0.0049") -> 0. The value is rounded once, exactly, whatever its precision.
    Raises `TypeError` for anything but a Decimal (floats included), `ValueError` for NaN
    or infinity.
    """
    return _to_integral(_check_decimal(value, "value"), scale=2)


def round_fen(value: Decimal) -> int:
    """Round an amount already in fen (e.g. interest computed in fen) to whole fen, half-up.

    Decimal("12.5") -> 13, Decimal("-12.5") -> -13, Decimal("12.4999") -> 12.
    Raises `TypeError` for anything but a Decimal, `ValueError` for NaN or infinity.
    """
    return _to_integral(_check_decimal(value, "value"))


def allocate(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split `total_fen` among holders in proportion to `weights`, to the fen.

    Largest-remainder (Hamilton) allocation: each holder first gets the floor of its exact
    share `total * weight / sum(weights)`; the fen left over (fewer than the number of
    holders) go one each to the holders with the largest remainders. Ties between equal
    remainders go to the **lower index first**, so the result is deterministic and stable:
    allocate(100, [1, 1, 1]) == [34, 33, 33], allocate(1, [1, 1]) == [1, 0].

    Guarantees: the parts sum exactly to `total_fen`; each part is within one fen of its
    exact share (strictly less than one fen away); a zero weight gets 0; a larger weight
    never gets less than a smaller one.

    Negative totals (reversals, refunds) are split symmetrically:
    allocate(-t, w) == [-p for p in allocate(t, w)], so the lower index gets the extra
    fen of magnitude there too.

    Weights must be a non-empty sequence of non-negative ints (e.g. principal in fen), at
    least one of them positive; otherwise `ValueError` (`TypeError` for non-ints).
    """
    total_fen = _check_int(total_fen, "total_fen")
    if isinstance(weights, (str, bytes)):
        raise TypeError("weights must be a sequence of ints")
    checked = [_check_int(weight, "weight") for weight in weights]
    if not checked:
        raise ValueError("allocate needs at least one weight")
    if any(weight < 0 for weight in checked):
        raise ValueError("allocation weights must not be negative")
    weight_sum = sum(checked)
    if weight_sum == 0:
        raise ValueError("at least one allocation weight must be positive")
    if total_fen < 0:
        return [-part for part in allocate(-total_fen, checked)]

    shares = [divmod(total_fen * weight, weight_sum) for weight in checked]
    parts = [floor for floor, _ in shares]
    leftover = total_fen - sum(parts)
    # Largest remainder first; equal remainders by lower index (sorted() is stable).
    by_remainder = sorted(range(len(checked)), key=lambda index: -shares[index][1])
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return parts


def parse_rate(text: str, *, field: str = "rate") -> Decimal:
    """Parse a wire rate ("0.1200" = 12 % a year) into a Decimal with exactly 4 places.

    Rules: outer whitespace is stripped, then one or two ASCII digits, optionally "." and
    one to four digits; the value must lie between `MIN_RATE` (0) and `MAX_RATE` (10)
    inclusive. Refused like money: signs, exponents, NaN/Infinity, separators, non-ASCII
    digits, more than four decimals. "0.12" -> Decimal("0.1200").

    Raises `InvalidInputError(message, field=field)` on refusal.
    """
    if not isinstance(text, str):
        raise InvalidInputError('Rate must be a string like "0.1200".', field=field)
    match = _RATE_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(
            "Rate must be a plain decimal fraction with at most four decimal places, "
            'like "0.1200" for 12% a year.',
            field=field,
        )
    whole, places = match.groups()
    rate = Decimal(f"{whole}.{(places or '').ljust(RATE_PLACES, '0')}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidInputError(
            f"Rate must be between {MIN_RATE} and {MAX_RATE} inclusive.", field=field
        )
    return rate


def format_rate(rate: Decimal) -> str:
    """Format a rate with exactly four decimal places: Decimal("0.12") -> "0.1200".

    Never rounds: a rate that does not fit in four places exactly (Decimal("0.12345")), or
    lies outside 0..10, is a bug upstream and raises `ValueError`, as do NaN and infinity;
    anything but a Decimal (a float) raises `TypeError`. Round-trips with `parse_rate`.
    """
    rate = _check_decimal(rate, "rate")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate {rate} is outside {MIN_RATE}..{MAX_RATE}")
    with localcontext() as context:
        context.prec = max(context.prec, len(rate.as_tuple().digits) + 3)
        quantized = rate.quantize(_RATE_QUANTUM)
    if quantized != rate:
        raise ValueError(f"rate {rate} has more than {RATE_PLACES} decimal places")
    # copy_abs: Decimal("-0") is in range but must not print as "-0.0000".
    return f"{quantized.copy_abs():f}"
