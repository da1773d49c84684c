"""Shared helpers of the venue parsers: JSON decoding, exact decimals, typed failures.

Hot path notes: prices and sizes repeat a lot on a live stream, so decimal text is converted
once and cached (`DEC[text]`); a cache hit is one dict lookup in C. Validation (finite,
non-negative, plain decimal text, a sane exponent) happens only on a miss, so every cached value
is valid. `PX[text]` is the same for values that must be strictly positive (every price, every
trade size): a zero price is never a price, and bad data stops here, at the edge, as a typed
`ParseError` naming the field, before a bar, a fill price or a venue database can see it.

Bounds: a value has at most `MAX_FRACTION_DIGITS` (30) digits after the point and at most 31
before it. `1E-999999999` (which Decimal arithmetic silently turns into 0) and `1E+999999999`
are refused, as are `NaN`, `Infinity`, negatives and anything that is not plain decimal text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import orjson

from nzeza.errors import ParseError

T = TypeVar("T")

_MAX_CACHE = 500_000
_ALLOWED = frozenset("0123456789.eE+-")
MAX_FRACTION_DIGITS = 30  # no venue quotes a price or size finer than 1e-30
MAX_INTEGER_DIGITS = 30  # adjusted exponent: up to 31 digits before the point

# Exceptions a parser's fast path may hit on malformed-but-valid JSON; each becomes ParseError.
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, InvalidOperation)


class _DecimalCache(dict):
    """`DEC[text]` → validated Decimal; a miss parses, checks and remembers."""

    __slots__ = ()

    def __missing__(self, text: Any) -> Decimal:
        value = _parse(text)
        if len(self) >= _MAX_CACHE:
            self.clear()
        self[text] = value
        return value


def _parse(text: Any) -> Decimal:
    # Plain ASCII "digits[.digits]" text of up to 31 characters is finite, non-negative and
    # in range by construction: nothing is left to check once it is a Decimal.
    if (
        type(text) is str
        and len(text) <= 31
        and text.isascii()
        and text.replace(".", "", 1).isdecimal()
    ):
        return Decimal(text)
    return to_decimal(text)


def to_decimal(text: Any) -> Decimal:
    """Exact Decimal from wire text; raises ValueError for anything but a finite, >= 0 number."""
    if type(text) is not str:
        if type(text) is Decimal:  # from json.loads(parse_float=Decimal)
            value = text
        elif type(text) is int:
            value = Decimal(text)
        else:
            raise ValueError(f"expected decimal text, got {type(text).__name__}")
    else:
        if not text or len(text) > 64 or not _ALLOWED.issuperset(text):
            raise ValueError(f"not a plain decimal: {text[:40]!r}")
        value = Decimal(text)
    if not value.is_finite():
        raise ValueError(f"non-finite number {text!r}")
    if value.is_signed() and value != 0:
        raise ValueError(f"negative number {text!r}")
    if value.adjusted() > MAX_INTEGER_DIGITS:
        raise ValueError(f"number out of range {text!r}")
    exponent = value.as_tuple().exponent
    if type(exponent) is int and exponent < -MAX_FRACTION_DIGITS:
        # 1E-999999999 is "positive" but rounds to 0 in any arithmetic: an absurd exponent
        raise ValueError(f"more than {MAX_FRACTION_DIGITS} fractional digits in {text!r}")
    return value


def to_positive(text: Any) -> Decimal:
    """`to_decimal` that also refuses zero: prices and trade sizes."""
    value = _parse(text)
    if not value:
        raise ValueError(f"must be positive, got {text!r}")
    return value


class _PositiveCache(dict):
    """`PX[text]` → validated, strictly positive Decimal (a miss checks, a hit is a lookup;
    a miss costs what a `DEC` miss costs, plus one truth test)."""

    __slots__ = ()

    def __missing__(self, text: Any) -> Decimal:
        value = _parse(text)
        if not value:
            raise ValueError(f"must be positive, got {text!r}")
        if len(self) >= _MAX_CACHE:
            self.clear()
        self[text] = value
        return value


DEC = _DecimalCache()
PX = _PositiveCache()


def loads(venue: str, raw: str | bytes | bytearray | memoryview) -> Any:
    """Decode one JSON message (orjson, strings stay strings); ParseError on invalid input."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ParseError(venue, "message", f"invalid JSON: {exc}", _sample(raw)) from None


def loads_decimal(venue: str, raw: str | bytes | bytearray | memoryview) -> Any:
    """Decode JSON keeping every non-integer number as an exact Decimal of its text (Kraken)."""
    try:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw = bytes(raw).decode("utf-8")
        # NaN / Infinity tokens become Decimal('NaN') / Decimal('Infinity'), so the field check
        # that refuses them can name the field (a decoder error could not)
        return json.loads(raw, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ParseError(venue, "message", f"invalid JSON: {exc}", _sample(raw)) from None


def _sample(raw: Any) -> Any:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[:200])
    elif isinstance(raw, str):
        raw = raw[:200]
    return raw


def dispatch_checked(venue: str, dispatch: Callable[..., T], msg: Any, *args: Any) -> T:
    """Run a parser's `dispatch(msg, *args)`; any shape exception (a missing key, a wrong type)
    becomes one `ParseError` naming the venue and, where it can, the field. Every venue parser
    goes through here, so bad input raises `ParseError` and nothing else."""
    try:
        return dispatch(msg, *args)
    except ParseError:
        raise
    except SHAPE_ERRORS as exc:
        raise shape_error(venue, exc, msg) from None


