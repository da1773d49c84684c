"""Decimal conversion at the one boundary where money enters the domain.

Floats are converted through their shortest repr (`0.1` becomes `Decimal("0.1")`, not the
binary expansion); strings are parsed as written. Non-finite values, booleans and anything else
are rejected with a `ValidationError` naming the field.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from nzeza.errors import ValidationError

ZERO = Decimal(0)
NS_PER_DAY = 86_400 * 1_000_000_000  # a UTC day in nanoseconds (timestamps are UTC ns)
ONE = Decimal(1)


def to_decimal(value: Any, field: str = "value") -> Decimal:
    """Convert `value` to a finite Decimal, or raise ValidationError(field, value, reason)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise ValidationError(field, value, "must be a number")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(field, value, "is not a decimal number") from None
    else:
        raise ValidationError(field, value, f"must be a number, not {type(value).__name__}")
    if not result.is_finite():
        raise ValidationError(field, value, "must be finite")
    return result


def positive(value: Any, field: str) -> Decimal:
    d = to_decimal(value, field)
    if d <= 0:
        raise ValidationError(field, value, "must be positive")
    return d


def non_negative(value: Any, field: str) -> Decimal:
    d = to_decimal(value, field)
    if d < 0:
        raise ValidationError(field, value, "must not be negative")
    return d


__all__ = [
    "NS_PER_DAY",
    "ONE",
    "ZERO",
    "non_negative",
    "positive",
    "to_decimal",
]