def shape_error(venue: str, exc: BaseException, msg: Any, field: str = "") -> ParseError:
    """Turn a fast-path exception into a ParseError naming the field where it can be known."""
    if isinstance(exc, KeyError) and not field:
        field = str(exc.args[0]) if exc.args else "message"
        reason = "missing field"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return ParseError(venue, field or "message", reason, _sample(_dump(msg)))


def _dump(msg: Any) -> str:
    try:
        return orjson.dumps(msg, default=str).decode()[:200]
    except (TypeError, orjson.JSONEncodeError):
        return repr(msg)[:200]


def decimal_field(data: dict[str, Any], key: str, venue: str, positive: bool = False) -> Decimal:
    """`data[key]` as a validated Decimal (> 0 when `positive`: prices, trade sizes; else
    >= 0); ParseError naming `key` otherwise."""
    value = data[key]
    try:
        return PX[value] if positive else DEC[value]
    except SHAPE_ERRORS as exc:
        kind = "positive decimal text" if positive else "decimal text"
        raise ParseError(venue, key, f"expected {kind}: {exc}", value) from None


def signed_decimal_field(data: dict[str, Any], key: str, venue: str) -> Decimal:
    """`data[key]` as a Decimal that may be negative (a funding rate): plain decimal text with
    an optional leading `-`, or an integer; ParseError naming `key` otherwise."""
    value = data[key]
    text = value
    negative = type(value) is str and value.startswith("-")
    if negative:
        text = value[1:]
    try:
        magnitude = DEC[text]
    except SHAPE_ERRORS as exc:
        raise ParseError(venue, key, f"expected signed decimal text: {exc}", value) from None
    return -magnitude if negative else magnitude


def price_field(data: dict[str, Any], key: str, venue: str) -> Decimal:
    """A price or a trade size: positive, finite, plain decimal text; ParseError naming `key`."""
    return decimal_field(data, key, venue, positive=True)


def levels_field(data: dict[str, Any], key: str, venue: str) -> tuple[tuple[Decimal, Decimal], ...]:
    """`data[key]`, a list of [price, size] text pairs, as Decimal pairs (prices > 0, sizes
    >= 0: a zero size removes a level); ParseError naming `key` otherwise."""
    rows = data[key]
    if type(rows) is not list:
        raise ParseError(venue, key, "expected a list of [price, size]", rows)
    px, dec = PX, DEC
    try:
        return tuple([(px[p], dec[q]) for p, q in rows])
    except SHAPE_ERRORS as exc:
        raise ParseError(
            venue, key, f"expected [positive price, size] decimal text: {exc}", rows
        ) from None


def level_object(level: Any, price_key: str, size_key: str, venue: str) -> tuple[Decimal, Decimal]:
    """One `{price_key: text, size_key: text}` level (dYdX, Hyperliquid, Coinbase, Kraken):
    (price > 0, size >= 0); ParseError naming the field otherwise."""
    if type(level) is not dict:
        raise ParseError(venue, price_key, "expected a level object", level)
    return price_field(level, price_key, venue), decimal_field(level, size_key, venue)


def ms_to_ns(value: Any, venue: str, field: str) -> int:
    """Milliseconds (int) since the epoch → ns."""
    if type(value) is not int or value < 0:
        raise ParseError(venue, field, "expected non-negative integer milliseconds", value)
    return value * 1_000_000


def iso_to_ns(value: Any, venue: str, field: str) -> int:
    """RFC 3339 timestamp with up to 9 fractional digits → UTC ns (exact, no float)."""
    from datetime import datetime

    if type(value) is not str or len(value) < 20:
        raise ParseError(venue, field, "expected RFC 3339 timestamp", value)
    text = value
    frac_ns = 0
    # Split the fraction off by hand: datetime only keeps microseconds.
    try:
        if "." in text:
            head, rest = text.split(".", 1)
            digits = ""
            i = 0
            while i < len(rest) and rest[i].isdigit():
                digits += rest[i]
                i += 1
            if not digits or len(digits) > 9:
                raise ValueError("bad fraction")
            frac_ns = int(digits.ljust(9, "0"))
            text = head + rest[i:]
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            raise ValueError("timestamp without timezone")
        dt = dt.astimezone(UTC)
    except ValueError as exc:
        raise ParseError(venue, field, f"bad timestamp: {exc}", value) from None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = dt - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + frac_ns


def require(d: Any, key: str, kind: type | tuple[type, ...], venue: str) -> Any:
    """d[key] checked to be of `kind`; ParseError naming the key otherwise."""
    if not isinstance(d, dict):
        raise ParseError(venue, key, "parent is not an object", _dump(d))
    if key not in d:
        raise ParseError(venue, key, "missing field", _dump(d))
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ParseError(venue, key, f"expected {_kind_name(kind)}", value)
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def guarded(venue: str) -> Callable:
    """Decorator: any shape exception in the wrapped parser becomes a ParseError."""

    def wrap(fn: Callable) -> Callable:
        def inner(raw: Any, recv_ns: int | None = None, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(raw, recv_ns, *args, **kwargs)
            except ParseError:
                raise
            except (*SHAPE_ERRORS, RecursionError) as exc:
                raise shape_error(venue, exc, raw if isinstance(raw, str) else repr(raw)) from None

        inner.__doc__ = fn.__doc__
        inner.__name__ = fn.__name__
        return inner

    return wrap


__all__ = [
    "DEC",
    "MAX_FRACTION_DIGITS",
    "MAX_INTEGER_DIGITS",
    "PX",
    "SHAPE_ERRORS",
    "decimal_field",
    "dispatch_checked",
    "guarded",
    "iso_to_ns",
    "level_object",
    "levels_field",
    "loads",
    "loads_decimal",
    "ms_to_ns",
    "price_field",
    "require",
    "shape_error",
    "signed_decimal_field",
    "to_decimal",
    "to_positive",
]
